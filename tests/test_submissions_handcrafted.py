"""The five hand-crafted submissions against an independent numpy statement of docs/protocol.md,
their hyperparameter checks, and step-control runs to the target."""

import importlib
import json
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import REPO

from bench_core import catalogue
from bench_core.errors import BenchError
from local_runner.runner import RunConfig, run
from local_runner.search_space import hyperparameter_points, load_search_space
from submissions import _common

NAMES = catalogue.HAND_CRAFTED_ALGORITHMS


def submission(name):
  return importlib.import_module(f'submissions.{name}.submission')


def defaults_from_json(name):
  [point] = hyperparameter_points(load_search_space(REPO / f'tuning_search_spaces/{name}.json'), 1)
  return point


def numpy_lr(step, base, step_hint, min_lr=1e-4):
  """docs/protocol.md: S = 0.75 step_hint; 5 % of S linear warmup from 0; cosine to min_lr;
  then min_lr."""
  s = int(0.75 * step_hint)
  w = int(0.05 * s)
  if step < w:
    return base * step / w
  if step < s:
    frac = (step - w) / (s - w)
    return min_lr + (base - min_lr) * 0.5 * (1 + np.cos(np.pi * frac))
  return min_lr


def numpy_trajectory(name, p, grads, step_hint):
  """Parameters after each update, from the formulas in docs/protocol.md (float64)."""
  p = p.astype(np.float64)
  m = np.zeros_like(p)
  v = np.zeros_like(p)
  out = []
  for t, g in enumerate(grads, start=1):
    g = g.astype(np.float64)
    if name in ('heavy_ball', 'nesterov'):
      m = g + 0.9 * m
      p = p - 0.05 * (g + 0.9 * m if name == 'nesterov' else m)
    else:
      base = 5e-3 if name == 'adam' else 1e-2
      lr = numpy_lr(t - 1, base, step_hint)
      m = 0.9 * m + 0.1 * g
      v = 0.999 * v + 0.001 * g * g
      if name == 'adam':
        direction = (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
      else:
        m_hat = (0.9 * m + 0.1 * g) / (1 - 0.9**t)
        direction = m_hat / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
      if name == 'nadamw':
        direction = direction + 4e-3 * p
      p = p - lr * direction
    out.append(p.copy())
  return out


@pytest.mark.parametrize('name', NAMES)
def test_search_space_holds_exactly_the_protocol_defaults(name):
  assert defaults_from_json(name)._asdict() == submission(name).DEFAULTS
  expected_lr = {'adam': 5e-3, 'nadam': 1e-2, 'nadamw': 1e-2, 'heavy_ball': 5e-2, 'nesterov': 5e-2}
  assert submission(name).DEFAULTS['learning_rate'] == expected_lr[name]


@pytest.mark.parametrize('name', NAMES)
def test_parameter_trajectory_matches_numpy_reference(name):
  step_hint = 100  # S = 75 steps, warmup 3 steps: 90 updates cross warmup, decay and the floor
  rng = np.random.default_rng(0)
  p0 = rng.normal(size=(6, 5)).astype(np.float32)
  grads = [rng.normal(size=(6, 5)).astype(np.float32) for _ in range(90)]
  workload = types.SimpleNamespace(step_hint=step_hint)
  tx = submission(name).make_optimizer(defaults_from_json(name), workload)
  params, state = jnp.asarray(p0), tx.init(jnp.asarray(p0))
  update = jax.jit(tx.update)
  expected = numpy_trajectory(name, p0, grads, step_hint)
  for t, g in enumerate(grads):
    updates, state = update(jnp.asarray(g), state, params)
    params = params + updates
    np.testing.assert_allclose(
      np.asarray(params), expected[t], rtol=2e-5, atol=2e-6, err_msg=f'{name} after update {t + 1}'
    )


def test_schedule_at_warmup_mid_decay_and_after():
  lr = _common.warmup_cosine_schedule(
    1000, 0.01, warmup_fraction=0.05, schedule_fraction=0.75, min_learning_rate=1e-4
  )
  # S = 750, W = 37: warmup linear from 0; half-way through the cosine the LR is the midpoint.
  assert float(lr(0)) == 0.0
  assert float(lr(10)) == pytest.approx(0.01 * 10 / 37, rel=1e-6)
  assert float(lr(37)) == pytest.approx(0.01, rel=1e-6)
  mid = 37 + (750 - 37) / 2
  assert float(lr(mid)) == pytest.approx((0.01 + 1e-4) / 2, rel=1e-5)
  assert float(lr(750)) == pytest.approx(1e-4, rel=1e-5)
  assert float(lr(5000)) == pytest.approx(1e-4, rel=1e-5)


def test_nadam_differs_from_optax_nadam():
  """AlgoPerf's NAdam bias correction is not optax's: the first step already differs."""
  import optax

  from submissions.optimizers import scale_by_nadam

  g = jnp.array([0.3, -1.0, 2.0])
  ours, _ = scale_by_nadam().update(g, scale_by_nadam().init(g))
  optax_nadam = optax.scale_by_adam(nesterov=True)
  theirs, _ = optax_nadam.update(g, optax_nadam.init(g))
  # Ours at t=1: m_hat = (0.9*0.1 g + 0.1 g)/0.1 = 1.9 g; v_hat = g^2.
  np.testing.assert_allclose(ours, 1.9 * jnp.sign(g), rtol=1e-5)
  assert not np.allclose(ours, theirs, rtol=1e-3)


@pytest.mark.parametrize('name', NAMES)
def test_bad_hyperparameters_are_named(name):
  hp = dict(submission(name).DEFAULTS)
  hp.pop('learning_rate')
  hp['lr'] = 0.1
  point = hyperparameter_points([hp], 1)[0]
  with pytest.raises(
    _common.HyperparameterError, match=r"missing \['learning_rate'\]; unknown \['lr'\]"
  ):
    submission(name).init_optimizer_state(types.SimpleNamespace(step_hint=10), {}, {}, point, None)


def test_self_tuning_uses_the_defaults():
  hp = _common.resolve_hyperparameters(None, submission('nadamw').DEFAULTS, 'nadamw')
  assert hp.weight_decay == 4e-3 and hp.learning_rate == 1e-2


def test_get_batch_size_per_workload_and_valueerror_for_unknown():
  get = submission('adam').get_batch_size
  assert [get(w) for w in ('criteo1tb', 'fastmri', 'imagenet_resnet', 'ogbg')] == [
    262_144,
    32,
    1024,
    512,
  ]
  assert get('criteo1tb_layernorm') == 262_144  # a variant: its base's
  assert get('imagenet_vit_glu') == 512  # unless AlgoPerf's target setting chose another
  with pytest.raises(ValueError):
    get('nosuch')  # the runner would retry with the base name, then fail


def test_update_compiles_once(tiny_workload):
  from local_runner.workloads import get_workload

  workload = get_workload(tiny_workload)
  traces = []
  model_fn = workload.model_fn

  def counting_model_fn(*args, **kwargs):
    traces.append(1)
    return model_fn(*args, **kwargs)

  workload.model_fn = counting_model_fn
  sub = submission('nadamw')
  params, model_state = workload.init_model_fn(jax.random.PRNGKey(0))
  opt = sub.init_optimizer_state(workload, params, model_state, defaults_from_json('nadamw'), None)
  queue = workload._build_input_queue(jax.random.PRNGKey(1), 'train', global_batch_size=32)
  for step in range(5):
    opt, params, model_state = sub.update_params(
      workload,
      params,
      workload.model_params_types,
      model_state,
      defaults_from_json('nadamw'),
      next(queue),
      workload.loss_type,
      opt,
      [],
      step,
      jax.random.PRNGKey(step),
    )
  assert len(traces) == 1


@pytest.mark.parametrize(
  'field, value, message',
  [
    ('min_learning_rate', 0.02, r'min_learning_rate \(0.02\) exceeds learning_rate \(0.01\)'),
    ('beta1', 1.0, r"'beta1' must be in \[0, 1\), got 1.0"),
    ('beta2', -0.1, r"'beta2' must be in \[0, 1\), got -0.1"),
    ('learning_rate', -1e-3, r"'learning_rate' must be in \[0, inf\), got -0.001"),
    ('weight_decay', -4e-3, r"'weight_decay' must be in \[0, inf\), got -0.004"),
    ('learning_rate', '1e-2', r"'learning_rate' must be a finite number, got '1e-2' \(str\)"),
    ('beta1', None, r"'beta1' must be a finite number, got None"),
    ('weight_decay', True, r"'weight_decay' must be a finite number, got True \(bool\)"),
    ('warmup_fraction', 1.5, r"'warmup_fraction' must be in \[0, 1\], got 1.5"),
    ('schedule_fraction', 0.0, r"'schedule_fraction' must be in \(0, 1\], got 0.0"),
    ('learning_rate', float('nan'), r"'learning_rate' must be a finite number, got nan"),
  ],
)
def test_nonsense_hyperparameters_are_refused_by_name(field, value, message):
  hp = dict(submission('nadamw').DEFAULTS, **{field: value})
  point = hyperparameter_points([hp], 1)[0]
  with pytest.raises(BenchError, match=f'nadamw: hyperparameter {message}'):
    submission('nadamw').init_optimizer_state(
      types.SimpleNamespace(step_hint=10), {}, {}, point, None
    )


@pytest.mark.parametrize(
  'name, field',
  [('heavy_ball', 'momentum'), ('nesterov', 'momentum'), ('adam', 'beta2'), ('nadam', 'beta1')],
)
def test_momentum_of_one_is_refused_for_every_submission(name, field):
  point = hyperparameter_points([dict(submission(name).DEFAULTS, **{field: 1.0})], 1)[0]
  with pytest.raises(BenchError, match=f"{name}: hyperparameter '{field}' must be in"):
    submission(name).init_optimizer_state(types.SimpleNamespace(step_hint=10), {}, {}, point, None)


@pytest.mark.parametrize(
  'kwargs, message',
  [
    (dict(min_learning_rate=1e-4, learning_rate=1e-7), 'min_learning_rate .0.0001. exceeds'),
    (dict(learning_rate='0.01'), "'learning_rate' must be a finite number"),
    (dict(step_hint=0), 'step_hint must be a positive integer, got 0'),
    (dict(step_hint=10.5), 'step_hint must be a positive integer, got 10.5'),
  ],
)
def test_warmup_cosine_schedule_refuses_nonsense(kwargs, message):
  args = dict(
    step_hint=100,
    learning_rate=0.01,
    warmup_fraction=0.05,
    schedule_fraction=0.75,
    min_learning_rate=1e-4,
  )
  args.update(kwargs)
  with pytest.raises(_common.HyperparameterError, match=message):
    _common.warmup_cosine_schedule(args.pop('step_hint'), args.pop('learning_rate'), **args)


def test_zero_learning_rate_gives_a_zero_schedule():
  lr = _common.warmup_cosine_schedule(
    100, 0.0, warmup_fraction=0.05, schedule_fraction=0.75, min_learning_rate=0.0
  )
  assert [float(lr(t)) for t in (0, 3, 50, 200)] == [0.0, 0.0, 0.0, 0.0]


@pytest.mark.parametrize('name', NAMES)
def test_submission_reaches_imagenet_resnet_mini_validation_target(tmp_path, name):
  # Step control: 800 steps (step_hint) evaluated every 16, so that the outcome is the same on
  # any machine; the run stops at the first evaluation reaching both targets.
  [summary] = run(
    RunConfig(
      workload='imagenet_resnet_mini',
      submission_path=str(REPO / f'submissions/{name}/submission.py'),
      tuning_search_space=str(REPO / f'tuning_search_spaces/{name}.json'),
      experiment_dir=str(tmp_path),
      rng_seed=1,
      max_global_steps=800,
      eval_every_steps=16,
      max_allowed_runtime_sec=10**9,
    ),
    progress=lambda m: None,
  )
  assert summary['validation_goal_reached'] and not summary['diverged']
  assert summary['stop_reason'] == 'targets reached' and summary['global_step'] < 800
  hparams = json.loads((tmp_path / 'imagenet_resnet_mini_jax/trial_1/hparams.json').read_text())
  assert hparams == submission(name).DEFAULTS
