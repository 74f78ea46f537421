"""Where the train step's arrays live (submissions/_placement.py): one compilation whatever the
layout of a workload's first arrays, a fresh optimizer state written once, and on 4 host
devices the losses of 1 device.

The official runner's side (every submission, ``mnist``, 1 and 4 devices) is in
``test_official_devices.py``.
"""

import collections
import json
import logging
import os
import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import FIXTURES, GOLDEN_THETA, REPO
from tiny_workload import TinyWorkload

from algoperf_compat import spec
from submissions import _common, _placement
from test_submissions_handcrafted import defaults_from_json, submission

COMPILING = re.compile(r'Compiling jit\((\w+)\)')
STEP_JITS = ('train_step', 'loss_and_grads', 'optimizer_update')


@pytest.fixture
def compiled(caplog):
  """A function returning how often each function was compiled since the test began."""
  caplog.set_level(logging.WARNING, logger='jax')
  with jax.log_compiles(True):
    yield lambda: collections.Counter(
      m.group(1) for r in caplog.records if (m := COMPILING.search(r.getMessage()))
    )


class EmptyThenNone(TinyWorkload):
  """AlgoPerf's imagenet_vit: model state ``{}`` from ``init_model_fn``, ``None`` from a step."""

  def init_model_fn(self, rng, dropout_rate=None, aux_dropout_rate=None):
    return super().init_model_fn(rng)[0], {}

  def model_fn(self, params, batch, model_state, mode, rng, update_batch_norm, **kwargs):
    return super().model_fn(params, batch, model_state, mode, rng, update_batch_norm)[0], None


class ReshapedStatistics(TinyWorkload):
  """AlgoPerf's librispeech models: running statistics of shape ``(C,)`` from
  ``init_model_fn``, ``(1, 1, C)`` after a training step (means kept with ``keepdims``)."""

  def init_model_fn(self, rng, dropout_rate=None, aux_dropout_rate=None):
    return super().init_model_fn(rng)[0], {'batch_stats': {'mean': jnp.zeros(10)}}

  def model_fn(self, params, batch, model_state, mode, rng, update_batch_norm, **kwargs):
    logits = super().model_fn(params, batch, model_state, mode, rng, update_batch_norm)[0]
    if mode != spec.ForwardPassMode.TRAIN:
      return logits, model_state
    mean = 0.9 * model_state['batch_stats']['mean'] + 0.1 * logits.mean(0, keepdims=True)[None]
    return logits, {'batch_stats': {'mean': mean}}


def run_steps(workload, name, steps=4):
  """``steps`` update_params calls from the workload's own (unplaced) first arrays:
  (parameters, model state) at the start and at the end."""
  hyperparameters = defaults_from_json(name) if not name.startswith('velo') else None
  params, model_state = workload.init_model_fn(jax.random.PRNGKey(0))
  first = (params, model_state)
  sub = submission(name)
  opt = sub.init_optimizer_state(workload, params, model_state, hyperparameters, None)
  queue = workload._build_input_queue(jax.random.PRNGKey(1), 'train', global_batch_size=32)
  for step in range(steps):
    opt, params, model_state = sub.update_params(
      workload,
      params,
      workload.model_params_types,
      model_state,
      hyperparameters,
      next(queue),
      workload.loss_type,
      opt,
      [],
      step,
      jax.random.PRNGKey(step),
    )
  return first, (params, model_state)


@pytest.mark.parametrize(
  'workload_class, name',
  [
    (TinyWorkload, 'adam'),
    (EmptyThenNone, 'heavy_ball'),
    (EmptyThenNone, 'adam'),
    (ReshapedStatistics, 'nesterov'),
    (ReshapedStatistics, 'nadamw'),
    (TinyWorkload, 'velo'),
  ],
)
def test_the_train_step_compiles_once_whatever_the_first_layout(
  compiled, monkeypatch, workload_class, name
):
  if name.startswith('velo'):
    if not GOLDEN_THETA.is_file():
      pytest.skip(f'golden VeLO theta not found at {GOLDEN_THETA}')
    monkeypatch.setenv('VELO_CHECKPOINT', str(GOLDEN_THETA))
  (params, first_state), (_, last_state) = run_steps(workload_class(), name)
  counts = compiled()
  step_jits = {jit: counts[jit] for jit in STEP_JITS if counts[jit]}
  assert counts['fresh_optimizer_state'] == 1
  assert step_jits and set(step_jits.values()) == {1}, counts
  # the model state keeps the layout the workload gave first
  assert jax.tree_util.tree_structure(last_state) == jax.tree_util.tree_structure(first_state)
  assert [np.shape(x) for x in jax.tree_util.tree_leaves(last_state)] == [
    np.shape(x) for x in jax.tree_util.tree_leaves(first_state)
  ]
  assert all(not np.all(np.asarray(x) == 0) for x in jax.tree_util.tree_leaves(last_state))


def test_a_model_state_with_other_leaves_is_returned_as_the_model_gave_it():
  keep = _placement.keep_model_state_layout
  received = {'batch_stats': {'mean': jnp.zeros(3)}}
  renamed = {'batch_stats': {'var': jnp.ones((1, 3))}}
  resized = {'batch_stats': {'mean': jnp.ones(4)}}
  retyped = {'batch_stats': {'mean': jnp.ones(3, jnp.int32)}}
  for returned in (renamed, resized, retyped, None):
    assert keep(received, returned) is returned
  kept = keep(received, {'batch_stats': {'mean': jnp.arange(3.0).reshape(1, 1, 3)}})
  np.testing.assert_array_equal(kept['batch_stats']['mean'], [0.0, 1.0, 2.0])
  assert keep({}, None) == {} and keep(None, {}) is None


def aliasing_optimizer():
  """An optimizer whose state holds one zeros tree twice and the parameters themselves; its
  update adds one to every state leaf."""

  def init(params):
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    return {'a': zeros, 'b': zeros, 'params': params}

  def update(updates, state, params=None):
    return updates, jax.tree_util.tree_map(lambda x: x + 1, state)

  return optax.GradientTransformation(init, update)


def test_the_initial_state_is_fresh_buffers_written_once():
  params = {'w': jnp.ones((256, 256)), 'b': jnp.ones(256)}
  tx = aliasing_optimizer()
  init = _common.fresh_state_init(tx)
  state = init(params)
  leaves = jax.tree_util.tree_leaves(state)
  pointers = {leaf.unsafe_buffer_pointer() for leaf in leaves}
  pointers |= {leaf.unsafe_buffer_pointer() for leaf in jax.tree_util.tree_leaves(params)}
  assert len(pointers) == len(leaves) + 2  # no leaf shares a buffer: donating one is safe
  assert all(leaf.sharding == _placement.replicated() for leaf in leaves)
  donating = jax.jit(lambda s: tx.update(params, s)[1], donate_argnums=0)
  for _ in range(3):
    state = donating(state)
  np.testing.assert_array_equal(state['a']['w'], 3.0)
  np.testing.assert_array_equal(state['params']['b'], 4.0)
  np.testing.assert_array_equal(params['w'], 1.0)  # the parameters were not donated
  memory = init.lower(params).compile().memory_analysis()
  if memory is not None:  # the backend reports it: no second copy of the state inside
    state_bytes = sum(leaf.nbytes for leaf in leaves)
    assert memory.output_size_in_bytes >= state_bytes
    assert memory.temp_size_in_bytes < 0.1 * state_bytes


def test_four_host_devices_give_the_losses_and_compilations_of_one():
  """The local runner on the tiny workload, adam and velo, in a process with 1 and one with
  4 host devices (side by side): the same evaluations, each jit compiled once."""
  names = ['adam'] + (['velo'] if GOLDEN_THETA.is_file() else [])
  env = {
    **os.environ,
    'PYTHONPATH': os.pathsep.join([str(FIXTURES), str(REPO)]),
    'VELO_CHECKPOINT': str(GOLDEN_THETA),
    _common.BATCH_SIZES_ENV: json.dumps({'tiny_mini': 32}),  # split 8 per device on 4
  }
  procs = {
    devices: subprocess.Popen(
      [sys.executable, str(FIXTURES / 'device_trial.py'), *names],
      env={**env, 'XLA_FLAGS': f'--xla_force_host_platform_device_count={devices}'},
      stdout=subprocess.PIPE,
      stderr=subprocess.PIPE,
      text=True,
    )
    for devices in (1, 4)
  }
  results = {}
  for devices, proc in procs.items():
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-5000:]
    results[devices] = json.loads(out.splitlines()[-1])
  for name in names:
    one, four = results[1][name], results[4][name]
    for result in (one, four):
      step_jits = {jit: n for jit, n in result['compiled'].items() if jit in STEP_JITS}
      assert step_jits and set(step_jits.values()) == {1}, result['compiled']
    assert [r['global_step'] for r in one['rows']] == [r['global_step'] for r in four['rows']]
    for a, b in zip(one['rows'], four['rows']):
      for column in ('train/loss', 'validation/loss'):
        np.testing.assert_allclose(float(b[column]), float(a[column]), rtol=1e-5)
