"""Per-tensor inputs of VeLO's LSTM (30 features per parameter tensor).

With ``s = rsqrt(max(1e-9, mean(p^2)))`` and ``m``, ``rms`` the accumulators
BEFORE this step's update, scaled by ``s``, and ``f(x) = clip(log(1e-8 + |10 x|), -5, 5) / 2``:

=================  =====  ==========================================================
block (sorted)     width  value
=================  =====  ==========================================================
``fraction_left``  9      ``tanh(10 (fraction_trained - t))``, t in 0.03 ... 1.1
``loss_features``  9      see :mod:`velo.loss_features`
``mean_rms``       1      ``f(mean(rms))``
``rank``           5      one-hot of the number of axes of size > 1 (zeros if >= 5)
``var_m``          3      ``f(mean((m_k - mean(m_k))^2))``
``var_rms``        3      ``f(mean((rms - mean(m_k))^2))``: centred on the MOMENTUM
                          mean (a quirk of the reference kept for the checkpoint)
=================  =====  ==========================================================

The means and variances come from :mod:`velo.statistics` (computed when the
accumulators were last updated, over each tensor's real elements).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from velo.layout import TensorLayout
from velo.statistics import AccumulatorStats

FRACTION_TIMESCALES = (0.03, 0.1, 0.2, 0.4, 0.6, 0.8, 0.9, 1.0, 1.1)
NUM_RANK_CLASSES = 5


def fraction_embedding(fraction_trained) -> jnp.ndarray:
  """``tanh(10 (x - t))`` for the 9 timescales t; shape (9,)."""
  t = jnp.asarray(FRACTION_TIMESCALES, jnp.float32)
  return jnp.tanh((jnp.asarray(fraction_trained, jnp.float32) - t) * 10)


def clip_log_abs(x, scale: float = 10.0):
  return jnp.clip(jnp.log(1e-8 + jnp.abs(x * scale)), -5, 5) * 0.5


def lstm_inputs(
  layout: TensorLayout, scale, stats: AccumulatorStats, fraction_embed, loss_feats
) -> jnp.ndarray:
  """``(n, 30)`` LSTM inputs, rows in tree-leaf order.

  ``scale``: ``s`` per tensor; ``stats``: the current accumulators' means and
  variances (unscaled; scaling by ``s`` multiplies means by ``s`` and variances by ``s^2``).
  """
  n = layout.num_tensors
  rank = jax.nn.one_hot(jnp.asarray(layout.tensor_rank), NUM_RANK_CLASSES, dtype=jnp.float32)
  s2 = jnp.square(scale)[:, None]
  return jnp.concatenate(
    [
      jnp.broadcast_to(fraction_embed, (n, fraction_embed.shape[0])),
      jnp.broadcast_to(loss_feats, (n, loss_feats.shape[0])),
      clip_log_abs(stats.mean_rms * scale)[:, None],
      rank,
      clip_log_abs(stats.var_m * s2),
      clip_log_abs(stats.var_rms * s2),
    ],
    axis=1,
  )
