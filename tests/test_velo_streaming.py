"""Streamed matrices (velo.streaming) give the packed path's steps and state.

The threshold and the block size are lowered through ``velo.velo``'s arguments so that
small tensors are streamed in several blocks and a tail (a partial last row band,
padded columns), next to packed matrices and vectors.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from test_velo_optimizer import grads_for, make_params, random_theta

import velo
from velo import layout as velo_layout

SHAPES = {
  # streamed: 227 rows = 7 complete bands of 32 and a partial one; 200 columns pad to 256
  'embedding': (227, 200),
  # streamed: no padding at all
  'table': (256, 128),
  # packed: transposed orientation, a batch of matrices, a vector, a scalar
  'a': (70, 3),
  'b': (3, 33, 9),
  'bias': (200,),
  'scale': (),
}
THRESHOLD = 20_000
BLOCK = 3 * 32 * 256  # three row bands of the embedding per block


def _run(params, grads, losses, stream_threshold, stream_block=BLOCK):
  opt = velo.velo(random_theta(7), 20, stream_threshold=stream_threshold, stream_block=stream_block)
  step = jax.jit(lambda p, s, g, loss: opt.update(g, s, p, loss=loss))
  state = opt.init(params)
  for loss in losses:
    updates, state = step(params, state, grads, jnp.float32(loss))
    params = optax.apply_updates(params, updates)
  return updates, state, params


@pytest.fixture(scope='module')
def runs():
  params, grads = make_params(11, SHAPES), grads_for(make_params(12, SHAPES), 3.0)
  losses = (3.0, 2.6, 2.1)
  return _run(params, grads, losses, None), _run(params, grads, losses, THRESHOLD)


def test_layout_streams_the_large_natural_matrices_last():
  params = make_params(11, SHAPES)
  layout = velo_layout.tensor_layout(params, THRESHOLD, BLOCK)
  names = sorted(SHAPES)  # tree-leaf order
  assert [names[pl.leaf] for pl in layout.streamed] == ['embedding', 'table']
  assert layout.num_packed_tiles == layout.streamed[0].first_tile < layout.num_tiles
  assert velo_layout.tensor_layout(params).streamed == ()


def test_streamed_steps_equal_the_packed_path(runs):
  (ref_updates, ref_state, ref_params), (updates, state, params) = runs
  assert state.layout.streamed and not ref_state.layout.streamed
  for k in SHAPES:
    ref = np.asarray(ref_updates[k])
    assert np.abs(ref).max() > 0
    np.testing.assert_allclose(updates[k], ref, rtol=1e-4, atol=1e-5 * np.abs(ref).max())
    np.testing.assert_allclose(params[k], ref_params[k], rtol=1e-5, atol=1e-6)
    for view in ('momentum', 'rms', 'v_row', 'v_col', 'v_diag'):
      np.testing.assert_allclose(
        getattr(state, view)[k], getattr(ref_state, view)[k], rtol=1e-5, atol=1e-30
      )
  for a, b in zip(
    jax.tree_util.tree_leaves(state.stats), jax.tree_util.tree_leaves(ref_state.stats)
  ):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-7)
  np.testing.assert_allclose(state.lstm_hidden, ref_state.lstm_hidden, atol=1e-5)


@pytest.mark.slow
def test_one_block_or_many_give_the_same_steps():
  """The fori_loop over blocks and the tail alone compute the same."""
  params, grads = make_params(13, SHAPES), grads_for(make_params(14, SHAPES), 1.0)
  many, _, _ = _run(params, grads, (2.0, 1.5), THRESHOLD, 32 * 256)
  one, _, _ = _run(params, grads, (2.0, 1.5), THRESHOLD, 1 << 20)
  for k in SHAPES:
    np.testing.assert_allclose(many[k], one[k], rtol=1e-5, atol=1e-7)


def test_controller_outputs_read_the_streamed_parameters():
  params = make_params(15, SHAPES)
  theta = random_theta(7)
  outs = []
  for threshold in (None, THRESHOLD):
    state = velo.velo(theta, 20, stream_threshold=threshold, stream_block=BLOCK).init(params)
    outs.append(velo.controller_outputs(theta, state, params, jnp.float32(2.0)))
  np.testing.assert_allclose(outs[1].lstm_input, outs[0].lstm_input, rtol=1e-5, atol=1e-6)


def test_scratch_in_state_streams_nothing():
  params = make_params(11, SHAPES)
  opt = velo.velo(random_theta(7), 20, scratch_in_state=True, stream_threshold=THRESHOLD)
  assert opt.init(params).layout.streamed == ()
