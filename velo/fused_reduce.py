"""Several reductions in ONE pass over memory, and sums per tensor.

``[jnp.sum(f_i(x), axes) for i]`` would read ``x`` once per sum (or materialise
every ``f_i(x)``); a single variadic ``lax.reduce`` lets XLA fuse all the
elementwise producers into one loop (a multi-output reduction on GPU).
"""

from __future__ import annotations

from collections.abc import Sequence

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

  ``out[s] = sum_{i: ids[i] = s} values[i]`` (zero for an empty segment). The rows are
  per tile / band / chunk (a few per thousand parameters), never single parameter
  elements. No scatter: the segments are grouped by size rounded up to a power of two,
  each group's rows gathered into a ``(segments, width, ...)`` block (padded with a
  zero row) and summed along the width; a static permutation puts the segments back
  in order. XLA:CPU's classic code generation turns a scatter into a loop with one
  iteration per row.
  """
  ids = np.asarray(segment_ids)
  counts = np.bincount(ids, minlength=num_segments)
  rows_by_segment = np.argsort(ids, kind='stable')
  starts = np.cumsum(counts) - counts
  zero_row = values.shape[0]
  padded = jnp.concatenate([values, jnp.zeros((1,) + values.shape[1:], values.dtype)])
  widths = np.where(counts > 0, 1 << np.ceil(np.log2(np.maximum(counts, 1))).astype(np.int64), 0)
  parts, placed = [], []
  for width in np.unique(widths[counts > 0]):
    segments = np.flatnonzero(widths == width)
    position = np.arange(width)[None, :]
    index = np.where(
      position < counts[segments, None],
      rows_by_segment[np.minimum(starts[segments, None] + position, len(ids) - 1)],
      zero_row,
    )
    parts.append(jnp.sum(jnp.take(padded, jnp.asarray(index), axis=0), axis=1))
    placed.append(segments)
  empty = np.flatnonzero(counts == 0)
  if len(empty):
    parts.append(jnp.zeros((len(empty),) + values.shape[1:], values.dtype))
    placed.append(empty)
  if not parts:
    return jnp.zeros((num_segments,) + values.shape[1:], values.dtype)
  order = np.argsort(np.concatenate(placed), kind='stable')
  return jnp.take(jnp.concatenate(parts), jnp.asarray(order), axis=0)


def rows_at(table: jnp.ndarray, index) -> jnp.ndarray:
  """``table[index]`` for a static index array, kept as its own small array.

  The barrier stops XLA from fusing the gather into an elementwise pass, where
  it would be recomputed for every parameter element.
  """
  return lax.optimization_barrier(jnp.take(table, jnp.asarray(index), axis=0))
