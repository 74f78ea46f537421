"""VeLO's three per-element passes over the streamed matrices of :mod:`velo.layout`, block by block.

A streamed matrix (2-D, its first axis the rows, at least the layout's
``stream_threshold`` values) keeps its tiles in the state's tile arrays but is never
copied into the packed parameter and gradient arrays. Each pass reads it in blocks of
whole row bands (about the layout's ``stream_block`` values) straight from the
parameter and the gradient, cuts each block into the same tiles as
:meth:`velo.layout.TensorLayout.pack_matrix`, and runs the packed path's per-tile code
on them:

1. :func:`parameter_sums`: per tile, the row and column sums of
   :func:`velo.statistics.tile_parameter_sums` (read only).
2. :func:`update_accumulators`: the block's momenta and rms updated in place in the
   state's (donated) tile arrays, then per tile the channel sums of
   :func:`velo.statistics.tile_channel_sums` on the updated values.
3. :func:`updates`: the block's step (:func:`velo.per_param_mlp.matrix_step`), written
   as the update ``-step`` over the same rows of the gradient, which nothing reads
   afterwards: the gradient's buffer becomes the update.

Each pass is a ``lax.fori_loop`` over the blocks of complete row bands and one tail (the
remaining bands, the last possibly partial) of static size, so a step's temporaries
are a few blocks whatever the tensor's size, instead of the packed path's copies of
the whole tensor. The tensor-level statistics that a pass needs come from the pass
before it over every tensor. Per element and per tile the formulas are the packed
path's, so results equal it up to the order of float32 roundings
(``tests/test_velo_streaming.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from velo import accumulators as acc
from velo import per_param_mlp, statistics
from velo.layout import MatrixPlacement, TensorLayout


class Streamed(NamedTuple):
  """One streamed matrix: its placement, float32 parameter and gradient as ``(rows, cols)``
  (the gradient unclipped, or None)."""

  placement: MatrixPlacement
  p: jnp.ndarray
  g: jnp.ndarray | None


def inputs(layout: TensorLayout, params_leaves, grads_leaves=None) -> list[Streamed]:
  """The streamed matrices of ``layout`` from the tree leaves (views, no copies)."""
  out = []
  for pl in layout.streamed:
    g = None if grads_leaves is None else _as_rows(grads_leaves[pl.leaf], pl)
    out.append(Streamed(pl, _as_rows(params_leaves[pl.leaf], pl), g))
  return out


def _as_rows(x, pl: MatrixPlacement):
  return jnp.asarray(x, jnp.float32).reshape(pl.rows, pl.cols)


class _Block(NamedTuple):
  """Where a block of row bands lies; ``band`` may be traced, the sizes are static."""

  band: jnp.ndarray | int  # first row band of the block, within the matrix
  num_bands: int
  num_rows: int  # real rows (the last band of the tail may be partial)
  valid_rows: np.ndarray  # per tile of the block

  def first_row(self, layout):
    return self.band * layout.tile_rows

  def first_tile(self, pl: MatrixPlacement):
    return pl.first_tile + self.band * pl.col_bands

  def num_tiles(self, pl: MatrixPlacement) -> int:
    return self.num_bands * pl.col_bands


def _for_blocks(layout: TensorLayout, pl: MatrixPlacement, body: Callable, carry):
  """``carry = body(block, carry)`` over the blocks of ``pl``: a fori_loop over the blocks
  of complete row bands, then the tail."""
  R = layout.tile_rows
  band = max(1, layout.stream_block // (R * pl.col_bands * layout.tile_cols))
  complete = pl.rows // R
  num_full = complete // band
  if num_full:
    block = lambda i: _Block(i * band, band, band * R, np.full(band * pl.col_bands, R, np.int32))
    carry = jax.lax.fori_loop(0, num_full, lambda i, c: body(block(i), c), carry)
  start = num_full * band
  if start < pl.row_bands:
    num_rows = pl.rows - start * R
    bands = pl.row_bands - start
    rows = np.minimum(R, num_rows - R * np.arange(bands)).astype(np.int32)
    carry = body(_Block(start, bands, num_rows, np.repeat(rows, pl.col_bands)), carry)
  return carry


def _rows(x, layout, block: _Block):
  return jax.lax.dynamic_slice_in_dim(x, block.first_row(layout), block.num_rows, axis=0)


def _to_tiles(layout: TensorLayout, pl: MatrixPlacement, rows) -> jnp.ndarray:
  """``(num_rows, cols)`` rows of the matrix as tiles ``(bands * col_bands, R, C)``, zero-padded,
  in :meth:`~velo.layout.TensorLayout.pack_matrix` order."""
  R, C = layout.tile_rows, layout.tile_cols
  bands = -(-rows.shape[0] // R)
  x = jnp.pad(rows, ((0, bands * R - rows.shape[0]), (0, pl.col_bands * C - pl.cols)))
  return x.reshape(bands, R, pl.col_bands, C).transpose(0, 2, 1, 3).reshape(-1, R, C)


def _from_tiles(layout: TensorLayout, pl: MatrixPlacement, tiles, num_rows: int) -> jnp.ndarray:
  """Inverse of :func:`_to_tiles`."""
  R, C = layout.tile_rows, layout.tile_cols
  bands = tiles.shape[0] // pl.col_bands
  x = tiles.reshape(bands, pl.col_bands, R, C).transpose(0, 2, 1, 3)
  return x.reshape(bands * R, pl.col_bands * C)[:num_rows, : pl.cols]


def _clipped_tiles(layout, pl, g, block):
  return _to_tiles(layout, pl, jnp.clip(_rows(g, layout, block), -acc.GRAD_CLIP, acc.GRAD_CLIP))


def _write(out, value, start):
  return jax.lax.dynamic_update_slice_in_dim(out, value, start, axis=0)


def parameter_sums(layout: TensorLayout, streamed: list[Streamed]):
  """``(per_row, per_col)`` of :func:`velo.statistics.tile_parameter_sums` for every streamed
  tile, in tile order (None without streamed matrices)."""
  if not streamed:
    return None
  R, C = layout.tile_rows, layout.tile_cols
  per_row, per_col = [], []
  for s in streamed:
    pl = s.placement

    def body(block, carry, s=s, pl=pl):
      p = _to_tiles(layout, pl, _rows(s.p, layout, block))
      g = None if s.g is None else _clipped_tiles(layout, pl, s.g, block)
      rows, cols = statistics.tile_parameter_sums(p, g)
      start = block.band * pl.col_bands
      return _write(carry[0], rows, start), _write(carry[1], cols, start)

    zeros = (jnp.zeros((pl.num_tiles, R, 2), jnp.float32), jnp.zeros((pl.num_tiles, C, 2)))
    rows, cols = _for_blocks(layout, pl, body, zeros)
    per_row.append(rows)
    per_col.append(cols)
  return jnp.concatenate(per_row), jnp.concatenate(per_col)


def _band_rows(values, pl: MatrixPlacement, block: _Block):
  """Per tile of the block, its row band's entry of ``values`` (one entry per row band)."""
  start = pl.first_row_band + block.band
  rows = jax.lax.dynamic_slice_in_dim(values, start, block.num_bands, axis=0)
  return jnp.repeat(rows, pl.col_bands, axis=0)


def _band_cols(values, pl: MatrixPlacement, block: _Block):
  """Per tile of the block, its column band's entry of ``values`` (one entry per column band)."""
  cols = values[pl.first_col_band : pl.first_col_band + pl.col_bands]
  return jnp.tile(cols, (block.num_bands,) + (1,) * (values.ndim - 1))


def _block_mask(layout: TensorLayout, pl: MatrixPlacement, block: _Block):
  """The padding mask of the block's tiles, where the packed path uses one (else None)."""
  if not layout.tiles_padded:
    return None
  col_valid = np.minimum(layout.tile_cols, pl.cols - layout.tile_cols * np.arange(pl.col_bands))
  return layout.tile_mask(block.valid_rows, np.tile(col_valid, block.num_bands))


def update_accumulators(
  layout: TensorLayout,
  streamed: list[Streamed],
  momenta,
  rms,
  factors: statistics.MatrixFactors,
  shift,
):
  """``(momenta, rms, sums)``: the state's tile arrays with every streamed tile's momenta and
  rms updated (in place) from their decayed values (:func:`velo.accumulators.add_input`), and
  :func:`velo.statistics.tile_channel_sums` of the updated streamed tiles, in tile order
  (None without streamed matrices)."""
  if not streamed:
    return momenta, rms, None
  row_f2, col_f2 = jnp.square(factors.row_factors), jnp.square(factors.col_factors)
  sums = []
  for s in streamed:
    pl = s.placement

    def body(block, carry, s=s, pl=pl):
      momenta, rms, out = carry
      n, first = block.num_tiles(pl), block.first_tile(pl)
      g = _clipped_tiles(layout, pl, s.g, block)
      m = acc.add_input(
        jax.lax.dynamic_slice_in_dim(momenta, first, n, axis=1), g, acc.MOMENTUM_DECAYS
      )
      r = acc.add_input(jax.lax.dynamic_slice_in_dim(rms, first, n, axis=0), g * g, acc.RMS_DECAY)
      momenta = jax.lax.dynamic_update_slice_in_dim(momenta, m, first, axis=1)
      rms = _write(rms, r, first)
      # read back from the updated arrays: nothing reads the old values after the writes,
      # so XLA writes in place instead of copying the arrays
      block_sums = statistics.tile_channel_sums(
        g,
        jax.lax.dynamic_slice_in_dim(momenta, first, n, axis=1),
        jax.lax.dynamic_slice_in_dim(rms, first, n, axis=0),
        _band_rows(row_f2, pl, block),
        _band_cols(col_f2, pl, block),
        jnp.broadcast_to(shift[pl.leaf], (n, shift.shape[1])),
        _block_mask(layout, pl, block),
      )
      return momenta, rms, _write(out, block_sums, block.band * pl.col_bands)

    width = statistics.NUM_MATRIX_SUMS
    carry = (momenta, rms, jnp.zeros((pl.num_tiles, width), jnp.float32))
    momenta, rms, out = _for_blocks(layout, pl, body, carry)
    sums.append(out)
  return momenta, rms, jnp.concatenate(sums)


def updates(
  layout: TensorLayout, streamed: list[Streamed], momenta, rms, table, band_rows, band_cols
):
  """``(momenta, rms, updates)``: per streamed leaf its update ``-step`` as ``(rows, cols)``,
  written over its gradient.

  ``momenta`` / ``rms``: the updated tile arrays, read here and handed back unchanged (carried
  through the loops, so that XLA never copies them); ``table``: the per-tensor coefficients
  (:func:`velo.per_param_mlp.coefficient_table`); ``band_rows`` / ``band_cols``: the
  :func:`velo.per_param_mlp.band_inputs`.
  """
  out = {}
  for s in streamed:
    pl = s.placement

    def body(block, carry, s=s, pl=pl):
      g, momenta, rms = carry
      n, first = block.num_tiles(pl), block.first_tile(pl)
      step = per_param_mlp.matrix_step(
        jnp.broadcast_to(table[pl.leaf], (n, table.shape[1])),
        _band_rows(band_rows, pl, block),
        _band_cols(band_cols, pl, block),
        _to_tiles(layout, pl, _rows(s.p, layout, block)),
        _clipped_tiles(layout, pl, g, block),
        jax.lax.dynamic_slice_in_dim(momenta, first, n, axis=1),
        jax.lax.dynamic_slice_in_dim(rms, first, n, axis=0),
      )
      update = -_from_tiles(layout, pl, step, block.num_rows)
      return _write(g, update, block.first_row(layout)), momenta, rms

    out[pl.leaf], momenta, rms = _for_blocks(layout, pl, body, (s.g, momenta, rms))
  return momenta, rms, out
