"""The arithmetic of the protocol, as pure functions on plain numbers.

Budget transfer (docs/protocol.md, "Hardware transfer of the wall-clock budget")::

    time_per_step     = runtime_sec / steps                      (local and reference)
    factor            = local_time_per_step / reference_time_per_step
    max_runtime_sec   = floor(reference_runtime_sec * factor)

VeLO's step prompt ("Estimating VeLO's step prompt")::

    estimate_i        = floor(max_runtime_sec / probe_time_per_step_i)
    prompt            = floor(mean_i estimate_i)       (or the steps a full trial completed)
    short_prompt      = floor(0.75 * prompt)

Every rounding rule is applied to the exact value: numbers are taken as the
decimals they print as (``0.1`` is one tenth) and combined with rational
arithmetic, so ``floor`` never falls one short through floating-point error
(``reference_runtime * factor`` is mathematically ``local_time_per_step *
reference_steps``, and a factor of exactly 1 gives back the reference runtime).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Sequence

from bench_core.file_formats import Measurement

#: velo_short is prompted with this fraction of velo's prompt.
SHORT_PROMPT_FRACTION = Fraction(3, 4)


def exact(x: int | float | Fraction) -> Fraction:
  """``x`` as an exact rational: an int as is, a float as the shortest decimal that prints it."""
  if isinstance(x, (int, Fraction)):
    return Fraction(x)
  return Fraction(repr(float(x)))


def time_per_step(m: Measurement) -> float:
  """``runtime_sec / steps``."""
  return float(exact(m.runtime_sec) / m.steps)


def transfer_factor(local: Measurement, reference: Measurement) -> float:
  """``local_time_per_step / reference_time_per_step``."""
  return float(_exact_factor(local, reference))


def _exact_factor(local: Measurement, reference: Measurement) -> Fraction:
  return (exact(local.runtime_sec) / local.steps) / (exact(reference.runtime_sec) / reference.steps)


def transferred_max_runtime(local: Measurement, reference: Measurement) -> int:
  """``floor(reference_runtime_sec * factor)``: the reference budget in local seconds."""
  return math.floor(exact(reference.runtime_sec) * _exact_factor(local, reference))


def estimated_total_steps(max_runtime_sec: float, probe: Measurement) -> int:
  """``floor(max_runtime_sec / (probe.runtime_sec / probe.steps))``: steps fitting the budget."""
  return math.floor(exact(max_runtime_sec) * probe.steps / exact(probe.runtime_sec))


def mean_prompt(estimates: Sequence[int]) -> int:
  """``floor(mean(estimates))``: VeLO's prompt from several step estimates."""
  if not estimates:
    raise ValueError('mean_prompt needs at least one estimate')
  return math.floor(Fraction(sum(int(e) for e in estimates), len(estimates)))


def short_prompt(prompt: int, fraction: Fraction = SHORT_PROMPT_FRACTION) -> int:
  """``floor(fraction * prompt)``, by default ``floor(0.75 * prompt)`` (velo_short's prompt)."""
  return math.floor(exact(fraction) * int(prompt))
