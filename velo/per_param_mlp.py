"""VeLO's per-parameter MLP, as one fused elementwise pass per class of :mod:`velo.layout`.

The MLP (30 -> 4 -> relu -> 4 -> relu -> 3) sees, for every parameter element, 30
input channels ``x_c`` (14 groups; ``k`` runs over the 3 decays;
``r = rsqrt(rms + 1e-6)``; all accumulators are the UPDATED ones):

====  ======================================================================
group channels
====  ======================================================================
0     ``g`` (clipped to +-1000)
1     ``clip(g, -0.1, 0.1)``
2     ``p``
3     ``m_k``
4     ``rms``
5     ``m_k r``
6     ``r``
7     ``fac_g_k``: ``g * row_factor_k * col_factor_k`` (factored) or
      ``g * safe_rsqrt(v_k + 1e-9)`` (unfactored)
8     ``g r``
9     row accumulator ``v_row_k`` broadcast over d0 (unfactored: ``v_diag_k``)
10    column accumulator ``v_col_k`` broadcast over d1 (unfactored: ``v_diag_k``)
11    ``rsqrt(group 9 + 1e-8)``
12    ``rsqrt(group 10 + 1e-8)``
13    ``m_k * row_factor_k * col_factor_k`` (unfactored: ``m_k v_k^-0.5``)
====  ======================================================================

Each channel is normalised by its second moment over the tensor,
``x_c / sqrt(1e-5 + mean(x_c^2))`` (:mod:`velo.statistics` computes the means).
The normalisation is folded into the first-layer weights per tensor,
``W[c, j] = w0[c, j] / sqrt(1e-5 + mean(x_c^2))``, and the first layer is
regrouped so that each element does as little as possible:

``h_j = A_j[row] + B_j[col] + g (W_g + W_gr r + sum_k W_fg,k f_k) + W_cg clip(g)
+ W_p p + W_rms rms + W_r r + sum_k m_k (W_m,k + W_mr,k r + W_fm,k f_k)``

with ``f_k = row_factor_k col_factor_k`` and ``A_j``, ``B_j`` the row and column
channels (groups 9-12) already weighted and summed per matrix row and column
(``b0`` included in ``A``). For the unfactored class groups 9-12 are full-size
and enter directly. Output 0 is the direction ``d``, output 1 the magnitude ``a``:
``step = lr_mult * d * sqrt(mean(p^2) + 1e-9) * exp(0.001 a) * 0.001``.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from velo import statistics
from velo.fused_reduce import rows_at
from velo.layout import TensorLayout

EXP_MULT = 0.001
STEP_MULT = 0.001
CHANNEL_NORM_EPS = 1e-5
HIDDEN = 4
NUM_DECAYS = 3

# First-layer channel indices (see the table above).
G, CLIP_G, P = 0, 1, 2
M = (3, 4, 5)
RMS = 6
MR = (7, 8, 9)
R = 10
FAC_G = (11, 12, 13)
GR = 14
ROW, COL = (15, 16, 17), (18, 19, 20)
ROW_RSQRT, COL_RSQRT = (21, 22, 23), (24, 25, 26)
FAC_M = (27, 28, 29)

# Columns of the per-tensor coefficient table: for each hidden unit j, the first-layer
# weights of these channels (in this order) ...
_UNIT_CHANNELS = (G, GR) + FAC_G + (CLIP_G, P, RMS, R) + M + MR + FAC_M
_UNIT_WIDTH = len(_UNIT_CHANNELS)


def _unit_columns():
  names = [
    ('g', 1),
    ('gr', 1),
    ('fg', 3),
    ('cg', 1),
    ('p', 1),
    ('rms', 1),
    ('r', 1),
    ('m', 3),
    ('mr', 3),
    ('fm', 3),
  ]
  columns = {}
  for j in range(HIDDEN):
    start = j * _UNIT_WIDTH
    for name, width in names:
      columns[name, j] = tuple(range(start, start + width))
      start += width
  return columns


_UNIT = _unit_columns()
# ... then the second and third layer and the step scale.
_W1 = HIDDEN * _UNIT_WIDTH  # w1[i, j] at _W1 + HIDDEN * i + j
_B1 = _W1 + HIDDEN * HIDDEN
_W2_D, _W2_A = _B1 + HIDDEN, _B1 + 2 * HIDDEN  # w2[:, 0] and w2[:, 1]
_B2_D, _B2_A = _B1 + 3 * HIDDEN, _B1 + 3 * HIDDEN + 1
_LR_MULT, _PARAM_SCALE = _B2_A + 1, _B2_A + 2
TABLE_WIDTH = _PARAM_SCALE + 1


def normalised_weights(mixed: Mapping[str, jnp.ndarray], second_moments) -> jnp.ndarray:
  """``w0 / sqrt(1e-5 + mean(x_c^2))`` per tensor: ``(n, 30, 4)``."""
  return mixed['w0'] * jax.lax.rsqrt(CHANNEL_NORM_EPS + second_moments)[:, :, None]


def coefficient_table(w0n, mixed, lr_mult, mean_p2) -> jnp.ndarray:
  """``(n, TABLE_WIDTH)``: the per-tensor scalars of the elementwise pass."""
  n = w0n.shape[0]
  units = jnp.take(w0n, np.asarray(_UNIT_CHANNELS), axis=1)  # (n, channels, HIDDEN)
  return jnp.concatenate(
    [
      jnp.swapaxes(units, 1, 2).reshape(n, -1),
      mixed['w1'].reshape(n, -1),
      mixed['b1'],
      jnp.swapaxes(mixed['w2'][:, :, :2], 1, 2).reshape(n, -1),
      mixed['b2'][:, :2],
      lr_mult[:, None],
      jnp.sqrt(mean_p2 + 1e-9)[:, None],
    ],
    axis=1,
  )


def _side_sums(w_value, w_rsqrt, values, bias=None):
  """Per band entry and hidden unit j: ``sum_k w_value[k, j] v_k + w_rsqrt[k, j] rsqrt(v_k + 1e-8)``
  (+ ``bias_j``); weights ``(bands, 3, HIDDEN)``, ``values`` ``(bands, 3, width)``.
  Returns ``(bands, HIDDEN, width)``."""
  rsqrts = jax.lax.rsqrt(values + statistics.FACTORED_RSQRT_EPS)
  total = jnp.einsum(
    'bkj,bkw->bjw', w_value, values, precision=jax.lax.Precision.HIGHEST
  ) + jnp.einsum('bkj,bkw->bjw', w_rsqrt, rsqrts, precision=jax.lax.Precision.HIGHEST)
  return total if bias is None else total + bias[:, :, None]


def matrix_band_inputs(layout: TensorLayout, w0n, b0, factors: statistics.MatrixFactors):
  """Per packed tile, the row inputs ``(A_j, f_k)`` as ``(T, 7, R)`` and the column inputs
  ``(B_j, f_k)`` as ``(T, 7, C)`` (j < 4 hidden units, then the 3 factors): the
  :func:`band_inputs` of the tile's bands."""
  rows, cols = band_inputs(layout, w0n, b0, factors)
  n = layout.num_packed_tiles
  return rows_at(rows, layout.tile_row_band[:n]), rows_at(cols, layout.tile_col_band[:n])


def band_inputs(layout: TensorLayout, w0n, b0, factors: statistics.MatrixFactors):
  """Per row band the row inputs ``(A_j, f_k)``, ``(row bands, 7, R)``, and per column band
  the column inputs ``(B_j, f_k)``, ``(col bands, 7, C)``.

  A band holding VeLO's ``v_row`` uses the row channels' weights, one holding
  ``v_col`` the column channels' (chosen per band from the layout).
  """

  def side(values, band_factors, band_tensor, is_v_row, with_bias):
    w = rows_at(w0n, band_tensor)
    as_row = jnp.asarray(is_v_row)[:, None, None]
    w_value = jnp.where(as_row, w[:, ROW[0] : ROW[-1] + 1], w[:, COL[0] : COL[-1] + 1])
    w_rsqrt = jnp.where(
      as_row, w[:, ROW_RSQRT[0] : ROW_RSQRT[-1] + 1], w[:, COL_RSQRT[0] : COL_RSQRT[-1] + 1]
    )
    bias = rows_at(b0, band_tensor) if with_bias else None
    return jnp.concatenate([_side_sums(w_value, w_rsqrt, values, bias), band_factors], axis=1)

  rows = side(
    factors.per_row, factors.row_factors, layout.row_band_tensor, layout.row_band_is_v_row, True
  )
  cols = side(
    factors.per_col, factors.col_factors, layout.col_band_tensor, layout.col_band_is_v_row, False
  )
  return rows, cols


def _hidden_and_step(coef, first_layer):
  """Second and third layer and the step, from the 4 first-layer pre-activations."""
  h = [jax.nn.relu(x) for x in first_layer]
  h2 = []
  for j in range(HIDDEN):
    total = coef(_B1 + j)
    for i in range(HIDDEN):
      total = total + h[i] * coef(_W1 + HIDDEN * i + j)
    h2.append(jax.nn.relu(total))
  direction, magnitude = coef(_B2_D), coef(_B2_A)
  for i in range(HIDDEN):
    direction = direction + h2[i] * coef(_W2_D + i)
    magnitude = magnitude + h2[i] * coef(_W2_A + i)
  step = direction * (coef(_PARAM_SCALE) * jnp.exp(magnitude * EXP_MULT)) * STEP_MULT
  return coef(_LR_MULT) * step


def _shared_terms(coef, j, g, clip_g, p, rms, r, m, g_factor, m_factor):
  """``h_j`` without the row/column (groups 9-12) and bias terms.

  ``g_factor_k`` and ``m_factor_k`` turn ``g`` and ``m_k`` into groups 7 and 13.
  """
  u = lambda name: [coef(c) for c in _UNIT[name, j]]
  (w_g,), (w_gr,), w_fg, (w_cg,), (w_p,), (w_rms,), (w_r,) = (
    u('g'),
    u('gr'),
    u('fg'),
    u('cg'),
    u('p'),
    u('rms'),
    u('r'),
  )
  w_m, w_mr, w_fm = u('m'), u('mr'), u('fm')
  g_coef = w_g + w_gr * r
  total = w_cg * clip_g + w_p * p + w_rms * rms + w_r * r
  for k in range(NUM_DECAYS):
    g_coef = g_coef + w_fg[k] * g_factor[k]
    total = total + m[k] * (w_m[k] + w_mr[k] * r + w_fm[k] * m_factor[k])
  return total + g * g_coef


def matrix_step(table, rows, cols, p, g, momenta, rms):
  """The elementwise pass over tiles: the step ``(T, R, C)``.

  ``momenta`` ``(3, T, R, C)`` and ``rms``: the UPDATED accumulators; ``table``:
  ``(T, TABLE_WIDTH)`` per-tile coefficients; ``rows`` / ``cols``: the output of
  :func:`matrix_band_inputs`.
  """
  coef = lambda c: table[:, c][:, None, None]
  row_f = [rows[:, HIDDEN + k, :, None] for k in range(NUM_DECAYS)]
  col_f = [cols[:, HIDDEN + k, None, :] for k in range(NUM_DECAYS)]
  m = [momenta[k] for k in range(NUM_DECAYS)]
  clip_g, r, f = statistics.matrix_channels(g, rms, row_f, col_f)
  first = [
    rows[:, j, :, None]
    + cols[:, j, None, :]
    + _shared_terms(coef, j, g, clip_g, p, rms, r, m, f, f)
    for j in range(HIDDEN)
  ]
  return _hidden_and_step(coef, first)


def vector_step(table, w_diag, p, g, momenta, rms, diag):
  """The elementwise pass over chunks: the step ``(U, CHUNK)``.

  ``momenta``, ``rms``, ``diag``: the UPDATED accumulators; ``w_diag``: per-chunk
  weights of the diagonal channels and ``b0`` (see :func:`vector_diag_weights`).
  """
  coef = lambda c: table[:, c][:, None]
  dcoef = lambda c: w_diag[:, c][:, None]
  m, diag = [momenta[k] for k in range(NUM_DECAYS)], [diag[k] for k in range(NUM_DECAYS)]
  clip_g, r, g_factor, m_factor, diag_rsqrt = statistics.vector_channels(g, rms, diag)
  first = []
  for j in range(HIDDEN):
    total = dcoef(_DIAG_B0 + j)
    for k in range(NUM_DECAYS):
      total = (
        total
        + dcoef(_diag_column(j, k, False)) * diag[k]
        + dcoef(_diag_column(j, k, True)) * diag_rsqrt[k]
      )
    first.append(total + _shared_terms(coef, j, g, clip_g, p, rms, r, m, g_factor, m_factor))
  return _hidden_and_step(coef, first)


_DIAG_B0 = 2 * NUM_DECAYS * HIDDEN


def _diag_column(j: int, k: int, rsqrt: bool) -> int:
  return 2 * NUM_DECAYS * j + (NUM_DECAYS if rsqrt else 0) + k


def vector_diag_weights(w0n, b0) -> jnp.ndarray:
  """``(n, 7 HIDDEN)``: per unit j, ``W[row_k] + W[col_k]`` (k = 0..2) and
  ``W[row_rsqrt_k] + W[col_rsqrt_k]`` (both channels are ``v_diag`` for a vector),
  then ``b0``."""
  n = w0n.shape[0]
  values = w0n[:, ROW[0] : ROW[-1] + 1] + w0n[:, COL[0] : COL[-1] + 1]  # (n, 3, HIDDEN)
  rsqrts = w0n[:, ROW_RSQRT[0] : ROW_RSQRT[-1] + 1] + w0n[:, COL_RSQRT[0] : COL_RSQRT[-1] + 1]
  per_unit = jnp.swapaxes(jnp.concatenate([values, rsqrts], axis=1), 1, 2)  # (n, HIDDEN, 6)
  return jnp.concatenate([per_unit.reshape(n, -1), b0], axis=1)
