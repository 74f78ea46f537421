"""VeLO (Metz et al. 2022) as an optax ``GradientTransformationExtraArgs``.

One update step for the whole parameter tree (``loss`` is the scalar mean
training loss of the step, ``fraction_trained`` defaults to
``iteration / num_steps``):

1. ``g = clip(grad, -1000, 1000)`` elementwise.
2. Loss features: update the 10 loss running averages with ``loss``
   (:mod:`velo.loss_features`) and compute the 9 features.
3. Per tensor, 30 LSTM inputs from ``p`` and the accumulators BEFORE this
   step (:mod:`velo.tensor_features`).
4. One step of the controller across tensors (:mod:`velo.network`): 256
   mixing coefficients and a step multiplier ``lr_mult`` per tensor; the LSTM
   state is carried in the optimizer state.
5. Update the accumulators with ``g`` (:mod:`velo.accumulators`).
6. Per tensor, mix the MLP bank: ``weights = 100 * mean_k(c_k * theta_k)``.
7. Per parameter, the MLP (:mod:`velo.per_param_mlp`) gives direction ``d``
   and magnitude ``a``;
   ``step = lr_mult * d * exp(0.001 a) * 0.001 * sqrt(mean(p^2) + 1e-9)``.
8. ``updates = -step`` (apply with ``optax.apply_updates``: ``p_new = p - step``).

How it runs: parameters, gradients and accumulators live in the packed arrays
of :mod:`velo.layout` (one tile array for tensors with >= 2 axes, one chunk
array for the others), so that XLA compiles each pass once per class whatever
the number and shapes of the tensors. Per class: the parameters and gradients
are packed (one copy each); :func:`velo.statistics.parameter_sums` reads them
(``mean p^2``, ``mean g``, row / column sums of ``g^2``); the accumulators are
updated in place; :func:`velo.statistics.channel_sums` reads the new ones (the
MLP's channel second moments, and the momentum / rms statistics that step 3 of
the NEXT update uses, so the old accumulators are never read after the update);
the MLP pass (:mod:`velo.per_param_mlp`) writes the step, which every tensor's
update is cut from. Everything per tensor (LSTM, weight mixing, normalisers)
works on ``(n_tensors, ...)`` arrays. Very large 2-D tensors (``stream_threshold``) are
not packed: :mod:`velo.streaming` runs the same three passes over them in blocks.

Memory, in values per parameter P (Adam's state: 2): the state holds the 3
momenta and the rms of every parameter (4; tensors with < 2 axes 3 more, their
``v_diag``; tile padding a little more), the rest is per row, column or tensor.
A step's temporaries are the packed parameters and the packed gradients, which
the step then overwrites (about 2.3; a few blocks for a streamed tensor). ``velo(..., scratch_in_state=True)`` keeps
all three in the donated state instead (7, temporaries about 0.3): see
:class:`MatrixState` and docs/velo_memory.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from velo import accumulators as acc
from velo import per_param_mlp, statistics, streaming
from velo.checkpoint import validate_theta
from velo.fused_reduce import rows_at
from velo.layout import CHUNK, STREAM_BLOCK, STREAM_THRESHOLD, TensorLayout, tensor_layout
from velo.loss_features import LossBuffer, init_loss_buffer, loss_features, update_loss_buffer
from velo.network import controller_step, mix_mlp_weights
from velo.tensor_features import fraction_embedding, lstm_inputs

GRAD_CLIP = acc.GRAD_CLIP
NUM_DECAYS = 3


class MatrixState(NamedTuple):
  """Accumulators of the tensors with >= 2 axes, in the tile layout.

  ``p_tiles``, ``g_tiles`` and ``step`` are the optional scratch
  (``velo(..., scratch_in_state=True)``): the packed parameters and clipped
  gradients, and the step (``p_old - p_new``) of the last update, kept in the
  donated state and rewritten in place at every update. Without them (``None``, the
  default) the state holds 4 values per parameter, the algorithm's floor, and the
  packed parameters and gradients are temporaries of each step, the step then
  overwriting the packed gradients (see :func:`write_step`): about 2 parameter-sized
  temporaries. With them the state holds 7 values per parameter and a step needs
  almost no temporaries; as temporaries, their pages are mapped afresh at every
  step (on CPU hosts a page fault per 4 KiB), and a step that writes its result into
  the buffer it reads runs slower on XLA:CPU (measured in docs/velo_memory.md).
  """

  momenta: jnp.ndarray  # (3, tiles, R, C), decays 0.9, 0.99, 0.999
  rms: jnp.ndarray  # (tiles, R, C)
  per_row: jnp.ndarray  # (row bands, 3, R): factored accumulator of each matrix row
  per_col: jnp.ndarray  # (col bands, 3, C)
  p_tiles: jnp.ndarray | None = None  # (tiles, R, C): packed parameters of the last update
  g_tiles: jnp.ndarray | None = None  # (tiles, R, C): packed clipped gradients of the last update
  step: jnp.ndarray | None = None  # (tiles + 1, R, C); the last tile is spare (see write_step)


class VectorState(NamedTuple):
  """Accumulators of the tensors with < 2 axes, in the chunk layout; ``step`` is the
  optional scratch (see :class:`MatrixState`)."""

  momenta: jnp.ndarray  # (3, chunks, CHUNK)
  rms: jnp.ndarray
  diag: jnp.ndarray  # (3, chunks, CHUNK): VeLO's v_diag
  step: jnp.ndarray | None = None  # (chunks + 1, CHUNK); the last chunk is spare


class VeloState(NamedTuple):
  """VeLO optimizer state (a pytree of arrays; ``layout`` is static).

  The per-tensor views ``momentum`` ((3,) + S), ``rms`` ((1,) + S), ``v_row``,
  ``v_col`` and ``v_diag`` ((3,) + the reference's shape, decay axis first; an
  unused slot is a zero (3, 1) placeholder) unpack the packed arrays, for
  inspection.
  """

  matrices: MatrixState | None
  vectors: VectorState | None
  stats: statistics.AccumulatorStats  # of the current momenta and rms, per tensor
  lstm_hidden: jnp.ndarray  # (n_tensors, 512), rows in tree-leaf order
  lstm_cell: jnp.ndarray  # (n_tensors, 512)
  loss_buffer: LossBuffer
  iteration: jnp.ndarray  # () int32, updates done
  num_steps: jnp.ndarray  # () int32, the horizon ("prompt")
  layout: TensorLayout

  def _tree(self, leaves):
    return self.layout.treedef.unflatten(leaves)

  def _per_tensor(self, matrix_arrays, vector_arrays):
    layout = self.layout
    leaves: list = [None] * layout.num_tensors
    for pl in layout.matrices:
      leaves[pl.leaf] = (
        _placeholder()
        if matrix_arrays is None
        else jnp.stack(
          [
            layout.unpack_matrix(pl, a[pl.first_tile : pl.first_tile + pl.num_tiles])
            for a in matrix_arrays
          ]
        )
      )
    for pl in layout.vectors:
      leaves[pl.leaf] = (
        _placeholder()
        if vector_arrays is None
        else jnp.stack([layout.unpack_vector(pl, a) for a in vector_arrays])
      )
    return self._tree(leaves)

  @property
  def momentum(self):
    return self._per_tensor(_field(self.matrices, 'momenta'), _field(self.vectors, 'momenta'))

  @property
  def rms(self):
    return self._per_tensor(
      _field(self.matrices, 'rms', single=True), _field(self.vectors, 'rms', single=True)
    )

  @property
  def v_diag(self):
    return self._per_tensor(None, _field(self.vectors, 'diag'))

  @property
  def v_row(self):
    return self._factored(velo_row=True)

  @property
  def v_col(self):
    return self._factored(velo_row=False)

  def _factored(self, velo_row: bool):
    layout = self.layout
    leaves: list = [_placeholder() for _ in range(layout.num_tensors)]
    for pl in layout.matrices:
      if pl.cols_are_d0 == velo_row:  # VeLO's accumulator is the one kept per matrix row
        leaves[pl.leaf] = jnp.stack(
          [layout.unpack_row_vector(pl, self.matrices.per_row[:, k]) for k in range(NUM_DECAYS)]
        )
      else:
        leaves[pl.leaf] = jnp.stack(
          [layout.unpack_col_vector(pl, self.matrices.per_col[:, k]) for k in range(NUM_DECAYS)]
        )
    return self._tree(leaves)


def _placeholder():
  return jnp.zeros((NUM_DECAYS, 1), jnp.float32)


def _field(state, name, single=False):
  if state is None:
    return None
  value = getattr(state, name)
  return (value,) if single else value


class ControllerOutputs(NamedTuple):
  """Per-step intermediates of the tensor-level network (for inspection and tests)."""

  loss_buffer: LossBuffer
  loss_features: jnp.ndarray  # (9,)
  fraction_trained: jnp.ndarray  # ()
  lstm_input: jnp.ndarray  # (n, 30)
  controls: jnp.ndarray  # (n, 256)
  lr_mult: jnp.ndarray  # (n,)
  lstm_hidden: jnp.ndarray  # (n, 512)
  lstm_cell: jnp.ndarray  # (n, 512)


def _as_jnp_theta(theta: Mapping[str, Any]) -> dict:
  validate_theta(theta)
  return jax.tree_util.tree_map(lambda x: jnp.asarray(x, jnp.float32), dict(theta))


def init_state(
  theta: Mapping[str, Any],
  params: Any,
  num_steps,
  scratch_in_state: bool = False,
  stream_threshold: int | None = STREAM_THRESHOLD,
  stream_block: int = STREAM_BLOCK,
) -> VeloState:
  """Zero accumulators, the LSTM initial state tiled over tensors, loss buffer for
  ``num_steps``; with ``scratch_in_state``, the scratch buffers of :class:`MatrixState`
  (and nothing streamed); else the 2-D tensors of at least ``stream_threshold`` values are
  streamed in blocks of about ``stream_block`` values (:mod:`velo.streaming`)."""
  layout = tensor_layout(params, None if scratch_in_state else stream_threshold, stream_block)
  zeros = lambda *shape: jnp.zeros(shape, jnp.float32)
  scratch = lambda *shape: zeros(*shape) if scratch_in_state else None
  matrices = vectors = None
  if layout.matrices:
    tiles = (layout.num_tiles, layout.tile_rows, layout.tile_cols)
    matrices = MatrixState(
      momenta=zeros(NUM_DECAYS, *tiles),
      rms=zeros(*tiles),
      per_row=zeros(layout.num_row_bands, NUM_DECAYS, layout.tile_rows),
      per_col=zeros(layout.num_col_bands, NUM_DECAYS, layout.tile_cols),
      p_tiles=scratch(*tiles),
      g_tiles=scratch(*tiles),
      step=scratch(layout.num_tiles + 1, *tiles[1:]),
    )
  if layout.vectors:
    chunks = (layout.num_chunks, CHUNK)
    vectors = VectorState(
      momenta=zeros(NUM_DECAYS, *chunks),
      rms=zeros(*chunks),
      diag=zeros(NUM_DECAYS, *chunks),
      step=scratch(layout.num_chunks + 1, CHUNK),
    )
  n = layout.num_tensors
  init_lstm = theta['lstm_init_state']
  return VeloState(
    matrices=matrices,
    vectors=vectors,
    stats=statistics.zero_stats(n),
    lstm_hidden=jnp.tile(jnp.asarray(init_lstm['hidden'], jnp.float32), (n, 1)),
    lstm_cell=jnp.tile(jnp.asarray(init_lstm['cell'], jnp.float32), (n, 1)),
    loss_buffer=init_loss_buffer(num_steps),
    iteration=jnp.asarray(0, jnp.int32),
    num_steps=jnp.asarray(num_steps, jnp.int32),
    layout=layout,
  )


def write_step(buffer, step):
  """``step`` written into ``buffer``, one spare tile or chunk longer than ``step``.

  Writing into part of a buffer is done in place by the pass that computes the
  step; every tensor's unpacking then reads the result. Handed out directly, the
  step would instead be fused by XLA into each tensor's unpacking: the
  per-parameter MLP compiled once per tensor. Without scratch in the state, the tile
  ``buffer`` is the one that holds the packed gradients (read by that same pass), so
  the step costs no memory of its own.
  """
  return jax.lax.dynamic_update_slice(buffer, step, (0,) * step.ndim)


def _spare_buffer(leading: int, shape) -> jnp.ndarray:
  """A zero buffer of ``leading + 1`` rows: one spare row for :func:`write_step`."""
  return jnp.zeros((leading + 1, *shape), jnp.float32)


def _pack(state: VeloState, params, grads=None):
  """``(p_tiles, g_tiles, p_chunks, g_chunks, step_into)``: float32 params and clipped grads,
  packed, and the tile buffer (one spare tile longer) that the step is written into:
  the state's scratch buffers where it has them; else fresh ones, the step written
  over the packed gradients (``g_tiles`` is then the first ``num_packed_tiles`` of it).
  The streamed matrices are not packed (:mod:`velo.streaming`)."""
  layout = state.layout
  own = tensor_layout(params, layout.stream_threshold, layout.stream_block)
  if own != layout:
    raise ValueError(
      f'VeLO: the parameter tree differs from the one the state was initialised with ({own} vs {layout})'
    )
  m = state.matrices if layout.packed_matrices else None
  p_tiles, p_chunks = layout.pack(
    [jnp.asarray(p, jnp.float32) for p in jax.tree_util.tree_leaves(params)],
    None if m is None else m.p_tiles,
  )
  g_tiles = g_chunks = step_into = None
  if grads is not None:
    treedef = jax.tree_util.tree_structure(params)
    if m is not None:
      step_into = (
        m.step
        if m.step is not None
        else _spare_buffer(layout.num_packed_tiles, (layout.tile_rows, layout.tile_cols))
      )
    # Clipped per matrix leaf (fused into the tile packing), once for all vector chunks.
    clip = lambda x: jnp.clip(x, -GRAD_CLIP, GRAD_CLIP)
    g_tiles, g_chunks = layout.pack(
      [
        clip(jnp.asarray(g, jnp.float32)) if np.ndim(g) >= 2 else jnp.asarray(g, jnp.float32)
        for g in treedef.flatten_up_to(grads)
      ],
      None if m is None else (step_into if m.g_tiles is None else m.g_tiles),
    )
    if m is not None and m.g_tiles is None:
      step_into, g_tiles = g_tiles, g_tiles[: layout.num_packed_tiles]
    g_chunks = None if g_chunks is None else clip(g_chunks)
  return p_tiles, g_tiles, p_chunks, g_chunks, step_into


def _controller(
  theta, state: VeloState, sums: statistics.ParameterSums, loss, fraction_trained
) -> ControllerOutputs:
  """Steps 2-4, from the current accumulators' statistics and ``mean(p^2)``."""
  loss_buffer = update_loss_buffer(state.loss_buffer, loss)
  loss_feats = loss_features(loss_buffer)
  if fraction_trained is None:
    fraction_trained = state.iteration / jnp.asarray(state.num_steps, jnp.float32)
  fraction_trained = jnp.asarray(fraction_trained, jnp.float32)
  lstm_input = lstm_inputs(
    state.layout,
    statistics.param_scale_inverse(sums.mean_p2),
    state.stats,
    fraction_embedding(fraction_trained),
    loss_feats,
  )
  controls, lr_mult, hidden, cell = controller_step(
    theta['rnn_params'], lstm_input, state.lstm_hidden, state.lstm_cell
  )
  return ControllerOutputs(
    loss_buffer, loss_feats, fraction_trained, lstm_input, controls, lr_mult, hidden, cell
  )


def controller_outputs(
  theta: Mapping[str, Any], state: VeloState, params: Any, loss, fraction_trained=None
) -> ControllerOutputs:
  """Steps 2-4: loss features, LSTM inputs and one controller step."""
  p_tiles, _, p_chunks, _, _ = _pack(state, params)
  streamed = streaming.inputs(state.layout, jax.tree_util.tree_leaves(params))
  sums = statistics.parameter_sums(
    state.layout, p_tiles, None, p_chunks, None, streaming.parameter_sums(state.layout, streamed)
  )
  return _controller(theta, state, sums, loss, fraction_trained)


def velo_update(
  theta: Mapping[str, Any], grads: Any, state: VeloState, params: Any, loss, fraction_trained=None
):
  """One VeLO step (see the module docstring); returns ``(updates, new_state)``."""
  layout = state.layout
  p_tiles, g_tiles, p_chunks, g_chunks, step_into = _pack(state, params, grads)
  streamed = streaming.inputs(
    layout,
    jax.tree_util.tree_leaves(params),
    jax.tree_util.tree_structure(params).flatten_up_to(grads),
  )
  sums = statistics.parameter_sums(
    layout, p_tiles, g_tiles, p_chunks, g_chunks, streaming.parameter_sums(layout, streamed)
  )
  ctrl = _controller(theta, state, sums, loss, fraction_trained)

  # Step 5. The accumulators are updated in place and only the new ones are read below.
  mats = vecs = factors = matrices = vectors = streamed_sums = None
  if state.matrices is not None:
    m = state.matrices
    factors = statistics.update_factored(layout, m.per_row, m.per_col, sums)
    if streamed:
      # Every tile's accumulators decay in one in-place pass (an update with a zero
      # gradient), the packed tiles then add their gradient's share in place, the streamed
      # tiles block by block; the packed tiles are read back from the result.
      n = layout.num_packed_tiles
      momenta, rms = acc.update_momenta(m.momenta, 0.0), acc.update_rms(m.rms, 0.0)
      if g_tiles is not None:
        momenta = jax.lax.dynamic_update_slice_in_dim(
          momenta, acc.add_input(momenta[:, :n], g_tiles, acc.MOMENTUM_DECAYS), 0, axis=1
        )
        rms = jax.lax.dynamic_update_slice_in_dim(
          rms, acc.add_input(rms[:n], g_tiles * g_tiles, acc.RMS_DECAY), 0, axis=0
        )
      momenta, rms, streamed_sums = streaming.update_accumulators(
        layout, streamed, momenta, rms, factors, statistics.momentum_mean_shift(state.stats, sums)
      )
      momenta_p, rms_p = momenta[:, :n], rms[:n]
    else:
      momenta_p, rms_p = momenta, rms = (
        acc.update_momenta(m.momenta, g_tiles),
        acc.update_rms(m.rms, g_tiles),
      )
    mats = statistics.MatrixArrays(
      p_tiles, g_tiles, momenta_p, rms_p, factors.per_row, factors.per_col
    )
  if state.vectors is not None:
    v = state.vectors
    vecs = statistics.VectorArrays(
      p_chunks,
      g_chunks,
      acc.update_momenta(v.momenta, g_chunks),
      acc.update_rms(v.rms, g_chunks),
      acc.update_diag(v.diag, g_chunks),
    )
  shift = statistics.momentum_mean_shift(state.stats, sums)
  moments = statistics.channel_sums(layout, sums, shift, mats, vecs, factors, streamed_sums)

  # Steps 6-8.
  mixed = mix_mlp_weights(theta['ff_mod_stack']['~'], ctrl.controls)
  w0n = per_param_mlp.normalised_weights(mixed, moments.second_moments)
  table = per_param_mlp.coefficient_table(w0n, mixed, ctrl.lr_mult, sums.mean_p2)
  step_tiles = step_chunks = None
  streamed_updates = {}
  if mats is not None:
    band_rows, band_cols = per_param_mlp.band_inputs(layout, w0n, mixed['b0'], factors)
    if g_tiles is not None:
      n = layout.num_packed_tiles
      step = per_param_mlp.matrix_step(
        rows_at(table, layout.tile_tensor[:n]),
        rows_at(band_rows, layout.tile_row_band[:n]),
        rows_at(band_cols, layout.tile_col_band[:n]),
        mats.p,
        mats.g,
        mats.momenta,
        mats.rms,
      )
      step_tiles = write_step(step_into, step)
    momenta, rms, streamed_updates = streaming.updates(
      layout, streamed, momenta, rms, table, band_rows, band_cols
    )
    matrices = MatrixState(
      momenta,
      rms,
      factors.per_row,
      factors.per_col,
      *((p_tiles, g_tiles, step_tiles) if m.step is not None else ()),
    )
  if vecs is not None:
    w_diag = per_param_mlp.vector_diag_weights(w0n, mixed['b0'])
    step = per_param_mlp.vector_step(
      rows_at(table, layout.chunk_tensor),
      rows_at(w_diag, layout.chunk_tensor),
      vecs.p,
      vecs.g,
      vecs.momenta,
      vecs.rms,
      vecs.diag,
    )
    step_chunks = write_step(
      _spare_buffer(layout.num_chunks, (CHUNK,)) if v.step is None else v.step, step
    )
    vectors = VectorState(
      vecs.momenta, vecs.rms, vecs.diag, step_chunks if v.step is not None else None
    )

  steps = layout.unpack(step_tiles, step_chunks)
  updates = [
    (streamed_updates[i].reshape(jnp.shape(p)) if i in streamed_updates else -step).astype(
      jnp.asarray(p).dtype
    )
    for i, (step, p) in enumerate(zip(steps, jax.tree_util.tree_leaves(params)))
  ]
  new_state = VeloState(
    matrices=matrices,
    vectors=vectors,
    stats=moments.stats,
    lstm_hidden=ctrl.lstm_hidden,
    lstm_cell=ctrl.lstm_cell,
    loss_buffer=ctrl.loss_buffer,
    iteration=state.iteration + 1,
    num_steps=state.num_steps,
    layout=layout,
  )
  return layout.treedef.unflatten(updates), new_state


def velo(
  theta: Mapping[str, Any],
  num_steps,
  scratch_in_state: bool = False,
  stream_threshold: int | None = STREAM_THRESHOLD,
  stream_block: int = STREAM_BLOCK,
) -> optax.GradientTransformationExtraArgs:
  """VeLO as an optax transformation.

  Args:
    theta: meta-parameters (see :func:`velo.load_theta`).
    num_steps: the training horizon (the "prompt"); sets the loss time
      scales and the default ``fraction_trained = iteration / num_steps``.
    scratch_in_state: keep the packed parameters, gradients and step in the
      optimizer state (rewritten in place) instead of in each step's temporary
      memory: state 7 instead of 4 values per parameter (Adam: 2), about 2 fewer
      parameter-sized temporaries per step, so a peak about 1 value per parameter
      higher. Worth it where memory is plentiful and freshly allocated memory is slow
      to touch at every step: on CPU hosts (docs/velo_memory.md has the measurements);
      the results are the same either way.
    stream_threshold, stream_block: without ``scratch_in_state``, 2-D tensors of at least
      ``stream_threshold`` values (default 2^26; None: none) are read in blocks of about
      ``stream_block`` values instead of being copied into the packed arrays, so that a
      step's temporaries do not grow with them (:mod:`velo.streaming`; AlgoPerf's
      criteo1tb embedding table). The results are the same up to float rounding order.

  ``update(grads, state, params, *, loss, fraction_trained=None)`` needs the
  current ``params`` and the scalar training ``loss``; ``fraction_trained``
  (a float scalar, may be traced) replaces ``iteration / num_steps`` in the
  LSTM's training-progress features (e.g. the fraction of a time budget
  used). The returned updates are ``-step`` (use ``optax.apply_updates``).
  """
  theta = _as_jnp_theta(theta)

  def init_fn(params):
    return init_state(theta, params, num_steps, scratch_in_state, stream_threshold, stream_block)

  def update_fn(updates, state, params=None, *, loss=None, fraction_trained=None, **extra_args):
    del extra_args
    if loss is None:
      raise TypeError('VeLO needs the training loss: call update(grads, state, params, loss=loss).')
    if params is None:
      raise ValueError('VeLO needs the current params: update(grads, state, params, loss=...).')
    return velo_update(theta, updates, state, params, loss, fraction_trained)

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)
