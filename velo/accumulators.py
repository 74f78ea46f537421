"""Per-tensor gradient accumulators (no bias correction).

Layout: the decay axis is the LEADING axis (the reference keeps it last), so
that every per-decay slice is contiguous and accelerators need no padding of
a size-3 minor dimension. For a tensor of shape ``S``:

* momentum ``m``: ``(3,) + S``, ``m = b m + (1 - b) g`` for b in (0.9, 0.99, 0.999);
* ``rms``: ``(1,) + S``, ``rms = b rms + (1 - b) g^2`` for b = 0.999;
* factored second moments on ``g^2 + 1e-30`` for b in (0.9, 0.99, 0.999):
  for ``len(S) >= 2`` with ``d0`` the largest and ``d1`` the second largest
  axis (ascending stable argsort, ties to the later axis)
  ``v_row = b v_row + (1 - b) mean_{d0}(g^2 + eps)`` and
  ``v_col = b v_col + (1 - b) mean_{d1}(g^2 + eps)``; otherwise the full
  ``v_diag = b v_diag + (1 - b)(g^2 + eps)``. Unused slots are empty ``(3, 0)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

MOMENTUM_DECAYS = (0.9, 0.99, 0.999)
RMS_DECAYS = (0.999,)
FACTORED_DECAYS = (0.9, 0.99, 0.999)
FACTORED_EPS = 1e-30


def factored_axes(shape: Sequence[int]) -> tuple[int, int] | None:
    """``(d1, d0)``: second largest and largest axis, or None for fewer than 2 axes."""
    if len(shape) < 2:
        return None
    order = np.argsort(np.asarray(shape), kind="stable")
    return int(order[-2]), int(order[-1])


def _decay_column(decays, ndim: int) -> jnp.ndarray:
    return jnp.asarray(decays, jnp.float32).reshape((-1,) + (1,) * ndim)


def _ema(acc, value, decays):
    b = _decay_column(decays, acc.ndim - 1)
    return b * acc + (1 - b) * value


def init_moments(p):
    """Zero ``(m, rms, v_row, v_col, v_diag)`` for one tensor ``p``."""
    shape = tuple(p.shape)
    n_fac = len(FACTORED_DECAYS)
    m = jnp.zeros((len(MOMENTUM_DECAYS),) + shape, jnp.float32)
    rms = jnp.zeros((len(RMS_DECAYS),) + shape, jnp.float32)

    def empty():
        # The unused slot: a fresh (so donatable) one-element placeholder per decay, never
        # read. Not zero-size: checkpointers (orbax, used by AlgoPerf) refuse empty arrays.
        return jnp.zeros((n_fac, 1), jnp.float32)

    axes = factored_axes(shape)
    if axes is None:
        return m, rms, empty(), empty(), jnp.zeros((n_fac,) + shape, jnp.float32)
    d1, d0 = axes
    v_row = jnp.zeros((n_fac,) + tuple(np.delete(shape, d0)), jnp.float32)
    v_col = jnp.zeros((n_fac,) + tuple(np.delete(shape, d1)), jnp.float32)
    return m, rms, v_row, v_col, empty()


def update_moments(g, m, rms, v_row, v_col, v_diag):
    """One accumulator step for one tensor; ``g`` already clipped."""
    m = _ema(m, g[None], MOMENTUM_DECAYS)
    rms = _ema(rms, (g * g)[None], RMS_DECAYS)
    g2 = g * g + FACTORED_EPS
    axes = factored_axes(g.shape)
    if axes is None:
        v_diag = _ema(v_diag, g2[None], FACTORED_DECAYS)
    else:
        d1, d0 = axes
        v_row = _ema(v_row, jnp.mean(g2, axis=d0)[None], FACTORED_DECAYS)
        v_col = _ema(v_col, jnp.mean(g2, axis=d1)[None], FACTORED_DECAYS)
    return m, rms, v_row, v_col, v_diag


def safe_rsqrt(x):
    return jax.lax.rsqrt(jnp.maximum(x, 1e-9))


def factored_preconditioners(shape, v_row, v_col):
    """Broadcastable ``(row_factor, col_factor)`` of shape ``(3,) + S`` (size 1 on d0 / d1).

    ``row_factor = safe_rsqrt(v_row / (mean_{d1}(v_row) + 1e-9))``,
    ``col_factor = safe_rsqrt(v_col)``; the factored preconditioned gradient
    is ``g * row_factor * col_factor``.
    """
    d1, d0 = factored_axes(shape)
    d1_in_row = d1 - 1 if d1 > d0 else d1
    row_mean = jnp.mean(v_row, axis=1 + d1_in_row, keepdims=True)
    row_factor = safe_rsqrt(v_row / (row_mean + 1e-9))
    col_factor = safe_rsqrt(v_col)
    return jnp.expand_dims(row_factor, 1 + d0), jnp.expand_dims(col_factor, 1 + d1)
