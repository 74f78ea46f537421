"""The protocol's arithmetic on hand-computed cases (expected values worked out in the comments)."""

import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hardware_transfer.arithmetic import (
  Measurement,
  estimated_total_steps,
  mean_prompt,
  short_prompt,
  time_per_step,
  transfer_factor,
  transferred_max_runtime,
)

OGBG_REFERENCE = Measurement(steps=80_000, runtime_sec=18_477)  # 0.2309625 s/step
CRITEO_REFERENCE = Measurement(steps=10_667, runtime_sec=7_703)


def test_time_per_step_of_the_reference_table():
  assert time_per_step(OGBG_REFERENCE) == pytest.approx(0.2309625, abs=1e-12)
  assert time_per_step(CRITEO_REFERENCE) == pytest.approx(0.7221336833, abs=1e-10)


def test_transfer_of_an_exact_case():
  local = Measurement(steps=100, runtime_sec=11.5)  # 0.115 s/step
  assert time_per_step(local) == pytest.approx(0.115)
  # factor = 0.115 / 0.2309625 = 0.4979163284...
  assert transfer_factor(local, OGBG_REFERENCE) == pytest.approx(0.49791632840829136, rel=1e-12)
  # 18477 * 0.115 / 0.2309625 = 0.115 * 80000 = 9200 exactly
  assert transferred_max_runtime(local, OGBG_REFERENCE) == 9200


def test_transfer_rounds_down_not_to_nearest():
  local = Measurement(steps=3, runtime_sec=2)  # 0.666.. s/step
  reference = Measurement(steps=10, runtime_sec=5)  # 0.5 s/step
  # factor 4/3; 5 * 4/3 = 6.67 -> 6 (nearest would be 7)
  assert transferred_max_runtime(local, reference) == 6
  # criteo: 1 s / 3 steps * 10667 = 3555.67 -> 3555
  assert transferred_max_runtime(Measurement(3, 1.0), CRITEO_REFERENCE) == 3555


def test_transfer_is_not_one_short_by_floating_point():
  # 2.3 s/step * 80000 = 184000 exactly; the float chain 18477 * (2.3 / 0.2309625) gives
  # 183999.99999999997, which a plain floor would turn into 183999.
  assert transferred_max_runtime(Measurement(1, 2.3), OGBG_REFERENCE) == 184_000
  assert transferred_max_runtime(Measurement(10, 23.0), OGBG_REFERENCE) == 184_000


def test_identical_hardware_keeps_the_reference_budget():
  assert transfer_factor(CRITEO_REFERENCE, CRITEO_REFERENCE) == 1.0
  assert transferred_max_runtime(CRITEO_REFERENCE, CRITEO_REFERENCE) == 7703
  # twice as slow per step (on fewer steps) doubles the budget: 2 * 7703
  assert transferred_max_runtime(Measurement(10_667, 2 * 7703), CRITEO_REFERENCE) == 15_406


@given(steps=st.integers(1, 10**6), runtime=st.integers(1, 10**6), scale=st.integers(1, 50))
def test_same_time_per_step_gives_the_reference_runtime(steps, runtime, scale):
  reference = Measurement(steps * scale, runtime * scale)
  assert transferred_max_runtime(Measurement(steps, runtime), reference) == runtime * scale


def test_estimated_total_steps():
  # 9200 s / (12 s / 100 steps) = 76666.67 -> 76666
  assert estimated_total_steps(9200, Measurement(100, 12.0)) == 76_666
  # 9200 / 0.115 = 80000 exactly (in floats 79999.99... is possible: must not lose a step)
  assert estimated_total_steps(9200, Measurement(200, 23.0)) == 80_000
  # 10 s at 3 steps per 0.7 s: 10 * 3 / 0.7 = 42.86 -> 42
  assert estimated_total_steps(10, Measurement(3, 0.7)) == 42


def test_mean_prompt_floors_the_mean():
  assert mean_prompt([76_666, 80_000]) == 78_333  # 78333.0
  assert mean_prompt([10, 11]) == 10  # 10.5 -> 10
  assert mean_prompt([7, 7, 8]) == 7  # 7.33 -> 7
  assert mean_prompt([5]) == 5
  with pytest.raises(ValueError):
    mean_prompt([])


def test_short_prompt_is_floor_of_three_quarters():
  assert short_prompt(78_333) == 58_749  # 58749.75 -> 58749
  assert short_prompt(7000) == 5250
  assert short_prompt(10) == 7  # 7.5 -> 7
  assert short_prompt(10, Fraction(1, 2)) == 5
  assert short_prompt(100, 0.29) == 29  # in floats 0.29 * 100 = 28.999999999999996


@pytest.mark.parametrize(
  'steps, runtime', [(0, 1.0), (-1, 1.0), (1, 0.0), (1, -2.0), (1, math.inf), (1, math.nan)]
)
def test_measurement_rejects_non_positive_values(steps, runtime):
  with pytest.raises(ValueError):
    Measurement(steps, runtime)
