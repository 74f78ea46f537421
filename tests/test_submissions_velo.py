"""The three VeLO submissions: prompts, the prompt-free fraction, checkpoint handling, runs."""

import ast
import collections
import importlib
import json
import math
import types

import jax
import numpy as np
import pytest
from conftest import GOLDEN_THETA, REPO

import velo
from bench_core.errors import BenchError
from local_runner.runner import RunConfig, run
from local_runner.workloads import get_workload
from study.locate import search_space_file
from submissions import _common, _velo

needs_theta = pytest.mark.skipif(
  not GOLDEN_THETA.is_file(), reason=f'golden VeLO theta not found at {GOLDEN_THETA}'
)


def hp(**kw):
  return collections.namedtuple('Hyperparameters', sorted(kw))(**kw)


WORKLOAD = types.SimpleNamespace(step_hint=1000, max_allowed_runtime_sec=200)


def test_prompt_is_total_steps():
  assert _velo.prompt(hp(total_steps=800), WORKLOAD, 1.0) == 800
  assert _velo.prompt(hp(total_steps=186_667), WORKLOAD, 1.0) == 186_667
  # velo_short's search space already holds 75 %: the submission does not scale it again.
  assert _velo.prompt(hp(total_steps=600), WORKLOAD, 0.75) == 600


def test_self_tuning_prompt_is_a_fraction_of_step_hint():
  assert _velo.prompt(hp(total_steps=None), WORKLOAD, 1.0) == 1000
  assert _velo.prompt(hp(total_steps=None), WORKLOAD, 0.75) == 750


@pytest.mark.parametrize('bad', [0, -5, 12.5])
def test_bad_total_steps_is_an_error(bad):
  with pytest.raises(_common.HyperparameterError, match='total_steps must be a positive integer'):
    _velo.prompt(hp(total_steps=bad), WORKLOAD, 1.0)


def test_horizon_follows_the_reference_prefab():
  """Up to 200,000 the prompt reaches VeLO unchanged (the study's ImageNet prompt 158,845);
  above it, accumulation over ceil(prompt / 200,000) steps and horizon prompt // that."""
  assert _velo.MAX_TRAINING_STEPS == 200_000
  assert _velo.horizon(158_845, 200_000) == (158_845, 1)
  assert _velo.horizon(200_000, 200_000) == (200_000, 1)
  assert _velo.horizon(200_001, 200_000) == (100_000, 2)
  assert _velo.horizon(450_000, 200_000) == (150_000, 3)
  with pytest.raises(_common.HyperparameterError, match='max_training_steps'):
    _velo.horizon(1000, 0)


@needs_theta
def test_above_the_limit_velo_updates_once_per_k_steps_with_mean_gradient_and_loss(monkeypatch):
  import jax
  import jax.numpy as jnp
  import numpy as np

  import velo

  monkeypatch.setenv('VELO_CHECKPOINT', str(GOLDEN_THETA))
  params = {'w': jnp.linspace(-1.0, 1.0, 12).reshape(3, 4), 'b': jnp.linspace(0.0, 0.5, 4)}
  grads = [
    jax.tree_util.tree_map(lambda p, i=i: (i + 1) * 0.1 * p + 0.01, params) for i in range(3)
  ]
  losses = [2.0, 1.0, 0.6]
  tx = _velo.make_velo(30, max_training_steps=10)  # k = 3, VeLO told 10 steps
  state = tx.init(params)
  step = jax.jit(lambda g, s, p, loss: tx.update(g, s, p, loss=loss))
  for g, loss in zip(grads[:2], losses[:2]):
    updates, state = step(g, state, params, loss)
    assert all(not np.asarray(u).any() for u in jax.tree_util.tree_leaves(updates))
    assert int(state.inner.iteration) == 0
  updates, state = step(grads[2], state, params, losses[2])
  assert int(state.inner.iteration) == 1 and int(state.inner.num_steps) == 10
  assert int(state.calls) == 0 and not np.asarray(state.grad_sum['w']).any()

  direct = velo.velo(velo.load_theta(GOLDEN_THETA), 10)
  mean_g = jax.tree_util.tree_map(lambda *g: sum(g) / 3, *grads)
  expected, _ = jax.jit(lambda g, s, p, loss: direct.update(g, s, p, loss=loss))(
    mean_g, direct.init(params), params, sum(losses) / 3
  )
  for k in params:
    np.testing.assert_allclose(
      updates[k], expected[k], rtol=1e-5, atol=1e-6 * np.abs(np.asarray(expected[k])).max()
    )
    assert np.abs(np.asarray(updates[k])).max() > 0


@needs_theta
def test_up_to_the_limit_velo_is_prompted_directly(monkeypatch):
  import jax.numpy as jnp

  monkeypatch.setenv('VELO_CHECKPOINT', str(GOLDEN_THETA))
  state = _velo.make_velo(158_845).init({'w': jnp.ones((2, 3))})
  assert int(state.num_steps) == 158_845


def test_fraction_of_budget_time_control():
  state = {'accumulated_submission_time': 50.0}
  assert _velo.fraction_of_budget(hp(step_budget=0), WORKLOAD, 7, state) == pytest.approx(0.25)


def test_fraction_of_budget_step_control():
  state = {'accumulated_submission_time': 50.0}
  assert _velo.fraction_of_budget(hp(step_budget=400), WORKLOAD, 100, state) == 0.25


def test_no_submission_reads_the_runner_flags():
  """A submission learns its budget from what AlgoPerf hands it, not from the runner's absl
  flags: nothing under submissions/ imports absl."""
  for path in sorted((REPO / 'submissions').rglob('*.py')):
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
      names = (
        [a.name for a in node.names]
        if isinstance(node, ast.Import)
        else [node.module or '']
        if isinstance(node, ast.ImportFrom)
        else []
      )
      assert not any(n.split('.')[0] == 'absl' for n in names), f'{path}:{node.lineno}'


@pytest.mark.parametrize('bad', [-1, 1.5, True, None, '100'])
def test_a_bad_step_budget_is_refused_naming_the_field(bad):
  with pytest.raises(_common.HyperparameterError, match='step_budget'):
    _velo.step_budget(hp(step_budget=bad))


def test_velo_time_passes_the_fraction_to_velo():
  module = importlib.import_module('submissions.velo_time.submission')
  args = module.extra_args(WORKLOAD, hp(step_budget=0), 3, {'accumulated_submission_time': 20.0})
  assert args == {'fraction_trained': pytest.approx(0.1)}


def test_missing_checkpoint_fails_at_once_saying_how_to_get_it(tmp_path, monkeypatch):
  monkeypatch.setenv('VELO_CHECKPOINT', str(tmp_path / 'absent.msgpack'))
  with pytest.raises(BenchError, match='make velo-weights'):
    run(
      RunConfig(
        workload='imagenet_resnet_mini',
        submission_path=str(REPO / 'submissions/velo/submission.py'),
        tuning_search_space=str(search_space_file('velo', 'imagenet_resnet_mini', 'time')),
        experiment_dir=str(tmp_path / 'exp'),
      )
    )


@needs_theta
@pytest.mark.parametrize('name', ['velo', 'velo_short', 'velo_time'])
def test_velo_submissions_run_through_the_local_runner(tmp_path, monkeypatch, name):
  monkeypatch.setenv('VELO_CHECKPOINT', str(GOLDEN_THETA))
  space = search_space_file(name, 'imagenet_resnet_mini', 'time')
  [summary] = run(
    RunConfig(
      workload='imagenet_resnet_mini',
      submission_path=str(REPO / f'submissions/{name}/submission.py'),
      tuning_search_space=str(space),
      experiment_dir=str(tmp_path),
      rng_seed=2,
      max_global_steps=4,
      max_allowed_runtime_sec=10**6,
    ),
    progress=lambda m: None,
  )
  assert summary['global_step'] == 4 and not summary['diverged']


WORKLOADS = (
  'criteo1tb',
  'fastmri',
  'imagenet_resnet',
  'ogbg',
  'mnist',
  'criteo1tb_mini',
  'fastmri_mini',
  'imagenet_resnet_mini',
  'ogbg_mini',
)


@pytest.mark.parametrize('condition', ['time', 'step'])
@pytest.mark.parametrize('workload', WORKLOADS)
def test_velo_prompts_exist_and_velo_short_is_75_percent(workload, condition):
  load = lambda name: json.loads(
    search_space_file(name, workload, condition, allow_placeholder=True).read_text()
  )
  full = load('velo')['total_steps']['feasible_points'][0]
  short = load('velo_short')['total_steps']['feasible_points'][0]
  assert isinstance(full, int) and full > 0 and short == math.floor(0.75 * full)
  if condition == 'step':
    steps = {
      'criteo1tb': 7000,
      'fastmri': 36000,
      'imagenet_resnet': 150000,
      'ogbg': 80000,
      'mnist': 7813,
    }
    if workload.endswith('_mini'):
      from local_runner.workloads import get_workload

      assert full == get_workload(workload).step_hint
    else:
      assert full == steps[workload]


@needs_theta
def test_velo_update_in_its_own_jit_under_its_options_gives_the_one_jit_result(
  tiny_workload, monkeypatch
):
  """The VeLO submissions compile the update apart from the gradient, under
  ``velo.compiler_options()``; three train steps land where one default-compiled jit
  lands, to float32 rounding."""
  monkeypatch.setenv('VELO_CHECKPOINT', str(GOLDEN_THETA))
  workload = get_workload(tiny_workload)
  tx = _velo.make_velo(100)
  hyper = hp(total_steps=100, max_training_steps=_velo.MAX_TRAINING_STEPS)
  queue = workload._build_input_queue(jax.random.PRNGKey(1), 'train', global_batch_size=32)
  batches = [next(queue) for _ in range(3)]
  initial = jax.tree_util.tree_leaves(workload.init_model_fn(jax.random.PRNGKey(0))[0])
  results = []
  for options in ({}, velo.compiler_options() or {'xla_cpu_prefer_vector_width': 512}):
    params, model_state = workload.init_model_fn(jax.random.PRNGKey(0))
    opt_state = tx.init(params)
    step = _common._make_train_step(workload, tx, hyper, options)
    for i, batch in enumerate(batches):
      params, model_state, opt_state, _ = step(
        params, model_state, opt_state, batch, jax.random.PRNGKey(i), {}
      )
    results.append(jax.tree_util.tree_leaves(params))
  moved = [np.abs(np.asarray(a) - np.asarray(b)).max() for a, b in zip(results[0], initial)]
  assert max(moved) > 1e-5  # the steps moved the parameters
  for one_jit, split in zip(*results):
    np.testing.assert_allclose(np.asarray(split), np.asarray(one_jit), rtol=0, atol=1e-8)


@needs_theta
@pytest.mark.parametrize('name', ['velo', 'velo_short', 'velo_time'])
def test_scratch_in_state_hyperparameter_chooses_the_memory_layout(
  monkeypatch, tiny_workload, name
):
  """``scratch_in_state`` reaches VeLO: false (the default) keeps the state at 4 values per
  parameter, true adds the packed scratch buffers; anything but a boolean is refused."""
  monkeypatch.setenv('VELO_CHECKPOINT', str(GOLDEN_THETA))
  module = importlib.import_module(f'submissions.{name}.submission')
  workload = get_workload(tiny_workload)
  params, model_state = workload.init_model_fn(jax.random.PRNGKey(0))
  space = {'total_steps': 50} if name != 'velo_time' else {}

  def matrices(**extra):
    opt_state, _ = module.init_optimizer_state(
      workload, params, model_state, hp(**space, **extra), jax.random.PRNGKey(1)
    )
    (state,) = [
      s for s in jax.tree_util.tree_leaves(opt_state, is_leaf=_is_velo_state) if _is_velo_state(s)
    ]
    return state.matrices

  assert matrices().p_tiles is None
  assert matrices(scratch_in_state=False).p_tiles is None
  assert matrices(scratch_in_state=True).p_tiles is not None
  with pytest.raises(_common.HyperparameterError, match='scratch_in_state must be true or false'):
    matrices(scratch_in_state='yes')


def _is_velo_state(x):
  return isinstance(x, velo.optimizer.VeloState)


@pytest.mark.parametrize('workload', ['criteo1tb_mini', 'fastmri_mini', 'imagenet_resnet_mini'])
def test_the_embedded_workloads_run_velo_with_its_scratch_in_state(workload):
  """The embedded CPU workloads' VeLO search spaces choose the faster layout on a CPU host
  (their time-control prompts were measured with it)."""
  for condition in ('time', 'step'):
    for name in ('velo', 'velo_short'):
      space = json.loads(search_space_file(name, workload, condition).read_text())
      assert space['scratch_in_state'] == {'feasible_points': [True]}, (name, condition)
