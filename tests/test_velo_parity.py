"""Replays the reference VeLO trajectory (golden vectors, README section 3) and checks parity."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import GOLDEN_DIR as GOLDEN

import velo
from velo.network import mix_mlp_weights
from velo.optimizer import _as_jnp_theta

pytestmark = pytest.mark.skipif(
  not (GOLDEN / 'trajectory.npz').is_file() or not (GOLDEN / 'theta.msgpack').is_file(),
  reason=f'VeLO golden vectors not found in {GOLDEN} (set VELO_GOLDEN_DIR)',
)
NUM_UPDATES = 6


@pytest.fixture(scope='module', params=['xla_defaults', 'velo_options'])
def replay(request):
  """Runs the 6 golden updates; returns (golden npz dict, per-step records). Twice: compiled
  with XLA's defaults, and with :func:`velo.compiler_options` (as the submissions compile it)."""
  options = velo.compiler_options() if request.param == 'velo_options' else {}
  golden = dict(np.load(GOLDEN / 'trajectory.npz'))
  theta = velo.load_theta(GOLDEN / 'theta.msgpack')
  jtheta = _as_jnp_theta(theta)
  names = [str(n) for n in golden['meta/tensor_order']]
  params = {n: jnp.asarray(golden[f'params0/{n}']) for n in names}
  num_steps = int(golden['state0/num_steps'])
  opt = velo.velo(theta, num_steps)
  state = opt.init(params)

  @functools.partial(jax.jit, compiler_options=options or None)
  def step(state, params, grads, loss):
    ctrl = velo.controller_outputs(jtheta, state, params, loss)
    mlp_weights = mix_mlp_weights(jtheta['ff_mod_stack']['~'], ctrl.controls)
    updates, state = opt.update(grads, state, params, loss=loss)
    return ctrl, mlp_weights, optax.apply_updates(params, updates), state

  records = [{'state': state, 'params': params}]
  for t in range(NUM_UPDATES):
    grads = {n: jnp.asarray(golden[f'grad{t}/{n}']) for n in names}
    ctrl, mlp_weights, params, state = step(state, params, grads, golden[f'loss{t}'])
    records[-1]['ctrl'] = ctrl
    records[-1]['ff'] = mlp_weights
    records.append({'state': state, 'params': params})
  return golden, names, records


def test_params_and_deltas(replay):
  golden, names, records = replay
  for t in range(1, NUM_UPDATES + 1):
    for n in names:
      ours = np.asarray(records[t]['params'][n])
      ref = golden[f'params{t}/{n}']
      np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-7, err_msg=f'params{t}/{n}')
      ref_delta = ref - golden[f'params{t - 1}/{n}']
      our_delta = ours - np.asarray(records[t - 1]['params'][n])
      tol = 1e-2 * np.abs(ref_delta).max() + 3e-8
      assert np.abs(our_delta - ref_delta).max() <= tol, f'delta {t}/{n}'
  # the trajectory must actually move, otherwise the checks above are vacuous
  assert np.abs(golden['params6/dense'] - golden['params0/dense']).max() > 1e-6


def test_accumulators(replay):
  golden, names, records = replay
  for k in range(NUM_UPDATES + 1):
    st = records[k]['state']
    assert int(st.iteration) == int(golden[f'state{k}/iteration'])
    assert int(st.num_steps) == int(golden[f'state{k}/num_steps'])
    for n in names:
      pairs = {
        'mom/m': st.momentum[n],
        'rms/rms': st.rms[n],
        'fac/v_row': st.v_row[n],
        'fac/v_col': st.v_col[n],
        'fac/v_diag': st.v_diag[n],
      }
      for key, ours in pairs.items():
        ref = golden[f'state{k}/{key}/{n}']
        if ref.size == 0:  # a slot unused for this tensor: ours holds a zero placeholder
          assert np.asarray(ours).shape == (3, 1) and not np.asarray(ours).any()
          continue
        ours = np.moveaxis(np.asarray(ours), 0, -1)  # our decay axis leads
        assert ours.size == ref.size, f'state{k}/{key}/{n}'
        np.testing.assert_allclose(
          ours.reshape(ref.shape), ref, rtol=1e-5, atol=1e-30, err_msg=f'state{k}/{key}/{n}'
        )
    for key in ('means', 'running_min', 'decays'):
      np.testing.assert_allclose(
        np.asarray(getattr(st.loss_buffer, key)), golden[f'state{k}/loss_buffer/{key}'], rtol=1e-5
      )
    assert int(st.loss_buffer.iteration) == int(golden[f'state{k}/loss_buffer/iteration'])
    np.testing.assert_allclose(
      np.asarray(st.lstm_hidden), golden[f'state{k}/lstm/hidden'], atol=1e-4
    )
    np.testing.assert_allclose(np.asarray(st.lstm_cell), golden[f'state{k}/lstm/cell'], atol=1e-4)


def test_step_intermediates(replay):
  golden, names, records = replay
  for t in range(NUM_UPDATES):
    ctrl, ff = records[t]['ctrl'], records[t]['ff']
    np.testing.assert_allclose(ctrl.loss_features, golden[f'step{t}/loss_features'], atol=2e-4)
    np.testing.assert_allclose(
      ctrl.fraction_trained, golden[f'step{t}/fraction_trained'], rtol=1e-7
    )
    np.testing.assert_allclose(ctrl.lstm_input, golden[f'step{t}/stacked/lstm_input'], atol=2e-4)
    np.testing.assert_allclose(ctrl.controls, golden[f'step{t}/stacked/controls'], atol=1e-4)
    np.testing.assert_allclose(ctrl.lr_mult, golden[f'step{t}/stacked/lr_mult'], atol=1e-4)
    np.testing.assert_allclose(ctrl.lstm_hidden, golden[f'step{t}/lstm_next/hidden'], atol=1e-4)
    for i, n in enumerate(names):
      w0_ref = np.concatenate([golden[f'step{t}/ff_params/{n}/w0__{j}'] for j in range(14)])
      np.testing.assert_allclose(ff['w0'][i], w0_ref, rtol=1e-4, atol=1e-5)
      for key in ('b0', 'w1', 'b1', 'w2', 'b2'):
        np.testing.assert_allclose(
          ff[key][i], golden[f'step{t}/ff_params/{n}/{key}'], rtol=1e-4, atol=1e-5
        )
  # loss features become non-zero after the second update (README section 5)
  assert np.abs(golden['step5/loss_features']).max() > 0
