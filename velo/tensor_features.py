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
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from velo.fused_reduce import fused_means

FRACTION_TIMESCALES = (0.03, 0.1, 0.2, 0.4, 0.6, 0.8, 0.9, 1.0, 1.1)
NUM_RANK_CLASSES = 5


def fraction_embedding(fraction_trained) -> jnp.ndarray:
    """``tanh(10 (x - t))`` for the 9 timescales t; shape (9,)."""
    t = jnp.asarray(FRACTION_TIMESCALES, jnp.float32)
    return jnp.tanh((jnp.asarray(fraction_trained, jnp.float32) - t) * 10)


def clip_log_abs(x, scale: float = 10.0):
    return jnp.clip(jnp.log(1e-8 + jnp.abs(x * scale)), -5, 5) * 0.5


def tensor_lstm_input(p, m, rms, fraction_embed, loss_feats) -> jnp.ndarray:
    """The 30 LSTM input features of one tensor ``p`` (shape ``S``).

    ``m``: ``(3,) + S`` momenta, ``rms``: ``(1,) + S``, both before this step's update.
    """
    num_decays = m.shape[0]
    if p.ndim == 0:
        p, m, rms = p.reshape(1), m.reshape(num_decays, 1), rms.reshape(-1, 1)
    mean_p2, *means = fused_means([jnp.square(p)] + [m[k] for k in range(num_decays)] + [rms[0]])
    scale = jax.lax.rsqrt(jnp.maximum(1e-9, mean_p2))
    mean_m = jnp.stack(means[:num_decays]) * scale
    mean_rms = jnp.stack(means[num_decays:]) * scale
    centred = [m[k] * scale - mean_m[k] for k in range(num_decays)]
    centred += [rms[0] * scale - mean_m[k] for k in range(num_decays)]
    variances = jnp.stack(fused_means([jnp.square(c) for c in centred]))
    var_m, var_rms = variances[:num_decays], variances[num_decays:]
    rank = int(np.sum(np.asarray(p.shape) > 1))
    rank_one_hot = jax.nn.one_hot(rank, NUM_RANK_CLASSES, dtype=jnp.float32)
    return jnp.concatenate(
        [
            fraction_embed,
            loss_feats,
            clip_log_abs(mean_rms),
            rank_one_hot,
            clip_log_abs(var_m),
            clip_log_abs(var_rms),
        ]
    )
