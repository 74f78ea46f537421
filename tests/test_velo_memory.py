"""VeLO's optimizer-state size against the parameter bytes, and the scratch option.

The algorithm keeps, per parameter of a tensor with >= 2 axes, three momenta and
one second moment (4 values); everything else is per row, column or tensor. Tile
padding and the tensors with < 2 axes (whose v_diag is per parameter) add a little.
Sizes come from ``jax.eval_shape`` of ``init``, so the huge tree allocates nothing.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from test_velo_optimizer import grads_for, make_params, random_theta

import velo

#: The issue's bound on VeLO's state, in parameter bytes (Adam: 2).
MAX_STATE_PER_PARAM = 4.2


def _resnet_block_shapes(stages=((64, 3), (128, 4), (256, 6), (512, 3))):
  """Bottleneck ResNet kernels and their batch-norm vectors: many small tensors."""
  shapes, cin = {'stem': (7, 7, 3, 64), 'stem_bn': (64,)}, 64
  for s, (mid, blocks) in enumerate(stages):
    for b in range(blocks):
      for i, (k, a, c) in enumerate(((1, cin, mid), (3, mid, mid), (1, mid, 4 * mid))):
        shapes[f's{s}b{b}c{i}'] = (k, k, a, c)
        shapes[f's{s}b{b}bn{i}'] = (c,)
      cin = 4 * mid
  shapes['head'] = (cin, 1000)
  return shapes


TREES = {
  'mlp': {'w0': (1024, 2048), 'b0': (2048,), 'w1': (2048, 1000), 'b1': (1000,)},
  'many small tensors (96 matrices, 96 vectors)': {
    **{f'w{i}': (256, 256) for i in range(96)},
    **{f'ln{i}': (256,) for i in range(96)},
  },
  'resnet50 kernels': _resnet_block_shapes(),
  'one huge embedding (2^22 x 128) and a small MLP': {
    'embedding': (1 << 22, 128),
    'top': (479, 1024),
    'top_bias': (1024,),
    'out': (1024, 1),
  },
}


def state_per_param(opt, shapes) -> float:
  params = {k: jax.ShapeDtypeStruct(s, jnp.float32) for k, s in shapes.items()}
  state = jax.eval_shape(opt.init, params)
  state_bytes = sum(x.size * x.dtype.itemsize for x in jax.tree_util.tree_leaves(state))
  return state_bytes / (4 * sum(max(1, math.prod(s)) for s in shapes.values()))


@pytest.fixture(scope='module')
def theta():
  return random_theta()


@pytest.mark.parametrize('name', list(TREES))
def test_state_is_at_most_4_2_times_the_parameter_bytes(theta, name):
  ratio = state_per_param(velo.velo(theta, 100), TREES[name])
  assert 4.0 <= ratio <= MAX_STATE_PER_PARAM, ratio


def test_scratch_in_state_adds_three_values_per_parameter(theta):
  shapes = TREES['mlp']
  lean = state_per_param(velo.velo(theta, 100), shapes)
  scratch = state_per_param(velo.velo(theta, 100, scratch_in_state=True), shapes)
  assert scratch - lean == pytest.approx(3.0, abs=0.05)


def test_scratch_in_state_gives_the_same_steps(theta):
  """Same updates and accumulators with and without the scratch buffers, over 3 donated
  steps (the scratch is rewritten in place, so stale values from a step must not leak)."""
  params = make_params(3)
  runs = []
  for scratch in (False, True):
    opt = velo.velo(theta, 10, scratch_in_state=scratch)
    step = jax.jit(
      lambda p, s, g, loss, opt=opt: opt.update(g, s, p, loss=loss), donate_argnums=(1,)
    )
    p, state = params, opt.init(params)
    for i in range(3):
      updates, state = step(p, state, grads_for(p, 0.3 + 0.1 * i), jnp.float32(2.0 - 0.2 * i))
      p = optax.apply_updates(p, updates)
    runs.append((p, state.momentum, state.rms, state.v_diag, state.v_row))
  for lean, scratch in zip(*runs):
    for a, b in zip(jax.tree_util.tree_leaves(lean), jax.tree_util.tree_leaves(scratch)):
      np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  assert not np.array_equal(np.asarray(runs[0][0]['m']), np.asarray(params['m']))
