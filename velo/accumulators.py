"""VeLO's gradient accumulators (no bias correction) and the factors derived from them.

For a tensor with clipped gradient ``g``:

* momenta ``m_k = b_k m_k + (1 - b_k) g`` for ``b = (0.9, 0.99, 0.999)``;
* ``rms = b rms + (1 - b) g^2`` for ``b = 0.999``;
* factored second moments on ``g^2 + 1e-30`` for ``b = (0.9, 0.99, 0.999)``. For a
  tensor with >= 2 axes (VeLO's d0 = largest axis, d1 = second largest, see
  :func:`velo.layout.factored_axes`): ``v_row = b v_row + (1 - b) mean_{d0}(g^2 + eps)``
  and ``v_col = b v_col + (1 - b) mean_{d1}(g^2 + eps)``; otherwise the full
  ``v_diag = b v_diag + (1 - b)(g^2 + eps)``.

Factors of the factored preconditioner ``g * row_factor * col_factor``:
``row_factor = safe_rsqrt(v_row / (mean_{d1}(v_row) + 1e-9))`` (the mean taken per
matrix, i.e. over d1 only) and ``col_factor = safe_rsqrt(v_col)``, with
``safe_rsqrt(x) = rsqrt(max(x, 1e-9))``.

The functions work on any array layout (tiles, chunks, band vectors of
:mod:`velo.layout`). Momenta and ``v_diag`` are stacked with the decay on axis 0,
row / column accumulators with the decay on axis 1 (see :func:`update_stacked`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

#: Gradients are clipped elementwise to +-GRAD_CLIP before anything reads them.
GRAD_CLIP = 1000.0
MOMENTUM_DECAYS = (0.9, 0.99, 0.999)
RMS_DECAY = 0.999
FACTORED_DECAYS = (0.9, 0.99, 0.999)
FACTORED_EPS = 1e-30
SAFE_RSQRT_FLOOR = 1e-9
ROW_MEAN_EPS = 1e-9


def _decays(decays, ndim: int):
  return jnp.asarray(decays, jnp.float32).reshape((-1,) + (1,) * (ndim - 1))


def ema(acc, value, decay):
  """``decay * acc + (1 - decay) * value`` in float32; ``decay`` a float or, for an
  ``acc`` stacked over decays on axis 0, a tuple (``value`` is then broadcast)."""
  b = jnp.float32(decay) if isinstance(decay, float) else _decays(decay, acc.ndim)
  return b * acc + (1 - b) * value


def add_input(acc, value, decay):
  """``acc + (1 - decay) * value``: the second half of :func:`ema`, for an ``acc`` already
  multiplied by ``decay`` (an :func:`ema` with a zero value: exactly ``decay * acc``), so that
  the two halves round as :func:`ema` does."""
  b = jnp.float32(decay) if isinstance(decay, float) else _decays(decay, acc.ndim)
  return acc + (1 - b) * value


def update_momenta(momenta, g):
  """``momenta``: ``(3,) + shape``."""
  return ema(momenta, g, MOMENTUM_DECAYS)


def update_rms(rms, g):
  return ema(rms, g * g, RMS_DECAY)


def update_diag(diag, g):
  """``v_diag`` (``(3,) + shape``) on ``g^2 + 1e-30``."""
  return ema(diag, g * g + FACTORED_EPS, FACTORED_DECAYS)


def update_stacked(accumulators, mean_g2):
  """One EMA per decay of ``mean_g2`` (``mean(g^2 + eps)`` along the reduced axis) for
  ``(bands, 3, width)`` row / column accumulators; ``mean_g2``: ``(bands, width)``."""
  b = jnp.asarray(FACTORED_DECAYS, jnp.float32)[None, :, None]
  return b * accumulators + (1 - b) * mean_g2[:, None, :]


def safe_rsqrt(x):
  return jax.lax.rsqrt(jnp.maximum(x, SAFE_RSQRT_FLOOR))


def row_factor(v_row, row_mean):
  """``safe_rsqrt(v_row / (row_mean + 1e-9))``; ``row_mean`` is ``mean_{d1}(v_row)``."""
  return safe_rsqrt(v_row / (row_mean + ROW_MEAN_EPS))


def col_factor(v_col):
  return safe_rsqrt(v_col)
