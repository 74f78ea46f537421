"""Loss features: running averages of the training loss at 10 time scales.

Time scales ``h_j`` are log-spaced between 10 and ``num_steps``; decays are
``b_j = exp(-1 / h_j)``. With ``n`` losses seen so far and bias-corrected
means ``M_j = means_j / (1 - b_j ** n)``, each update:

* clamps the incoming loss from above: ``loss = min(2 |max_j M_j|, loss)``
  (no clamp for the first loss), with ``M`` computed at ``n + 1``;
* ``means = b * means + (1 - b) * loss``;
* ``running_min = min(running_min, M)`` (new means, ``n + 1``).

Features (9, computed after the update, zero while ``n <= 2``):
``clip((M_j - min_j) / max(1e-8, M_{j+1} - min_j) - 1, -1, 1)`` for j = 0..8.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp

NUM_LOSS_TIMESCALES = 10
RUNNING_MIN_INIT = 999999999999.0


class LossBuffer(NamedTuple):
  means: jnp.ndarray  # (10,) float32
  running_min: jnp.ndarray  # (10,) float32
  decays: jnp.ndarray  # (10,) float32, fixed at init from num_steps
  iteration: jnp.ndarray  # () int32, losses seen


def init_loss_buffer(num_steps) -> LossBuffer:
  timescales = jnp.logspace(1, jnp.log10(jnp.asarray(num_steps, jnp.float32)), NUM_LOSS_TIMESCALES)
  decays = jnp.exp(-1.0 / timescales).astype(jnp.float32)
  return LossBuffer(
    means=jnp.zeros((NUM_LOSS_TIMESCALES,), jnp.float32),
    running_min=jnp.full((NUM_LOSS_TIMESCALES,), RUNNING_MIN_INIT, jnp.float32),
    decays=decays,
    iteration=jnp.asarray(0, jnp.int32),
  )


def update_loss_buffer(buf: LossBuffer, loss) -> LossBuffer:
  loss = jnp.asarray(loss, jnp.float32)
  debias = 1 - buf.decays ** (buf.iteration + 1)
  approx_max = jnp.where(buf.iteration == 0, loss, jnp.max(buf.means / debias))
  loss = jnp.minimum(jnp.abs(approx_max) * 2, loss)
  means = buf.means * buf.decays + loss * (1.0 - buf.decays)
  running_min = jnp.minimum(buf.running_min, means / debias)
  return LossBuffer(means, running_min, buf.decays, buf.iteration + 1)


def loss_features(buf: LossBuffer) -> jnp.ndarray:
  corrected = buf.means / (1 - buf.decays**buf.iteration)
  longer, shorter = corrected[1:], corrected[:-1]
  running_min = buf.running_min[:-1]
  spread = jnp.maximum(1e-8, longer - running_min)
  features = jnp.clip((shorter - running_min) / spread - 1.0, -1, 1)
  return jnp.where(buf.iteration <= 2, jnp.zeros_like(features), features)
