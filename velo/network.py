"""VeLO's per-tensor controller: mixing layers, one LSTM step, output heads.

For the ``(n_tensors, 30)`` input ``x``:

* ``z = x W_2 + b_2 + max_over_tensors(relu(x W_1 + b_1))`` (``linear_2`` and
  ``linear_1``; ``linear`` exists in the checkpoint but its output is unused);
* LSTM (hidden 512): ``[i, u, f, o] = [z, h] W + b``,
  ``c' = sigmoid(f + 1) c + sigmoid(i) tanh(u)``, ``h' = sigmoid(o) tanh(c')``;
* ``controls = h' W_c + b_c`` (256 mixing coefficients),
  ``lr_mult = h' W_s + b_s`` (per-tensor step multiplier, used linearly).

The per-tensor MLP weights are ``100 * mean_k(controls_k * theta_k)`` over the
bank of 256 weight sets.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp

from velo.theta_spec import INPUT_GROUP_WIDTHS

_HIGHEST = jax.lax.Precision.HIGHEST
MLP_BANK_MULTIPLIER = 100.0


def _linear(layer: Mapping[str, jnp.ndarray], x):
  return jnp.dot(x, layer['w'], precision=_HIGHEST) + layer['b']


def controller_step(rnn_params, lstm_input, hidden, cell):
  """Returns ``(controls (n, 256), lr_mult (n,), hidden', cell')``."""
  pooled = jnp.max(jax.nn.relu(_linear(rnn_params['linear_1'], lstm_input)), axis=0, keepdims=True)
  z = _linear(rnn_params['linear_2'], lstm_input) + pooled
  gates = _linear(rnn_params['rnn/linear'], jnp.concatenate([z, hidden], axis=-1))
  i, u, f, o = jnp.split(gates, 4, axis=-1)
  new_cell = jax.nn.sigmoid(f + 1) * cell + jax.nn.sigmoid(i) * jnp.tanh(u)
  new_hidden = jax.nn.sigmoid(o) * jnp.tanh(new_cell)
  controls = _linear(rnn_params['rnn_to_controls'], new_hidden)
  lr_mult = _linear(rnn_params['step_size'], new_hidden)[:, 0]
  return controls, lr_mult, new_hidden, new_cell


def mix_mlp_weights(ff_stack: Mapping[str, jnp.ndarray], controls) -> dict[str, jnp.ndarray]:
  """Per-tensor MLP weights ``100 * mean_k(controls[:, k] * ff_stack[name][k])``.

  Returns ``w0`` (n, 30, 4) (the 14 input-group blocks ``w0__i`` stacked in
  group order), ``b0`` (n, 4), ``w1`` (n, 4, 4), ``b1`` (n, 4), ``w2`` (n, 4, 3), ``b2`` (n, 3).
  """
  num_sets = controls.shape[-1]

  def mix(stacked):
    mixed = jnp.tensordot(controls, stacked, axes=([1], [0]), precision=_HIGHEST)
    return mixed * (MLP_BANK_MULTIPLIER / num_sets)

  w0 = jnp.concatenate([ff_stack[f'w0__{i}'] for i in range(len(INPUT_GROUP_WIDTHS))], axis=1)
  mixed = {'w0': mix(w0)}
  for name in ('b0', 'w1', 'b1', 'w2', 'b2'):
    mixed[name] = mix(ff_stack[name])
  return mixed
