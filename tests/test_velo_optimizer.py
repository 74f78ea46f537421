"""Behaviour of the VeLO optax transformation beyond numerical parity."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import serialization

import velo
from velo import layout as velo_layout
from velo.theta_spec import EXPECTED_THETA_SHAPES

NUM_STEPS = 10
SHAPES = {'s': (), 'v': (6,), 'm': (4, 5), 't3': (2, 3, 4), 'k4': (3, 3, 2, 4)}


def random_theta(seed=0):
  """A theta with the released shapes and small random values (LSTM init state zero)."""
  rng = np.random.default_rng(seed)
  theta: dict = {}
  for path, shape in EXPECTED_THETA_SHAPES.items():
    parts = path.split('/')
    if parts[:2] == ['rnn_params', 'rnn']:
      parts = ['rnn_params', 'rnn/linear', parts[-1]]
    node = theta
    for part in parts[:-1]:
      node = node.setdefault(part, {})
    scale = 0.0 if parts[0] == 'lstm_init_state' else 0.05
    node[parts[-1]] = (rng.standard_normal(shape) * scale).astype(np.float32)
  return theta


def make_params(seed=0, shapes=SHAPES):
  rng = np.random.default_rng(seed)
  return {
    k: jnp.asarray(rng.standard_normal(s).astype(np.float32) * 0.1) for k, s in shapes.items()
  }


def grads_for(params, scale=0.3):
  return jax.tree_util.tree_map(lambda p: p * scale + 0.01, params)


@pytest.fixture(scope='module')
def opt():
  theta = random_theta()
  velo.validate_theta(theta)
  return velo.velo(theta, NUM_STEPS)


@pytest.fixture(scope='module')
def traced_step(opt):
  """Jitted step with donated state and a traced fraction_trained; counts its traces."""
  traces = []

  @functools.partial(jax.jit, donate_argnums=(1,))
  def step(params, state, grads, loss, fraction):
    traces.append(1)
    updates, state = opt.update(grads, state, params, loss=loss, fraction_trained=fraction)
    return updates, state

  return step, traces


@pytest.fixture(scope='module')
def default_step(opt):
  return jax.jit(lambda params, state, grads, loss: opt.update(grads, state, params, loss=loss))


def _copy(tree):
  return jax.tree_util.tree_map(jnp.copy, tree)


def run_steps(theta, params, grads, losses, num_steps=20):
  """``(last updates, final state)`` after one update per loss."""
  opt = velo.velo(theta, num_steps)
  step = jax.jit(lambda p, s, g, loss: opt.update(g, s, p, loss=loss))
  state = opt.init(params)
  for loss in losses:
    updates, state = step(params, state, grads, jnp.float32(loss))
    params = optax.apply_updates(params, updates)
  return updates, state


def test_all_ranks_under_jit_with_donated_state_compiles_once(opt, traced_step):
  step, traces = traced_step
  params = make_params()
  start = params
  state = opt.init(params)
  assert state.num_steps.dtype == jnp.int32 and int(state.num_steps) == NUM_STEPS
  for i in range(4):
    updates, state = step(
      params, state, grads_for(params), jnp.float32(2.0 - 0.1 * i), jnp.float32(i / 4)
    )
    params = optax.apply_updates(params, updates)
  assert len(traces) == 1
  assert int(state.iteration) == 4
  assert state.lstm_hidden.shape == (len(SHAPES), 512)
  for k, p in params.items():
    assert p.shape == start[k].shape and p.dtype == jnp.float32
    assert np.all(np.isfinite(np.asarray(p)))
    assert not np.array_equal(np.asarray(p), np.asarray(start[k])), k


def test_fraction_trained_override(opt, traced_step, default_step):
  step, _ = traced_step
  params = make_params(1)
  state = opt.init(params)
  for loss in (2.0, 1.5):
    _, state = default_step(params, state, grads_for(params), jnp.float32(loss))
  assert int(state.iteration) == 2
  grads = grads_for(params)
  loss = jnp.float32(1.0)
  default, _ = default_step(params, state, grads, loss)
  same, _ = step(params, _copy(state), grads, loss, jnp.float32(2) / jnp.float32(NUM_STEPS))
  other, _ = step(params, _copy(state), grads, loss, jnp.float32(0.9))
  for k in params:
    np.testing.assert_allclose(np.asarray(default[k]), np.asarray(same[k]), rtol=1e-6, atol=1e-12)
  assert any(
    not np.allclose(np.asarray(default[k]), np.asarray(other[k]), rtol=1e-3) for k in params
  )


def test_gradient_clipping(opt, default_step):
  params = make_params(2)
  grads = jax.tree_util.tree_map(lambda p: jnp.full_like(p, 1e6), params)
  updates, state = default_step(params, opt.init(params), grads, jnp.float32(1.0))
  np.testing.assert_allclose(np.asarray(state.momentum['m'])[0], 0.1 * 1000.0, rtol=1e-6)
  assert all(np.all(np.isfinite(np.asarray(u))) for u in updates.values())


def test_per_tensor_views_have_the_reference_layout(opt):
  state = opt.init(make_params())
  assert state.momentum['k4'].shape == (3, 3, 3, 2, 4)
  assert state.rms['m'].shape == (1, 4, 5)
  # factored over the two largest axes of (3, 3, 2, 4): d0 = 3, d1 = 1
  assert state.v_row['k4'].shape == (3, 3, 3, 2)
  assert state.v_col['k4'].shape == (3, 3, 2, 4)
  assert state.v_diag['k4'].shape == (3, 1)  # unused slot: a placeholder, never empty
  assert state.v_diag['s'].shape == (3,) and state.v_diag['v'].shape == (3, 6)
  assert state.loss_buffer.decays.shape == (10,)


def test_views_follow_the_gradients(opt, default_step):
  """One step from zero accumulators: every view is the first EMA term of g (clipped)."""
  params = make_params(3)
  grads = grads_for(params)
  _, state = default_step(params, opt.init(params), grads, jnp.float32(1.0))
  # 1 - b in float32, as the optimizer computes it
  weight = 1 - np.asarray([0.9, 0.99, 0.999], np.float32)
  for k, g in grads.items():
    g = np.asarray(g)
    np.testing.assert_allclose(
      state.momentum[k], weight.reshape((3,) + (1,) * g.ndim) * g, rtol=1e-5, atol=1e-12
    )
    np.testing.assert_allclose(state.rms[k][0], weight[2] * g * g, rtol=1e-5, atol=1e-12)
  g2 = np.square(np.asarray(grads['k4'])) + 1e-30
  w = weight.reshape(3, 1, 1, 1)
  np.testing.assert_allclose(state.v_row['k4'], w * g2.mean(axis=3), rtol=1e-5)
  np.testing.assert_allclose(state.v_col['k4'], w * g2.mean(axis=1), rtol=1e-5)
  np.testing.assert_allclose(state.v_diag['v'], weight[:, None] * np.square(grads['v']), rtol=1e-5)


def test_missing_loss_is_a_clear_error(opt):
  params = make_params()
  with pytest.raises(TypeError, match='loss='):
    opt.update(params, opt.init(params), params)


def test_missing_params_is_an_error(opt):
  params = make_params()
  with pytest.raises(ValueError, match='params'):
    opt.update(params, opt.init(params), None, loss=1.0)


def test_other_tree_than_at_init_is_an_error(opt):
  state = opt.init(make_params())
  other = make_params(shapes={'m': (4, 5)})
  with pytest.raises(ValueError, match='parameter tree differs'):
    opt.update(other, state, other, loss=1.0)


def test_invalid_theta_is_rejected():
  theta = random_theta()
  theta['rnn_params']['step_size']['w'] = np.zeros((512, 2), np.float32)
  with pytest.raises(velo.VeloCheckpointError, match='step_size/w'):
    velo.velo(theta, NUM_STEPS)


@pytest.mark.parametrize('bad', [np.nan, np.inf])
def test_non_finite_theta_is_rejected_naming_the_leaf(bad):
  theta = random_theta()
  theta['ff_mod_stack']['~']['w1'][3, 1, 2] = bad
  with pytest.raises(velo.VeloCheckpointError, match=r'ff_mod_stack/~/w1 has 1 non-finite'):
    velo.velo(theta, NUM_STEPS)


def test_tile_shape_does_not_change_the_result(monkeypatch):
  """Padding and masking are exact: every tile shape gives the same trajectory."""
  theta = random_theta(3)
  # transposed orientation, factored axes not last, padding on both axes, a vector, a scalar
  shapes = {'a': (70, 3), 'b': (3, 3, 5, 40), 'c': (2, 33, 9), 'd': (200,), 'e': ()}
  params, grads = make_params(4, shapes), grads_for(make_params(5, shapes), 2.0)
  results = []
  for tile in (velo_layout.TILE_SHAPES[0], velo_layout.TILE_SHAPES[-1]):
    monkeypatch.setattr(velo_layout, 'TILE_SHAPES', (tile,))
    velo_layout._layout_for.cache_clear()
    layout = velo_layout.tensor_layout(params)
    assert (layout.tile_rows, layout.tile_cols) == tile
    results.append(run_steps(theta, params, grads, (3.0, 2.5, 2.0)))
  velo_layout._layout_for.cache_clear()
  (ref_updates, ref_state), others = results[0], results[1:]
  for new_updates, new_state in others:
    for k in shapes:
      ref = np.asarray(ref_updates[k])
      np.testing.assert_allclose(new_updates[k], ref, rtol=1e-4, atol=1e-5 * np.abs(ref).max())
      for view in ('momentum', 'rms', 'v_row', 'v_col', 'v_diag'):
        np.testing.assert_allclose(
          getattr(new_state, view)[k], getattr(ref_state, view)[k], rtol=1e-5, atol=1e-30
        )
    np.testing.assert_allclose(new_state.lstm_hidden, ref_state.lstm_hidden, atol=1e-5)
  assert all(np.abs(np.asarray(ref_updates[k])).max() > 0 for k in shapes)


def test_accumulator_statistics_match_direct_means(opt, default_step):
  """The stored means / variances (used by the next step's LSTM) equal direct computation."""
  params = make_params(6)
  state = opt.init(params)
  for loss in (2.0, 1.0, 0.5):
    _, state = default_step(params, state, grads_for(params, 0.7), jnp.float32(loss))
  names = sorted(params)  # tree-leaf order of a dict
  for i, k in enumerate(names):
    m = np.asarray(state.momentum[k], np.float64).reshape(3, -1)
    rms = np.asarray(state.rms[k], np.float64).reshape(-1)
    np.testing.assert_allclose(state.stats.mean_m[i], m.mean(axis=1), rtol=1e-4, atol=1e-9)
    np.testing.assert_allclose(state.stats.var_m[i], m.var(axis=1), rtol=1e-3, atol=1e-12)
    np.testing.assert_allclose(state.stats.mean_rms[i], rms.mean(), rtol=1e-4)
    centred = np.mean(np.square(rms[None] - m.mean(axis=1)[:, None]), axis=1)
    np.testing.assert_allclose(state.stats.var_rms[i], centred, rtol=1e-3, atol=1e-12)


def test_the_mlp_is_compiled_once_per_class_not_per_tensor():
  """Compile-time structure: one per-parameter MLP per storage class, whatever the tree.

  XLA would otherwise fuse it into every tensor's unpacking. Counted through the
  MLP's exponential: exactly one, on the whole tile array and one on the whole
  chunk array (the LSTM's sigmoids are the other exponentials).
  """
  opt = velo.velo(random_theta(), NUM_STEPS)
  shapes = {f'w{i}': (8 + i, 16) for i in range(6)} | {f'b{i}': (5 + i,) for i in range(6)}
  params = make_params(7, shapes)
  layout = velo_layout.tensor_layout(params)

  def step(p, s, g):
    updates, s = opt.update(g, s, p, loss=jnp.float32(1.0))
    return optax.apply_updates(p, updates), s

  hlo = (
    jax.jit(step, donate_argnums=(0, 1)).lower(params, opt.init(params), params).compile().as_text()
  )
  exp_shapes = [
    line.split('=')[1].split('{')[0].strip() for line in hlo.splitlines() if 'exponential(' in line
  ]
  mlp = sorted(s for s in exp_shapes if s != f'f32[{len(shapes)},512]')
  assert mlp == sorted(
    [
      f'f32[{layout.num_tiles},{layout.tile_rows},{layout.tile_cols}]',
      f'f32[{layout.num_chunks},{velo_layout.CHUNK}]',
    ]
  )


def test_state_has_no_zero_size_leaf(opt):
  """AlgoPerf checkpoints the optimizer state with orbax, which refuses zero-size arrays."""
  state = opt.init(make_params())
  assert all(np.asarray(leaf).size > 0 for leaf in jax.tree_util.tree_leaves(state))


def test_state_round_trips_through_flax_serialization(opt, default_step):
  params = make_params(8)
  _, state = default_step(params, opt.init(params), grads_for(params), jnp.float32(1.0))
  restored = serialization.from_bytes(opt.init(params), serialization.to_bytes(state))
  assert restored.layout == state.layout
  for a, b in zip(jax.tree_util.tree_leaves(state), jax.tree_util.tree_leaves(restored)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
