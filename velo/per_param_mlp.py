"""VeLO's per-parameter MLP, written so that XLA can fuse it.

The MLP (30 -> 4 -> relu -> 4 -> relu -> 3) sees, for every parameter
element, 30 input channels ``x_c`` (14 groups; ``k`` runs over the 3 decays;
``r = rsqrt(rms + 1e-6)``):

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

All accumulators are the UPDATED ones. Each channel is normalised by its
second moment over the tensor: ``x_c / sqrt(1e-5 + mean(x_c^2))``.

The reference stacks the 30 normalised channels into one ``S + (30,)`` array
and applies matmuls. Here the second moments are plain reductions and the
normalisation is folded into the first-layer weights,
``h_j = b0_j + sum_c x_c * (w0[c, j] / sqrt(1e-5 + mean(x_c^2)))``, so every
hidden unit is an elementwise expression of the inputs and XLA fuses the
whole MLP into a loop over the parameter elements (no 30-channel stack).
Channels broadcast from the small accumulators (groups 9-12) take their
second moment over the small array, which equals the mean over the tensor.

Output 0 is the direction ``d``, output 1 the magnitude ``a``:
``step = lr_mult * d * sqrt(mean(p^2) + 1e-9) * exp(0.001 a) * 0.001``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from velo.accumulators import factored_axes, factored_preconditioners, safe_rsqrt
from velo.fused_reduce import fused_means

EXP_MULT = 0.001
STEP_MULT = 0.001
CHANNEL_NORM_EPS = 1e-5
PARAM_CHANNEL = 2  # index of the channel p; its mean square also gives the param scale


def input_channels(p, g, m, rms, v_row, v_col, v_diag, factored=True) -> list[jnp.ndarray]:
    """The 30 MLP input channels, each broadcastable to ``p.shape`` (scalars as (1,)).

    ``factored=False`` forces the unfactored (``v_diag``) channels.
    """
    shape = tuple(p.shape)
    num_decays = m.shape[0]
    decays = range(num_decays)
    rms = rms[0]
    r = jax.lax.rsqrt(rms + 1e-6)
    axes = factored_axes(shape) if factored else None
    if axes is None:
        row = [v_diag[k] for k in decays]
        col = row
        fac_g = [g * safe_rsqrt(v + 1e-9) for v in row]
        fac_m = [m[k] * row[k] ** -0.5 for k in decays]
    else:
        row_factor, col_factor = factored_preconditioners(shape, v_row, v_col)
        d1, d0 = axes
        fac_g = [g * row_factor[k] * col_factor[k] for k in decays]
        fac_m = [m[k] * row_factor[k] * col_factor[k] for k in decays]
        row_all = jnp.expand_dims(v_row, 1 + d0)
        col_all = jnp.expand_dims(v_col, 1 + d1)
        row = [row_all[k] for k in decays]
        col = [col_all[k] for k in decays]
    row_rsqrt = [jax.lax.rsqrt(v + 1e-8) for v in row]
    col_rsqrt = row_rsqrt if axes is None else [jax.lax.rsqrt(v + 1e-8) for v in col]
    return (
        [g, jnp.clip(g, -0.1, 0.1), p]
        + [m[k] for k in decays]
        + [rms]
        + [m[k] * r for k in decays]
        + [r]
        + fac_g
        + [g * r]
        + row
        + col
        + row_rsqrt
        + col_rsqrt
        + fac_m
    )


def channel_second_moments(channels, shape) -> list[jnp.ndarray]:
    """``mean(x_c^2)`` over the tensor for every channel, full-size ones in one fused pass.

    A channel broadcast along some axes has the same mean square as its
    un-broadcast array, so those are reduced over their own (small) shape.
    Channels that are the same array object are reduced once.
    """
    full, full_index, moments = [], {}, {}
    for c in channels:
        if id(c) in full_index or id(c) in moments:
            continue
        if tuple(c.shape) == tuple(shape):
            full_index[id(c)] = len(full)
            full.append(jnp.square(c))
        else:
            moments[id(c)] = jnp.mean(jnp.square(c))
    full_means = fused_means(full)
    for key, index in full_index.items():
        moments[key] = full_means[index]
    return [moments[id(c)] for c in channels]


def mlp_step(weights, lr_mult, p, g, m, rms, v_row, v_col, v_diag) -> jnp.ndarray:
    """The step ``p - p_new`` for one tensor (same shape as ``p``).

    ``weights``: this tensor's mixed MLP weights ``w0`` (30, 4), ``b0`` (4,),
    ``w1`` (4, 4), ``b1`` (4,), ``w2`` (4, 3), ``b2`` (3,). ``g`` is the clipped
    gradient; ``m, rms, v_*`` the updated accumulators (decay axis leading).
    """
    out_shape = p.shape
    factored = p.ndim >= 2
    if p.ndim == 0:  # scalars are treated as shape (1,)
        p, g = p.reshape(1), g.reshape(1)
        m, rms, v_diag = (x.reshape(-1, 1) for x in (m, rms, v_diag))
    inputs = (p, g, m, rms, v_row, v_col, v_diag)
    second_moments = jnp.stack(
        channel_second_moments(input_channels(*inputs, factored=factored), p.shape)
    )
    # Recompute the channels from barrier-separated copies of the inputs (no
    # data is copied): otherwise XLA shares the expensive channels (rsqrt
    # products) between the reduction and the MLP loop and materialises them.
    channels = input_channels(*jax.lax.optimization_barrier(inputs), factored=factored)
    w0 = weights["w0"] * jax.lax.rsqrt(CHANNEL_NORM_EPS + second_moments)[:, None]
    b0, w1, b1, w2, b2 = (weights[k] for k in ("b0", "w1", "b1", "w2", "b2"))

    hidden = []
    for j in range(w0.shape[1]):
        h = b0[j] + sum(c * w0[i, j] for i, c in enumerate(channels))
        hidden.append(jax.nn.relu(h))
    hidden2 = []
    for j in range(w1.shape[1]):
        h = b1[j] + sum(h_i * w1[i, j] for i, h_i in enumerate(hidden))
        hidden2.append(jax.nn.relu(h))
    direction, magnitude = (
        b2[o] + sum(h_i * w2[i, o] for i, h_i in enumerate(hidden2)) for o in (0, 1)
    )
    param_scale = jnp.sqrt(second_moments[PARAM_CHANNEL] + 1e-9)
    step = direction * (param_scale * jnp.exp(magnitude * EXP_MULT)) * STEP_MULT
    step = lr_mult * step
    return jnp.broadcast_to(step, p.shape).reshape(out_shape)
