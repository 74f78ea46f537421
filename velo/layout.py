"""Where every parameter tensor lives in VeLO's packed storage.

XLA compiles one program per distinct array shape, and VeLO's per-element work
is a large program; compiling it once per tensor shape cost minutes on
ResNet-50-shaped trees. So every tensor is copied into one of two uniform
arrays, and each of VeLO's per-element passes runs once over each array:

* **matrices** (tensors with >= 2 axes; VeLO factors their second moments over
  its axes d0 = largest and d1 = second largest). The two factored axes become
  the rows and columns of a matrix, the remaining axes a batch of matrices. Each
  matrix is zero-padded to whole tiles of ``tile_rows x tile_cols`` and cut into
  tiles; all tiles form one ``(num_tiles, tile_rows, tile_cols)`` array.
  Normally the later factored axis in memory becomes the columns (no transpose,
  only a reshape); the other orientation is taken when it pads much less.
* **vectors** (fewer than 2 axes; scalars count as shape ``(1,)``): flattened and
  zero-padded to whole chunks of :data:`CHUNK`; one ``(num_chunks, CHUNK)`` array.

Each matrix row belongs to a *row band* (``tile_rows`` consecutive rows of one
matrix), each column to a *column band*; a tile is the crossing of one row band
and one column band. Per-row values (VeLO's factored accumulator for the axis
that indexes rows, and factors derived from it) are stored band by band in a
``(num_row_bands, tile_rows)`` array, per-column values in
``(num_col_bands, tile_cols)``; a tile's rows and columns are then the rows of
those arrays at its band indices (gathers of whole band rows, never of single
elements).

The tile shape is chosen per tree from :data:`TILE_SHAPES` to minimise the
padded size plus the per-tile vectors read by the passes. Tiles of small
matrices come first (concatenated, cheap to compile; into a donated tile buffer
in runs of at most :data:`SMALL_GROUP` values, each written in place, so that the
temporaries stay small); each large matrix is then written in place. Padding is zero and
stays zero (zero gradient keeps zero accumulators); statistics that a zero
would corrupt are masked with the per-tile counts of real rows and columns.
Tensors with a tiny factored axis next to a huge one are the costly case (up to
``tile_rows`` times their size).

**Streamed matrices.** A 2-D tensor of at least ``stream_threshold`` values whose
natural orientation is kept (rows = its first axis) is *streamed*: its tiles keep
their place in the state's tile arrays (after every other tile) but are never
copied into the packed parameter and gradient arrays, which then hold the other
:attr:`TensorLayout.num_packed_tiles` tiles only. VeLO's passes read such a
tensor in blocks of whole row bands straight from the parameter and gradient
(:mod:`velo.streaming`), so a step's temporaries no longer grow with it: on
AlgoPerf's criteo1tb (one 4,194,304 x 128 embedding table, 99.6 % of the
parameters) the packed copies were 2 of the step's 3 parameter-sized temporaries.
:data:`STREAM_THRESHOLD` (2^26 values, 256 MiB in float32) leaves every other
AlgoPerf tensor (the largest: wmt's 33 M-value embedding) on the packed path,
whose single fused pass is faster.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization

#: Candidate ``(tile_rows, tile_cols)``; the first minimising :func:`_cost` is used.
TILE_SHAPES = ((32, 128), (16, 64), (8, 32))
#: Values per chunk of the vector class.
CHUNK = 128
#: Floats read per tile besides its elements: 7 per row and per column (see
#: :mod:`velo.per_param_mlp`) and about 110 per-tile coefficients.
_VALUES_PER_BAND_ENTRY = 7
_VALUES_PER_TILE = 110
#: The transposed orientation is used only if it pads at least this much less.
_TRANSPOSE_GAIN = 0.75
#: Matrices up to this many values are packed together by one concatenation (cheap to
#: compile); larger ones are each written in place into the tile array (one copy).
SMALL_TENSOR = 1 << 18
#: Small matrices are concatenated in runs of at most this many values (tiles included).
SMALL_GROUP = 1 << 20
#: Default size (values) from which a 2-D tensor is streamed (see the module docstring);
#: ``None`` streams nothing.
STREAM_THRESHOLD = 1 << 26
#: Default values per block of a streamed matrix (whole row bands; at least one band).
STREAM_BLOCK = 1 << 21


def factored_axes(shape: Sequence[int]) -> tuple[int, int] | None:
  """``(d1, d0)``: VeLO's second largest and largest axis (ascending stable argsort,
  ties to the later axis), or None for fewer than 2 axes."""
  if len(shape) < 2:
    return None
  order = np.argsort(np.asarray(shape), kind='stable')
  return int(order[-2]), int(order[-1])


def _round_up(n: int, multiple: int) -> int:
  return -(-n // multiple) * multiple


@dataclasses.dataclass(frozen=True)
class MatrixPlacement:
  """One tensor with >= 2 axes, as ``batch`` matrices of ``rows x cols``.

  ``perm`` transposes the tensor to ``batch axes + (row axis, col axis)``;
  ``cols_are_d0``: the columns run along VeLO's d0, so the per-row accumulator
  (mean over columns) is VeLO's ``v_row`` and the per-column one its ``v_col``;
  otherwise the other way round.
  """

  leaf: int
  shape: tuple[int, ...]
  perm: tuple[int, ...]
  batch: int
  rows: int
  cols: int
  cols_are_d0: bool
  row_bands: int  # per matrix
  col_bands: int  # per matrix
  first_tile: int
  first_row_band: int
  first_col_band: int
  first_matrix: int

  @property
  def num_tiles(self) -> int:
    return self.batch * self.row_bands * self.col_bands

  @property
  def batch_axes(self) -> tuple[int, ...]:
    return self.perm[:-2]


@dataclasses.dataclass(frozen=True)
class VectorPlacement:
  """One tensor with < 2 axes, flattened into ``num_chunks`` chunks from ``first_chunk``."""

  leaf: int
  shape: tuple[int, ...]
  size: int
  first_chunk: int
  num_chunks: int


def _orientations(shape):
  """``(perm, rows, cols, cols_are_d0)`` for a tensor with >= 2 axes: the later factored
  axis as columns (natural: no transpose when the factored axes are the last two), or
  the earlier one."""
  d1, d0 = factored_axes(shape)
  low, high = sorted((d1, d0))
  others = tuple(a for a in range(len(shape)) if a not in (d1, d0))
  return [
    (others + (low, high), shape[low], shape[high], high == d0),
    (others + (high, low), shape[high], shape[low], low == d0),
  ]


def _padded(rows, cols, tile_rows, tile_cols):
  return _round_up(rows, tile_rows) * _round_up(cols, tile_cols)


def _choose_orientation(shape, tile_rows, tile_cols):
  natural, swapped = _orientations(shape)
  size = lambda o: _padded(o[1], o[2], tile_rows, tile_cols)
  return swapped if size(swapped) < _TRANSPOSE_GAIN * size(natural) else natural


def is_streamed(shape, tile_rows, tile_cols, stream_threshold) -> bool:
  """Whether a tensor is streamed: 2-D, at least ``stream_threshold`` values, natural
  orientation (its first axis the rows)."""
  return (
    stream_threshold is not None
    and len(shape) == 2
    and math.prod(shape) >= stream_threshold
    and _choose_orientation(shape, tile_rows, tile_cols)[0] == (0, 1)
  )


def _cost(shapes, tile_rows, tile_cols) -> int:
  total = 0
  for shape in shapes:
    if len(shape) < 2:
      continue
    _, rows, cols, _ = _choose_orientation(shape, tile_rows, tile_cols)
    batch = math.prod(shape) // (rows * cols) if rows * cols else 0
    tiles = (
      batch * (_round_up(rows, tile_rows) // tile_rows) * (_round_up(cols, tile_cols) // tile_cols)
    )
    total += tiles * (
      tile_rows * tile_cols + _VALUES_PER_TILE + _VALUES_PER_BAND_ENTRY * (tile_rows + tile_cols)
    )
  return total


class TensorLayout:
  """The packing of one parameter tree (see the module docstring).

  Built by :func:`tensor_layout`; equal trees (structure, shapes) give the same
  object, so it can be static data of a jitted state. Index arrays are numpy
  constants, one entry per tile / band / chunk / tensor (tensors in tree-leaf order).
  """

  def __init__(
    self,
    treedef,
    shapes: tuple[tuple[int, ...], ...],
    stream_threshold=None,
    stream_block: int = STREAM_BLOCK,
  ):
    self.treedef = treedef
    self.shapes = shapes
    self.stream_threshold = stream_threshold
    self.stream_block = stream_block
    self.num_tensors = len(shapes)
    self.tile_rows, self.tile_cols = min(TILE_SHAPES, key=lambda t: _cost(shapes, *t))
    matrices, vectors = [], []
    tile = row_band = col_band = matrix = chunk = 0
    streamed = [is_streamed(s, self.tile_rows, self.tile_cols, stream_threshold) for s in shapes]
    # small matrices first: their tiles form blocks that are packed by concatenations;
    # streamed ones last: the packed arrays are then a prefix of the tile arrays
    order = sorted(
      range(len(shapes)), key=lambda i: (streamed[i], math.prod(shapes[i]) > SMALL_TENSOR)
    )
    for leaf in order:
      shape = shapes[leaf]
      if len(shape) >= 2:
        perm, rows, cols, cols_are_d0 = _choose_orientation(shape, self.tile_rows, self.tile_cols)
        batch = math.prod(shape) // (rows * cols) if rows * cols else 0
        placement = MatrixPlacement(
          leaf=leaf,
          shape=shape,
          perm=perm,
          batch=batch,
          rows=rows,
          cols=cols,
          cols_are_d0=cols_are_d0,
          row_bands=-(-rows // self.tile_rows),
          col_bands=-(-cols // self.tile_cols),
          first_tile=tile,
          first_row_band=row_band,
          first_col_band=col_band,
          first_matrix=matrix,
        )
        matrices.append(placement)
        tile += placement.num_tiles
        row_band += batch * placement.row_bands
        col_band += batch * placement.col_bands
        matrix += batch
    for leaf, shape in enumerate(shapes):
      if len(shape) < 2:
        size = max(1, math.prod(shape))
        vectors.append(
          VectorPlacement(
            leaf=leaf, shape=shape, size=size, first_chunk=chunk, num_chunks=-(-size // CHUNK)
          )
        )
        chunk += vectors[-1].num_chunks
    self.matrices: tuple[MatrixPlacement, ...] = tuple(matrices)
    self.vectors: tuple[VectorPlacement, ...] = tuple(vectors)
    #: The streamed matrices (their tiles last) and the others, whose tiles are packed.
    self.streamed = tuple(pl for pl in matrices if streamed[pl.leaf])
    self.packed_matrices = tuple(pl for pl in matrices if not streamed[pl.leaf])
    self.num_tiles, self.num_row_bands, self.num_col_bands = tile, row_band, col_band
    #: Tiles of the packed arrays: the first ``num_packed_tiles`` of the tile arrays.
    self.num_packed_tiles = self.streamed[0].first_tile if self.streamed else self.num_tiles
    self.num_matrices, self.num_chunks = matrix, chunk
    self._build_indices()

  def _key(self):
    streamed = tuple(pl.leaf for pl in self.streamed)
    return (self.treedef, self.shapes, streamed, self.stream_block if streamed else None)

  def __eq__(self, other):
    return isinstance(other, TensorLayout) and self._key() == other._key()

  def __hash__(self):
    return hash(self._key())

  def __repr__(self):
    return (
      f'TensorLayout({self.num_tensors} tensors: {self.num_tiles} tiles of '
      f'{self.tile_rows}x{self.tile_cols}, {self.num_chunks} chunks of {CHUNK}'
      f'{f", {len(self.streamed)} streamed" if self.streamed else ""})'
    )

  def _build_indices(self):
    i32 = lambda x: np.asarray(x, np.int32)
    tile_tensor, tile_row_band, tile_col_band, tile_rows, tile_cols = [], [], [], [], []
    row_band_tensor, row_band_matrix, row_band_valid, row_band_is_v_row = [], [], [], []
    col_band_tensor, col_band_matrix, col_band_valid, col_band_is_v_row = [], [], [], []
    matrix_tensor, matrix_row_count, matrix_col_count = [], [], []
    R, C = self.tile_rows, self.tile_cols
    for pl in self.matrices:
      for b in range(pl.batch):
        matrix = pl.first_matrix + b
        matrix_tensor.append(pl.leaf)
        matrix_row_count.append(pl.rows)
        matrix_col_count.append(pl.cols)
        for i in range(pl.row_bands):
          row_band_tensor.append(pl.leaf)
          row_band_matrix.append(matrix)
          row_band_valid.append(min(R, pl.rows - i * R))
          row_band_is_v_row.append(pl.cols_are_d0)
        for j in range(pl.col_bands):
          col_band_tensor.append(pl.leaf)
          col_band_matrix.append(matrix)
          col_band_valid.append(min(C, pl.cols - j * C))
          col_band_is_v_row.append(not pl.cols_are_d0)
        for i in range(pl.row_bands):
          for j in range(pl.col_bands):
            tile_tensor.append(pl.leaf)
            tile_row_band.append(pl.first_row_band + b * pl.row_bands + i)
            tile_col_band.append(pl.first_col_band + b * pl.col_bands + j)
            tile_rows.append(min(R, pl.rows - i * R))
            tile_cols.append(min(C, pl.cols - j * C))
    self.tile_tensor, self.tile_row_band, self.tile_col_band = (
      i32(tile_tensor),
      i32(tile_row_band),
      i32(tile_col_band),
    )
    self.tile_valid_rows, self.tile_valid_cols = i32(tile_rows), i32(tile_cols)
    #: Whether any tile holds padding (else the passes need no mask).
    self.tiles_padded = bool(np.any(self.tile_valid_rows < R) or np.any(self.tile_valid_cols < C))
    self.row_band_tensor, self.row_band_matrix = i32(row_band_tensor), i32(row_band_matrix)
    self.row_band_valid = i32(row_band_valid)
    self.row_band_is_v_row = np.asarray(row_band_is_v_row, bool)
    self.col_band_tensor, self.col_band_matrix = i32(col_band_tensor), i32(col_band_matrix)
    self.col_band_valid = i32(col_band_valid)
    self.col_band_is_v_row = np.asarray(col_band_is_v_row, bool)
    self.matrix_tensor = i32(matrix_tensor)
    self.matrix_rows, self.matrix_cols = i32(matrix_row_count), i32(matrix_col_count)
    chunk_tensor, chunk_valid = [], []
    for pl in self.vectors:
      for c in range(pl.num_chunks):
        chunk_tensor.append(pl.leaf)
        chunk_valid.append(min(CHUNK, pl.size - c * CHUNK))
    self.chunk_tensor, self.chunk_valid = i32(chunk_tensor), i32(chunk_valid)
    self.tensor_size = np.asarray([max(1, math.prod(s)) for s in self.shapes], np.float32)
    self.tensor_is_matrix = np.asarray([len(s) >= 2 for s in self.shapes], bool)
    #: VeLO's rank feature: the number of axes of size > 1.
    self.tensor_rank = i32([sum(d > 1 for d in s) for s in self.shapes])
    # entries of VeLO's v_row (over d1 and the batch) and v_col (over d0 and the batch)
    v_row_count = np.ones(self.num_tensors, np.float32)
    v_col_count = np.ones(self.num_tensors, np.float32)
    for pl in self.matrices:
      along_rows, along_cols = pl.batch * pl.rows, pl.batch * pl.cols
      v_row_count[pl.leaf] = along_rows if pl.cols_are_d0 else along_cols
      v_col_count[pl.leaf] = along_cols if pl.cols_are_d0 else along_rows
    self.tensor_v_row_count, self.tensor_v_col_count = v_row_count, v_col_count
    self.tensor_cols_are_d0 = np.zeros(self.num_tensors, bool)
    for pl in self.matrices:
      self.tensor_cols_are_d0[pl.leaf] = pl.cols_are_d0
    # per band: how many values its accumulator averages (the matrix's other dimension)
    self.row_band_mean_count = np.asarray(self.matrix_cols, np.float32)[self.row_band_matrix]
    self.col_band_mean_count = np.asarray(self.matrix_rows, np.float32)[self.col_band_matrix]

  # --- masks -----------------------------------------------------------------------------

  def tile_mask(self, valid_rows=None, valid_cols=None) -> jnp.ndarray:
    """``(tiles, tile_rows, tile_cols)`` bool: real (not padding) elements of the tiles
    with these counts of real rows and columns (default: all tiles of the layout)."""
    valid_rows = self.tile_valid_rows if valid_rows is None else valid_rows
    valid_cols = self.tile_valid_cols if valid_cols is None else valid_cols
    rows = jnp.arange(self.tile_rows)[None, :, None] < jnp.asarray(valid_rows)[:, None, None]
    cols = jnp.arange(self.tile_cols)[None, None, :] < jnp.asarray(valid_cols)[:, None, None]
    return rows & cols

  def row_band_mask(self) -> jnp.ndarray:
    """``(num_row_bands, tile_rows)`` bool."""
    return jnp.arange(self.tile_rows)[None, :] < jnp.asarray(self.row_band_valid)[:, None]

  def col_band_mask(self) -> jnp.ndarray:
    """``(num_col_bands, tile_cols)`` bool."""
    return jnp.arange(self.tile_cols)[None, :] < jnp.asarray(self.col_band_valid)[:, None]

  def chunk_mask(self) -> jnp.ndarray:
    """``(num_chunks, CHUNK)`` bool."""
    return jnp.arange(CHUNK)[None, :] < jnp.asarray(self.chunk_valid)[:, None]

  # --- packing ---------------------------------------------------------------------------

  def pack_matrix(self, pl: MatrixPlacement, x) -> jnp.ndarray:
    """One tensor's tiles, ``(pl.num_tiles, tile_rows, tile_cols)``."""
    R, C = self.tile_rows, self.tile_cols
    x = jnp.transpose(x, pl.perm).reshape(pl.batch, pl.rows, pl.cols)
    x = jnp.pad(x, ((0, 0), (0, pl.row_bands * R - pl.rows), (0, pl.col_bands * C - pl.cols)))
    x = x.reshape(pl.batch, pl.row_bands, R, pl.col_bands, C).transpose(0, 1, 3, 2, 4)
    return x.reshape(pl.num_tiles, R, C)

  def unpack_matrix(self, pl: MatrixPlacement, tiles) -> jnp.ndarray:
    """Inverse of :meth:`pack_matrix`: the tensor in its own shape."""
    R, C = self.tile_rows, self.tile_cols
    x = tiles.reshape(pl.batch, pl.row_bands, pl.col_bands, R, C).transpose(0, 1, 3, 2, 4)
    x = x.reshape(pl.batch, pl.row_bands * R, pl.col_bands * C)[:, : pl.rows, : pl.cols]
    x = x.reshape(tuple(pl.shape[a] for a in pl.perm))
    return jnp.transpose(x, np.argsort(pl.perm))

  def pack(self, leaves, tiles_into=None) -> tuple[jnp.ndarray | None, jnp.ndarray | None]:
    """``(tiles, chunks)`` of float32 ``leaves`` (None for an empty class); ``tiles`` holds
    the :attr:`num_packed_tiles` tiles of the matrices that are not streamed.

    Small matrices and all vectors are concatenated; each large matrix is written
    into the tile array in place (a concatenation would copy it twice, as XLA
    materialises the reshaped operand first). The writes cover every tile, padding
    included, so the tile array can be any ``tiles_into`` of its shape: a donated
    buffer is then rewritten in place instead of a fresh temporary (whose pages the
    system would have to map again at every step).
    """
    tiles = chunks = None
    if self.packed_matrices:
      small = [pl for pl in self.packed_matrices if math.prod(pl.shape) <= SMALL_TENSOR]
      large = self.packed_matrices[len(small) :]
      concat = lambda group: jnp.concatenate(
        [self.pack_matrix(pl, leaves[pl.leaf]) for pl in group]
      )
      if not large and tiles_into is None:
        tiles = concat(small)
      else:
        tiles = (
          jnp.zeros((self.num_packed_tiles, self.tile_rows, self.tile_cols), jnp.float32)
          if tiles_into is None
          else tiles_into
        )
        parts = [
          (group[0].first_tile, concat(group))
          for group in _groups(small, self.tile_rows * self.tile_cols)
        ]
        parts += [(pl.first_tile, self.pack_matrix(pl, leaves[pl.leaf])) for pl in large]
        for start, part in parts:
          tiles = jax.lax.dynamic_update_slice(tiles, part, (start, 0, 0))
    if self.vectors:
      parts = []
      for pl in self.vectors:
        parts.append(jnp.reshape(leaves[pl.leaf], (-1,)))
        if pl.num_chunks * CHUNK > pl.size:
          parts.append(jnp.zeros((pl.num_chunks * CHUNK - pl.size,), jnp.float32))
      chunks = jnp.concatenate(parts).reshape(self.num_chunks, CHUNK)
    return tiles, chunks

  def unpack(self, tiles, chunks) -> list[jnp.ndarray]:
    """Inverse of :meth:`pack`: float32 leaves in tree-leaf order (None for a streamed one)."""
    leaves: list = [None] * self.num_tensors
    for pl in self.packed_matrices:
      leaves[pl.leaf] = self.unpack_matrix(pl, tiles[pl.first_tile : pl.first_tile + pl.num_tiles])
    for pl in self.vectors:
      leaves[pl.leaf] = self.unpack_vector(pl, chunks)
    return leaves

  @staticmethod
  def unpack_vector(pl: VectorPlacement, chunks) -> jnp.ndarray:
    """One vector tensor, in its own shape, from ``(num_chunks, CHUNK)`` storage."""
    flat = chunks[pl.first_chunk : pl.first_chunk + pl.num_chunks].reshape(-1)[: pl.size]
    return flat.reshape(pl.shape)

  def unpack_row_vector(self, pl: MatrixPlacement, bands) -> jnp.ndarray:
    """A matrix tensor's per-row values from ``(num_row_bands, tile_rows)`` band storage,
    in the shape of the tensor without its column axis (axes in original order)."""
    n = pl.batch * pl.row_bands
    x = bands[pl.first_row_band : pl.first_row_band + n].reshape(pl.batch, -1)[:, : pl.rows]
    return self._unbatch(pl, x, pl.perm[-2])

  def unpack_col_vector(self, pl: MatrixPlacement, bands) -> jnp.ndarray:
    """Like :meth:`unpack_row_vector` for the per-column values (the row axis dropped)."""
    n = pl.batch * pl.col_bands
    x = bands[pl.first_col_band : pl.first_col_band + n].reshape(pl.batch, -1)[:, : pl.cols]
    return self._unbatch(pl, x, pl.perm[-1])

  @staticmethod
  def _unbatch(pl: MatrixPlacement, x, kept_axis: int):
    axes = pl.batch_axes + (kept_axis,)
    x = x.reshape(tuple(pl.shape[a] for a in axes))
    return jnp.transpose(x, np.argsort(axes))


def _groups(placements, tile_size: int):
  """Consecutive runs of ``placements`` of at most :data:`SMALL_GROUP` values (of tiles)
  each; every run is concatenated and written in place on its own, so that the
  temporaries stay small."""
  groups, size = [], 0
  for pl in placements:
    n = pl.num_tiles * tile_size
    if groups and size + n <= SMALL_GROUP:
      groups[-1].append(pl)
      size += n
    else:
      groups.append([pl])
      size = n
  return groups


@functools.lru_cache(maxsize=64)
def _layout_for(treedef, shapes, stream_threshold, stream_block) -> TensorLayout:
  return TensorLayout(treedef, shapes, stream_threshold, stream_block)


def tensor_layout(
  params, stream_threshold: int | None = None, stream_block: int = STREAM_BLOCK
) -> TensorLayout:
  """The layout of a parameter tree, streaming the 2-D tensors of at least
  ``stream_threshold`` values (None: none) in blocks of about ``stream_block`` values;
  cached: equal trees give the same object."""
  leaves, treedef = jax.tree_util.tree_flatten(params)
  shapes = tuple(tuple(int(d) for d in np.shape(x)) for x in leaves)
  return _layout_for(treedef, shapes, stream_threshold, stream_block)


# Static data of the optimizer state: no leaves for jax, nothing to save in a checkpoint.
jax.tree_util.register_static(TensorLayout)
serialization.register_serialization_state(
  TensorLayout, lambda layout: {}, lambda layout, state: layout
)
