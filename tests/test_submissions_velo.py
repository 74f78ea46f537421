"""The three VeLO submissions: prompts, the prompt-free fraction, checkpoint handling, runs."""

import collections
import importlib
import json
import math
import types

import pytest
from conftest import GOLDEN_THETA, REPO

from bench_core.errors import BenchError
from local_runner.runner import RunConfig, run
from study.locate import search_space_file
from submissions import _common, _velo

needs_theta = pytest.mark.skipif(not GOLDEN_THETA.is_file(),
                                 reason=f'golden VeLO theta not found at {GOLDEN_THETA}')


def hp(**kw):
  return collections.namedtuple('Hyperparameters', sorted(kw))(**kw)


WORKLOAD = types.SimpleNamespace(step_hint=1000, max_allowed_runtime_sec=200)


def test_prompt_uses_total_steps_and_the_cap():
  assert _velo.prompt(hp(total_steps=800, max_prompt=150_000), WORKLOAD, 1.0) == 800
  assert _velo.prompt(hp(total_steps=186_667, max_prompt=150_000), WORKLOAD, 1.0) == 150_000
  # velo_short's search space already holds 75 %: the submission does not scale it again.
  assert _velo.prompt(hp(total_steps=600, max_prompt=150_000), WORKLOAD, 0.75) == 600


def test_self_tuning_prompt_is_a_fraction_of_step_hint():
  assert _velo.prompt(hp(total_steps=None, max_prompt=150_000), WORKLOAD, 1.0) == 1000
  assert _velo.prompt(hp(total_steps=None, max_prompt=150_000), WORKLOAD, 0.75) == 750


@pytest.mark.parametrize('bad', [0, -5, 12.5])
def test_bad_total_steps_is_an_error(bad):
  with pytest.raises(_common.HyperparameterError, match='total_steps must be a positive integer'):
    _velo.prompt(hp(total_steps=bad, max_prompt=150_000), WORKLOAD, 1.0)


def test_fraction_of_budget_time_control(monkeypatch):
  monkeypatch.setattr(_velo, 'step_budget_from_flags', lambda: None)
  state = {'accumulated_submission_time': 50.0}
  assert _velo.fraction_of_budget(hp(step_budget=0), WORKLOAD, 7, state) == pytest.approx(0.25)


def test_fraction_of_budget_step_control(monkeypatch):
  monkeypatch.setattr(_velo, 'step_budget_from_flags', lambda: None)
  state = {'accumulated_submission_time': 50.0}
  assert _velo.fraction_of_budget(hp(step_budget=400), WORKLOAD, 100, state) == 0.25
  # Without the hyperparameter, the runner's --max_global_steps gives the step budget.
  monkeypatch.setattr(_velo, 'step_budget_from_flags', lambda: 200)
  assert _velo.fraction_of_budget(hp(step_budget=0), WORKLOAD, 100, state) == 0.5


def test_velo_time_passes_the_fraction_to_velo(monkeypatch):
  monkeypatch.setattr(_velo, 'step_budget_from_flags', lambda: None)
  module = importlib.import_module('submissions.velo_time.submission')
  args = module.extra_args(WORKLOAD, hp(step_budget=0), 3, {'accumulated_submission_time': 20.0})
  assert args == {'fraction_trained': pytest.approx(0.1)}


def test_missing_checkpoint_fails_at_once_saying_how_to_get_it(tmp_path, monkeypatch):
  monkeypatch.setenv('VELO_CHECKPOINT', str(tmp_path / 'absent.msgpack'))
  with pytest.raises(BenchError, match='make velo-weights'):
    run(RunConfig(workload='imagenet_resnet_mini',
                  submission_path=str(REPO / 'submissions/velo/submission.py'),
                  tuning_search_space=str(search_space_file('velo', 'imagenet_resnet_mini', 'time')),
                  experiment_dir=str(tmp_path / 'exp')))


@needs_theta
@pytest.mark.parametrize('name', ['velo', 'velo_short', 'velo_time'])
def test_velo_submissions_run_through_the_local_runner(tmp_path, monkeypatch, name):
  monkeypatch.setenv('VELO_CHECKPOINT', str(GOLDEN_THETA))
  space = search_space_file(name, 'imagenet_resnet_mini', 'time')
  [summary] = run(RunConfig(
    workload='imagenet_resnet_mini', submission_path=str(REPO / f'submissions/{name}/submission.py'),
    tuning_search_space=str(space), experiment_dir=str(tmp_path), rng_seed=2, max_global_steps=4,
    max_allowed_runtime_sec=10**6), progress=lambda m: None)
  assert summary['global_step'] == 4 and not summary['diverged']


WORKLOADS = ('criteo1tb', 'fastmri', 'imagenet_resnet', 'ogbg', 'criteo1tb_mini', 'fastmri_mini',
             'imagenet_resnet_mini', 'ogbg_mini')


@pytest.mark.parametrize('condition', ['time', 'step'])
@pytest.mark.parametrize('workload', WORKLOADS)
def test_velo_prompts_exist_and_velo_short_is_75_percent(workload, condition):
  load = lambda name: json.loads(
    search_space_file(name, workload, condition, allow_placeholder=True).read_text())
  full = load('velo')['total_steps']['feasible_points'][0]
  short = load('velo_short')['total_steps']['feasible_points'][0]
  assert isinstance(full, int) and full > 0 and short == math.floor(0.75 * full)
  if condition == 'step':
    steps = {'criteo1tb': 7000, 'fastmri': 36000, 'imagenet_resnet': 150000, 'ogbg': 80000}
    if workload.endswith('_mini'):
      from local_runner.workloads import get_workload

      assert full == get_workload(workload).step_hint
    else:
      assert full == steps[workload]
