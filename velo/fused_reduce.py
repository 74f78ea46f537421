"""Several reductions in ONE pass over memory, and sums per tensor.

``[jnp.sum(f_i(x), axes) for i]`` would read ``x`` once per sum (or materialise
every ``f_i(x)``); a single variadic ``lax.reduce`` lets XLA fuse all the
elementwise producers into one loop (a multi-output reduction on GPU).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax


def _add_tuples(a, b):
  return tuple(x + y for x, y in zip(a, b))


def fused_sums(arrays: Sequence[jnp.ndarray], axes: Sequence[int]) -> jnp.ndarray:
  """``stack([sum(a, axes) for a in arrays], axis=-1)`` for same-shaped arrays, one variadic reduce."""
  arrays = [jnp.asarray(a, jnp.float32) for a in arrays]
  shape = arrays[0].shape
  if any(a.shape != shape for a in arrays):
    raise ValueError(f'fused_sums needs equal shapes, got {[a.shape for a in arrays]}')
  zeros = tuple(jnp.zeros((), jnp.float32) for _ in arrays)
  sums = lax.reduce(tuple(arrays), zeros, _add_tuples, tuple(axes))
  return jnp.stack(sums, axis=-1)


def segment_sums(values: jnp.ndarray, segment_ids, num_segments: int) -> jnp.ndarray:
  """Rows of ``values`` summed per segment (``segment_ids``: a static numpy array, one per row).

  The rows are per tile / band / chunk (a few per thousand parameters), so this
  scatter is small; it never touches single parameter elements.
  """
  ids = np.asarray(segment_ids)
  return jax.ops.segment_sum(
    values,
    jnp.asarray(ids),
    num_segments=num_segments,
    indices_are_sorted=bool(np.all(np.diff(ids) >= 0)),
  )


def rows_at(table: jnp.ndarray, index) -> jnp.ndarray:
  """``table[index]`` for a static index array, kept as its own small array.

  The barrier stops XLA from fusing the gather into an elementwise pass, where
  it would be recomputed for every parameter element.
  """
  return lax.optimization_barrier(jnp.take(table, jnp.asarray(index), axis=0))
