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
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from velo import accumulators
from velo.checkpoint import validate_theta
from velo.loss_features import LossBuffer, init_loss_buffer, loss_features, update_loss_buffer
from velo.network import controller_step, mix_mlp_weights
from velo.per_param_mlp import mlp_step
from velo.tensor_features import fraction_embedding, tensor_lstm_input

GRAD_CLIP = 1000.0
# Tensors with at most this many elements and equal shapes are stacked and
# processed by one vmapped program: far fewer XLA kernels (compile time, launch
# overhead), at the cost of copies that are small by construction.
SMALL_TENSOR_ELEMENTS = 1 << 16


def tensor_groups(shapes) -> list[list[int]]:
    """Leaf indices grouped for batched processing: equal shapes among small tensors."""
    groups: dict = {}
    for i, shape in enumerate(shapes):
        size = 1
        for dim in shape:
            size *= dim
        key = ("small", tuple(shape)) if size <= SMALL_TENSOR_ELEMENTS else ("single", i)
        groups.setdefault(key, []).append(i)
    return list(groups.values())


def _map_groups(fn, groups, per_leaf_args, shared_args=()):
    """``[fn(*shared_args, *leaf_args_i) for each leaf i]``, vmapped within each group.

    ``per_leaf_args``: list over leaves of tuples of pytrees (leading axis added
    when stacked). Returns a list over leaves of ``fn``'s outputs.
    """
    results: list = [None] * len(per_leaf_args)
    for group in groups:
        if len(group) == 1:
            (i,) = group
            results[i] = fn(*shared_args, *per_leaf_args[i])
            continue
        stacked = jax.tree_util.tree_map(
            lambda *xs: jnp.stack(xs), *[per_leaf_args[i] for i in group]
        )
        batched = jax.vmap(lambda *a: fn(*shared_args, *a))(*stacked)
        for row, i in enumerate(group):
            results[i] = jax.tree_util.tree_map(lambda x, row=row: x[row], batched)
    return results


class VeloState(NamedTuple):
    """VeLO optimizer state (a pytree of arrays; decay axes lead, see :mod:`velo.accumulators`)."""

    momentum: Any  # per tensor (3,) + S
    rms: Any  # per tensor (1,) + S
    v_row: Any  # per tensor (3,) + S without d0, or an unused (3, 1) placeholder
    v_col: Any  # per tensor (3,) + S without d1, or an unused (3, 1) placeholder
    v_diag: Any  # per tensor (3,) + S for < 2 axes, or an unused (3, 1) placeholder
    lstm_hidden: jnp.ndarray  # (n_tensors, 512), rows in tree-leaf order
    lstm_cell: jnp.ndarray  # (n_tensors, 512)
    loss_buffer: LossBuffer
    iteration: jnp.ndarray  # () int32, updates done
    num_steps: jnp.ndarray  # () int32, the horizon ("prompt")


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


def init_state(theta: Mapping[str, Any], params: Any, num_steps) -> VeloState:
    """Zero accumulators, the LSTM initial state tiled over tensors, loss buffer for ``num_steps``."""
    leaves, treedef = jax.tree_util.tree_flatten(params)
    per_tensor = [accumulators.init_moments(jnp.asarray(p)) for p in leaves]
    fields = [treedef.unflatten([t[i] for t in per_tensor]) for i in range(5)]
    n = len(leaves)
    init_lstm = theta["lstm_init_state"]
    return VeloState(
        *fields,
        lstm_hidden=jnp.tile(jnp.asarray(init_lstm["hidden"], jnp.float32), (n, 1)),
        lstm_cell=jnp.tile(jnp.asarray(init_lstm["cell"], jnp.float32), (n, 1)),
        loss_buffer=init_loss_buffer(num_steps),
        iteration=jnp.asarray(0, jnp.int32),
        num_steps=jnp.asarray(num_steps, jnp.int32),
    )


def controller_outputs(
    theta: Mapping[str, Any], state: VeloState, params: Any, loss, fraction_trained=None
) -> ControllerOutputs:
    """Steps 2-4: loss features, LSTM inputs and one controller step."""
    loss_buffer = update_loss_buffer(state.loss_buffer, loss)
    loss_feats = loss_features(loss_buffer)
    if fraction_trained is None:
        fraction_trained = state.iteration / jnp.asarray(state.num_steps, jnp.float32)
    fraction_trained = jnp.asarray(fraction_trained, jnp.float32)
    embed = fraction_embedding(fraction_trained)
    p_leaves = [jnp.asarray(p, jnp.float32) for p in jax.tree_util.tree_leaves(params)]
    m_leaves = jax.tree_util.tree_leaves(state.momentum)
    rms_leaves = jax.tree_util.tree_leaves(state.rms)
    groups = tensor_groups([p.shape for p in p_leaves])
    rows = _map_groups(
        lambda p, m, r: tensor_lstm_input(p, m, r, embed, loss_feats),
        groups,
        list(zip(p_leaves, m_leaves, rms_leaves)),
    )
    lstm_input = jnp.stack(rows)
    controls, lr_mult, hidden, cell = controller_step(
        theta["rnn_params"], lstm_input, state.lstm_hidden, state.lstm_cell
    )
    return ControllerOutputs(
        loss_buffer, loss_feats, fraction_trained, lstm_input, controls, lr_mult, hidden, cell
    )


def velo_update(
    theta: Mapping[str, Any], grads: Any, state: VeloState, params: Any, loss, fraction_trained=None
):
    """One VeLO step (see the module docstring); returns ``(updates, new_state)``."""
    treedef = jax.tree_util.tree_structure(params)
    p_leaves = [jnp.asarray(p, jnp.float32) for p in jax.tree_util.tree_leaves(params)]
    g_leaves = [
        jnp.clip(jnp.asarray(g, jnp.float32), -GRAD_CLIP, GRAD_CLIP)
        for g in treedef.flatten_up_to(grads)
    ]
    ctrl = controller_outputs(theta, state, params, loss, fraction_trained)

    accumulator_fields = (state.momentum, state.rms, state.v_row, state.v_col, state.v_diag)
    acc_leaves = [treedef.flatten_up_to(field) for field in accumulator_fields]
    per_leaf_acc = [tuple(field[i] for field in acc_leaves) for i in range(len(g_leaves))]
    groups = tensor_groups([p.shape for p in p_leaves])
    new_acc = _map_groups(
        accumulators.update_moments, groups, [(g, *acc) for g, acc in zip(g_leaves, per_leaf_acc)]
    )
    mlp_weights = mix_mlp_weights(theta["ff_mod_stack"]["~"], ctrl.controls)
    per_leaf_weights = [
        ({name: w[i] for name, w in mlp_weights.items()}, ctrl.lr_mult[i])
        for i in range(len(p_leaves))
    ]
    steps = _map_groups(
        mlp_step,
        groups,
        [(*wl, p, g, *acc) for wl, p, g, acc in zip(per_leaf_weights, p_leaves, g_leaves, new_acc)],
    )
    updates = [
        (-step).astype(jnp.asarray(orig).dtype)
        for step, orig in zip(steps, jax.tree_util.tree_leaves(params))
    ]

    new_fields = [treedef.unflatten([acc[k] for acc in new_acc]) for k in range(5)]
    new_state = VeloState(
        *new_fields,
        lstm_hidden=ctrl.lstm_hidden,
        lstm_cell=ctrl.lstm_cell,
        loss_buffer=ctrl.loss_buffer,
        iteration=state.iteration + 1,
        num_steps=state.num_steps,
    )
    return treedef.unflatten(updates), new_state


def velo(theta: Mapping[str, Any], num_steps) -> optax.GradientTransformationExtraArgs:
    """VeLO as an optax transformation.

    Args:
      theta: meta-parameters (see :func:`velo.load_theta`).
      num_steps: the training horizon (the "prompt"); sets the loss time
        scales and the default ``fraction_trained = iteration / num_steps``.

    ``update(grads, state, params, *, loss, fraction_trained=None)`` needs the
    current ``params`` and the scalar training ``loss``; ``fraction_trained``
    (a float scalar, may be traced) replaces ``iteration / num_steps`` in the
    LSTM's training-progress features (e.g. the fraction of a time budget
    used). The returned updates are ``-step`` (use ``optax.apply_updates``).
    """
    theta = _as_jnp_theta(theta)

    def init_fn(params):
        return init_state(theta, params, num_steps)

    def update_fn(updates, state, params=None, *, loss=None, fraction_trained=None, **extra_args):
        del extra_args
        if loss is None:
            raise TypeError(
                "VeLO needs the training loss: call update(grads, state, params, loss=loss)."
            )
        if params is None:
            raise ValueError(
                "VeLO needs the current params: update(grads, state, params, loss=...)."
            )
        return velo_update(theta, updates, state, params, loss, fraction_trained)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
