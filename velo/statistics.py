"""Per-tensor statistics of one VeLO step, computed on the packed arrays of :mod:`velo.layout`.

Every quantity is a sum per tile (or chunk), added up per tensor; a mean
divides by the tensor's real element count, so padding (zeros, or masked where
a zero would not vanish) never counts. Two passes over the parameters per class:

* :func:`parameter_sums` (before the update): ``sum p^2``, ``sum g``, ``sum g^2``,
  and per matrix row / column the sum of ``g^2`` along the other axis (for the
  factored accumulators).
* :func:`channel_sums` (after the update, on the new accumulators): the sums of
  squares of the per-parameter MLP's full-size input channels, and the
  statistics of the new momenta and rms that the LSTM needs at the NEXT step
  (:class:`AccumulatorStats`). The accumulators are only ever read after their
  in-place update, so XLA never has to keep old and new copies.

The LSTM's variance features need ``sum (m_k - mean(m_k))^2``; one pass suffices
because the mean of the new momentum is known before the pass, exactly up to
rounding: ``mean(m_k') = b_k mean(m_k) + (1 - b_k) mean(g)``. The sums are taken
around that shift ``a_k`` and corrected with the directly summed mean ``c_k``:
``sum (x - c)^2 = sum (x - a)^2 - n (c - a)^2`` (no cancellation, as ``a ~ c``).
The rms variance (centred on ``c_k``) comes from ``mean(rms^2)`` and ``mean(rms)``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from velo import accumulators as acc
from velo.fused_reduce import fused_sums, rows_at, segment_sums
from velo.layout import TensorLayout

CLIP_SMALL = 0.1
RMS_EPS = 1e-6
FACTORED_RSQRT_EPS = 1e-8
DIAG_RSQRT_EPS = 1e-9
NUM_DECAYS = len(acc.MOMENTUM_DECAYS)


class MatrixArrays(NamedTuple):
  """Packed inputs and state of the matrix class (tiles ``(T, R, C)``)."""

  p: jnp.ndarray
  g: jnp.ndarray
  momenta: jnp.ndarray  # (3, T, R, C)
  rms: jnp.ndarray  # (T, R, C)
  per_row: jnp.ndarray  # (num_row_bands, 3, R): factored accumulator of each matrix row
  per_col: jnp.ndarray  # (num_col_bands, 3, C)


class VectorArrays(NamedTuple):
  """Packed inputs and state of the vector class (chunks ``(U, CHUNK)``)."""

  p: jnp.ndarray
  g: jnp.ndarray
  momenta: jnp.ndarray  # (3, U, CHUNK)
  rms: jnp.ndarray
  diag: jnp.ndarray  # (3, U, CHUNK)


class AccumulatorStats(NamedTuple):
  """Per tensor, statistics of the momenta and rms (unscaled, over real elements)."""

  mean_m: jnp.ndarray  # (n, 3) mean(m_k)
  var_m: jnp.ndarray  # (n, 3) mean((m_k - mean(m_k))^2)
  mean_rms: jnp.ndarray  # (n,)
  var_rms: jnp.ndarray  # (n, 3) mean((rms - mean(m_k))^2): centred on the MOMENTUM mean


def zero_stats(n: int) -> AccumulatorStats:
  """Statistics of zero accumulators."""
  return AccumulatorStats(
    jnp.zeros((n, NUM_DECAYS), jnp.float32),
    jnp.zeros((n, NUM_DECAYS), jnp.float32),
    jnp.zeros((n,), jnp.float32),
    jnp.zeros((n, NUM_DECAYS), jnp.float32),
  )


class ParameterSums(NamedTuple):
  """Per tensor means before the update, and the factored accumulators' inputs."""

  mean_p2: jnp.ndarray  # (n,)
  mean_g: jnp.ndarray  # (n,)
  mean_g2: jnp.ndarray  # (n,)
  row_g2: jnp.ndarray | None  # (num_row_bands, R): sum of g^2 over each matrix row
  col_g2: jnp.ndarray | None  # (num_col_bands, C)


def _per_tensor(layout: TensorLayout, tile_values, chunk_values):
  """``(n, k)`` sums per tensor from per-tile ``(T, k)`` and per-chunk ``(U, k)`` sums."""
  values = [v for v in (tile_values, chunk_values) if v is not None]
  ids = [
    i
    for v, i in ((tile_values, layout.tile_tensor), (chunk_values, layout.chunk_tensor))
    if v is not None
  ]
  return segment_sums(jnp.concatenate(values), np.concatenate(ids), layout.num_tensors)


def tile_parameter_sums(p_tiles, g_tiles):
  """Per tile ``(per_row, per_col)``: ``(T, R, 2)`` row sums of ``p^2`` and ``g^2``, ``(T, C, 2)``
  column sums of ``g`` and ``g^2`` (two multi-output reductions, one along each tile axis;
  ``g_tiles`` None: zeros)."""
  g = jnp.zeros_like(p_tiles) if g_tiles is None else g_tiles
  return fused_sums([jnp.square(p_tiles), jnp.square(g)], (2,)), fused_sums(
    [g, jnp.square(g)], (1,)
  )


def parameter_sums(
  layout: TensorLayout, p_tiles, g_tiles, p_chunks, g_chunks, streamed=None
) -> ParameterSums:
  """Sums of ``p^2``, ``g`` and ``g^2`` per tensor (``g`` or ``p_*`` may be None: zeros).

  ``p_tiles`` / ``g_tiles``: the packed tiles; ``streamed``: the :func:`tile_parameter_sums`
  of the streamed tiles, which follow them (:mod:`velo.streaming`)."""
  tile_sums = chunk_sums = row_g2 = col_g2 = None
  parts = [] if p_tiles is None else [tile_parameter_sums(p_tiles, g_tiles)]
  parts += [] if streamed is None else [streamed]
  if parts:
    per_row = jnp.concatenate([r for r, _ in parts]) if len(parts) > 1 else parts[0][0]
    per_col = jnp.concatenate([c for _, c in parts]) if len(parts) > 1 else parts[0][1]
    tile_sums = jnp.stack(
      [
        jnp.sum(per_row[:, :, 0], axis=1),
        jnp.sum(per_col[:, :, 0], axis=1),
        jnp.sum(per_row[:, :, 1], axis=1),
      ],
      axis=1,
    )
    row_g2 = segment_sums(per_row[:, :, 1], layout.tile_row_band, layout.num_row_bands)
    col_g2 = segment_sums(per_col[:, :, 1], layout.tile_col_band, layout.num_col_bands)
  if p_chunks is not None:
    g = jnp.zeros_like(p_chunks) if g_chunks is None else g_chunks
    chunk_sums = fused_sums([jnp.square(p_chunks), g, jnp.square(g)], (1,))
  means = _per_tensor(layout, tile_sums, chunk_sums) / jnp.asarray(layout.tensor_size)[:, None]
  return ParameterSums(means[:, 0], means[:, 1], means[:, 2], row_g2, col_g2)


def param_scale_inverse(mean_p2):
  """``s = rsqrt(max(1e-9, mean(p^2)))``, the LSTM features' parameter scale."""
  return jax.lax.rsqrt(jnp.maximum(1e-9, mean_p2))


def momentum_mean_shift(stats: AccumulatorStats, sums: ParameterSums) -> jnp.ndarray:
  """``(n, 3)``: the mean of the NEW momenta, ``b_k mean(m_k) + (1 - b_k) mean(g)``."""
  b = jnp.asarray(acc.MOMENTUM_DECAYS, jnp.float32)
  return b * stats.mean_m + (1 - b) * sums.mean_g[:, None]


class MatrixFactors(NamedTuple):
  """Updated factored accumulators and the preconditioner factors, per row / column band."""

  per_row: jnp.ndarray  # (num_row_bands, 3, R)
  per_col: jnp.ndarray  # (num_col_bands, 3, C)
  row_factors: jnp.ndarray  # (num_row_bands, 3, R)
  col_factors: jnp.ndarray  # (num_col_bands, 3, C)


def _factors(layout, values, is_v_row, band_matrix, counts):
  """Row factor for bands holding VeLO's ``v_row`` (its mean taken per matrix), else column factor."""
  per_matrix = segment_sums(jnp.sum(values, axis=2), band_matrix, layout.num_matrices)
  mean = (per_matrix / jnp.asarray(counts, jnp.float32)[:, None])[jnp.asarray(band_matrix)]
  return jnp.where(
    jnp.asarray(is_v_row)[:, None, None],
    acc.row_factor(values, mean[:, :, None]),
    acc.col_factor(values),
  )


def update_factored(layout: TensorLayout, per_row, per_col, sums: ParameterSums) -> MatrixFactors:
  """New per-row / per-column accumulators (padding kept at zero) and their factors.

  A band that holds VeLO's ``v_row`` gets the row factor (normalised by the mean
  of ``v_row`` over its matrix), one that holds ``v_col`` the column factor.
  """
  row_mean_g2 = sums.row_g2 / jnp.asarray(layout.row_band_mean_count)[:, None] + acc.FACTORED_EPS
  col_mean_g2 = sums.col_g2 / jnp.asarray(layout.col_band_mean_count)[:, None] + acc.FACTORED_EPS
  per_row = jnp.where(
    layout.row_band_mask()[:, None, :], acc.update_stacked(per_row, row_mean_g2), 0.0
  )
  per_col = jnp.where(
    layout.col_band_mask()[:, None, :], acc.update_stacked(per_col, col_mean_g2), 0.0
  )
  return MatrixFactors(
    per_row,
    per_col,
    _factors(layout, per_row, layout.row_band_is_v_row, layout.row_band_matrix, layout.matrix_rows),
    _factors(layout, per_col, layout.col_band_is_v_row, layout.col_band_matrix, layout.matrix_cols),
  )


def matrix_channels(g, new_rms, row_f, col_f):
  """The tile class's elementwise quantities from the updated accumulators.

  Returns ``(clip_g, r, f)`` with ``r = rsqrt(rms + 1e-6)`` and
  ``f_k = row_factor_k * col_factor_k`` per element (``g f_k`` and ``m_k f_k`` are
  channel groups 7 and 13).
  """
  r = jax.lax.rsqrt(new_rms + RMS_EPS)
  f = [row_f[k] * col_f[k] for k in range(NUM_DECAYS)]
  return jnp.clip(g, -CLIP_SMALL, CLIP_SMALL), r, f


def vector_channels(g, new_rms, new_diag):
  """The chunk class's elementwise quantities from the updated accumulators.

  Returns ``(clip_g, r, g_factor, m_factor, diag_rsqrt)``:
  ``g_factor_k = safe_rsqrt(v_k + 1e-9)`` and ``m_factor_k = v_k^-0.5`` (channel groups
  7 and 13 are ``g g_factor_k`` and ``m_k m_factor_k``), ``diag_rsqrt_k = rsqrt(v_k + 1e-8)``.
  """
  r = jax.lax.rsqrt(new_rms + RMS_EPS)
  g_factor = [acc.safe_rsqrt(v + DIAG_RSQRT_EPS) for v in new_diag]
  m_factor = [v**-0.5 for v in new_diag]
  diag_rsqrt = [jax.lax.rsqrt(v + FACTORED_RSQRT_EPS) for v in new_diag]
  return jnp.clip(g, -CLIP_SMALL, CLIP_SMALL), r, g_factor, m_factor, diag_rsqrt


# Order of the per-tile / per-chunk sums of :func:`channel_sums` (vectors add the last six).
_STAT_TERMS = (('m1', 3), ('m_shift2', 3), ('rms1', 1))
_MATRIX_TERMS = (
  ('clip_g', 1),
  ('m', 3),
  ('rms', 1),
  ('r', 1),
  ('mr', 3),
  ('gr', 1),
  ('fg', 3),
  ('fm', 3),
) + _STAT_TERMS
_VECTOR_TERMS = _MATRIX_TERMS + (('v', 3), ('vr', 3))


def _columns(terms):
  out, start = {}, 0
  for name, width in terms:
    out[name] = tuple(range(start, start + width))
    start += width
  return out


_COLUMN = _columns(_VECTOR_TERMS)
NUM_MATRIX_SUMS = sum(w for _, w in _MATRIX_TERMS)
_NUM_VECTOR_SUMS = sum(w for _, w in _VECTOR_TERMS)


def _shift_per_element(shift, index, ndim):
  table = rows_at(shift, index)
  expand = (slice(None),) + (None,) * (ndim - 1)
  return [table[:, k][expand] for k in range(NUM_DECAYS)]


def _common_terms(g, m, rms, fac_g2, fac_m2, shift, mask):
  """The terms summed for both classes, in :data:`_MATRIX_TERMS` order; the ones that a zero
  padding would not zero are masked (``mask`` None: no padding).

  ``fac_g2`` and ``fac_m2`` are the squares of channel groups 7 and 13. ``r^2`` is computed
  as ``1 / (rms + 1e-6)`` (equal up to rounding): no square root, and nothing that XLA
  would share with the MLP pass and so keep as a full-size array.
  """
  masked = (lambda x: x) if mask is None else (lambda x: jnp.where(mask, x, 0.0))
  clip_g = jnp.clip(g, -CLIP_SMALL, CLIP_SMALL)
  r2 = 1 / (rms + RMS_EPS)
  terms = (
    [jnp.square(x) for x in (clip_g, *m, rms)]
    + [masked(r2)]
    + [jnp.square(mk) * r2 for mk in m]
    + [jnp.square(g) * r2]
    + list(fac_g2)
    + list(fac_m2)
    + list(m)
  )
  terms += [masked(jnp.square(mk - a)) for mk, a in zip(m, shift)]
  return terms + [rms]


def tile_channel_sums(g, momenta, rms, row_f2, col_f2, shift, mask):
  """Per tile, the sums of :data:`_MATRIX_TERMS`: ``(T, k)``, from tiles ``g``, ``momenta``
  ``(3, T, R, C)`` (updated) and ``rms``, and per tile the squared factors ``row_f2``
  ``(T, 3, R)`` and ``col_f2`` ``(T, 3, C)``, the momentum shift ``(T, 3)`` of its tensor and
  the mask of real elements (None: no padding).

  The squared channels 7 and 13 are ``g^2 f_k^2`` and ``m_k^2 f_k^2`` with
  ``f_k^2 = row_factor_k^2 col_factor_k^2``, squared per band (fewer operations per
  element: this pass is bound by arithmetic on CPU).
  """
  f2 = [row_f2[:, k, :, None] * col_f2[:, k, None, :] for k in range(NUM_DECAYS)]
  m = [momenta[k] for k in range(NUM_DECAYS)]
  terms = _common_terms(
    g,
    m,
    rms,
    [jnp.square(g) * f2k for f2k in f2],
    [jnp.square(mk) * f2k for mk, f2k in zip(m, f2)],
    [shift[:, k][:, None, None] for k in range(NUM_DECAYS)],
    mask,
  )
  return fused_sums(terms, (1, 2))


def _matrix_sums(layout, mats: MatrixArrays, factors: MatrixFactors, shift):
  """:func:`tile_channel_sums` of the packed tiles."""
  n = layout.num_packed_tiles
  return tile_channel_sums(
    mats.g,
    mats.momenta,
    mats.rms,
    rows_at(jnp.square(factors.row_factors), layout.tile_row_band[:n]),
    rows_at(jnp.square(factors.col_factors), layout.tile_col_band[:n]),
    rows_at(shift, layout.tile_tensor[:n]),
    layout.tile_mask(layout.tile_valid_rows[:n], layout.tile_valid_cols[:n])
    if layout.tiles_padded
    else None,
  )


def _vector_sums(layout, vecs: VectorArrays, shift):
  """Per chunk, the sums of :data:`_VECTOR_TERMS`: ``(U, k)``."""
  g, m, diag = vecs.g, [vecs.momenta[k] for k in range(NUM_DECAYS)], list(vecs.diag)
  _, _, g_factor, m_factor, diag_rsqrt = vector_channels(g, vecs.rms, diag)
  mask = layout.chunk_mask()
  terms = _common_terms(
    g,
    m,
    vecs.rms,
    [jnp.square(g * fk) for fk in g_factor],
    [jnp.square(mk * fk) for mk, fk in zip(m, m_factor)],
    _shift_per_element(shift, layout.chunk_tensor, 2),
    mask,
  )
  terms += [jnp.square(v) for v in diag] + [jnp.where(mask, jnp.square(x), 0.0) for x in diag_rsqrt]
  return fused_sums(terms, (1,))


def _band_moments(layout, values, band_tensor, mask):
  """Per tensor ``(n, 6)``: sums of ``v_k^2`` and of ``rsqrt(v_k + 1e-8)^2`` over real entries."""
  squares = jnp.square(values)
  rsqrts = jnp.where(mask[:, None, :], jnp.square(jax.lax.rsqrt(values + FACTORED_RSQRT_EPS)), 0.0)
  per_band = jnp.concatenate([jnp.sum(squares, axis=2), jnp.sum(rsqrts, axis=2)], axis=1)
  return segment_sums(per_band, band_tensor, layout.num_tensors)


class ChannelMoments(NamedTuple):
  """Per tensor: the MLP channels' mean squares ``(n, 30)`` and the new accumulators' stats."""

  second_moments: jnp.ndarray
  stats: AccumulatorStats


def _new_stats(means, shift) -> AccumulatorStats:
  """:class:`AccumulatorStats` from the means of :func:`channel_sums`.

  ``var_m = mean((m - a)^2) - (c - a)^2`` (``c`` the mean, ``a`` the shift: close, so
  no cancellation); ``var_rms = mean(rms^2) - 2 c mean(rms) + c^2`` (rms is centred on the
  momentum mean, not its own, so this cancels only if ``rms`` were close to ``c``
  everywhere).
  """
  col = lambda name: means[:, list(_COLUMN[name])]
  mean_m, mean_rms, mean_rms2 = col('m1'), col('rms1'), col('rms')
  var_m = col('m_shift2') - jnp.square(mean_m - shift)
  var_rms = mean_rms2 - 2 * mean_m * mean_rms + jnp.square(mean_m)
  return AccumulatorStats(mean_m, var_m, mean_rms[:, 0], var_rms)


def channel_sums(
  layout: TensorLayout,
  sums: ParameterSums,
  shift,
  mats: MatrixArrays | None,
  vecs: VectorArrays | None,
  factors: MatrixFactors | None,
  streamed=None,
) -> ChannelMoments:
  """The 30 channel second moments and the new accumulators' statistics, one pass per class.

  ``mats`` / ``vecs`` hold the UPDATED accumulators; ``shift``: the
  :func:`momentum_mean_shift`. Channel order (see :mod:`velo.per_param_mlp`): g,
  clip(g), p, m_k, rms, m_k r, r, fac_g_k, g r, row_k, col_k, rsqrt(row_k + 1e-8),
  rsqrt(col_k + 1e-8), fac_m_k. The mean square of a channel broadcast from a row
  or column accumulator is the mean over that accumulator's entries. ``mats`` holds the
  packed tiles; ``streamed``: the :func:`tile_channel_sums` of the streamed tiles, which
  follow them (:mod:`velo.streaming`).
  """
  parts = [] if mats is None or mats.g is None else [_matrix_sums(layout, mats, factors, shift)]
  parts += [] if streamed is None else [streamed]
  tile_sums = None if not parts else jnp.concatenate(parts) if len(parts) > 1 else parts[0]
  chunk_sums = None if vecs is None else _vector_sums(layout, vecs, shift)
  if tile_sums is not None:
    tile_sums = jnp.pad(tile_sums, ((0, 0), (0, _NUM_VECTOR_SUMS - NUM_MATRIX_SUMS)))
  means = _per_tensor(layout, tile_sums, chunk_sums) / jnp.asarray(layout.tensor_size)[:, None]
  diag = means[:, list(_COLUMN['v'] + _COLUMN['vr'])]
  v_row = v_col = diag
  if factors is not None:
    is_matrix = jnp.asarray(layout.tensor_is_matrix)[:, None]
    by_row = _band_moments(layout, factors.per_row, layout.row_band_tensor, layout.row_band_mask())
    by_col = _band_moments(layout, factors.per_col, layout.col_band_tensor, layout.col_band_mask())
    cols_are_d0 = jnp.asarray(layout.tensor_cols_are_d0)[:, None]
    v_row = jnp.where(
      is_matrix,
      jnp.where(cols_are_d0, by_row, by_col) / jnp.asarray(layout.tensor_v_row_count)[:, None],
      diag,
    )
    v_col = jnp.where(
      is_matrix,
      jnp.where(cols_are_d0, by_col, by_row) / jnp.asarray(layout.tensor_v_col_count)[:, None],
      diag,
    )
  candidates = jnp.concatenate(
    [means, sums.mean_g2[:, None], sums.mean_p2[:, None], v_row, v_col], axis=1
  )
  return ChannelMoments(jnp.take(candidates, _CHANNEL_SOURCE, axis=1), _new_stats(means, shift))


def _channel_source():
  """Column of ``candidates`` (see :func:`channel_sums`) holding each of the 30 channels."""
  base = _NUM_VECTOR_SUMS
  g2, p2, v_row, v_col = base, base + 1, base + 2, base + 8
  c = _COLUMN
  return np.asarray(
    [g2, *c['clip_g'], p2, *c['m'], *c['rms'], *c['mr'], *c['r'], *c['fg'], *c['gr']]
    + [v_row + k for k in range(3)]
    + [v_col + k for k in range(3)]
    + [v_row + 3 + k for k in range(3)]
    + [v_col + 3 + k for k in range(3)]
    + list(c['fm'])
  )


_CHANNEL_SOURCE = _channel_source()
