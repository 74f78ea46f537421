"""Several full reductions in ONE pass over memory.

``jnp.mean(f(x))`` for many elementwise ``f`` would, on some XLA backends
(e.g. the CPU backend's library-call reductions), materialise every ``f(x)``
as a full-size temporary. A single variadic ``lax.reduce`` lets XLA fuse all
the elementwise producers into one loop with no temporaries.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
from jax import lax


def _add_tuples(a, b):
    return tuple(x + y for x, y in zip(a, b))


def fused_means(arrays: Sequence[jnp.ndarray]) -> list[jnp.ndarray]:
    """``[mean(a) for a in arrays]`` for same-shaped float32 arrays, as one variadic reduce."""
    arrays = [jnp.asarray(a, jnp.float32) for a in arrays]
    if not arrays:
        return []
    shape = arrays[0].shape
    if any(a.shape != shape for a in arrays):
        raise ValueError(f"fused_means needs equal shapes, got {[a.shape for a in arrays]}")
    if len(shape) == 0:
        return list(arrays)
    zeros = tuple(jnp.zeros((), jnp.float32) for _ in arrays)
    sums = lax.reduce(tuple(arrays), zeros, _add_tuples, tuple(range(arrays[0].ndim)))
    size = 1
    for dim in shape:
        size *= dim
    return [s / jnp.float32(size) for s in sums]
