"""Optimizer building blocks that optax does not offer in AlgoPerf's formulation."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax


class ScaleByNadamState(NamedTuple):
  count: jax.Array
  mu: optax.Updates
  nu: optax.Updates


def scale_by_nadam(
  b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8
) -> optax.GradientTransformation:
  """NAdam direction as in AlgoPerf/init2winit (no learning rate, no sign flip).

  With ``m = b1 m + (1-b1) g``, ``v = b2 v + (1-b2) g^2`` and ``t`` the 1-based step:
  ``m_hat = (b1 m + (1-b1) g) / (1 - b1^t)``, ``v_hat = v / (1 - b2^t)``,
  ``update = m_hat / (sqrt(v_hat) + eps)``.
  This differs from ``optax.scale_by_adam(nesterov=True)``, which bias-corrects
  the look-ahead momentum with ``1 - b1^(t+1)`` and the gradient term with ``1 - b1^t``.
  """

  def init(params):
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    return ScaleByNadamState(
      jnp.zeros([], jnp.int32), zeros, jax.tree_util.tree_map(jnp.zeros_like, params)
    )

  def update(updates, state, params=None):
    del params
    count = state.count + 1
    t = count.astype(jnp.float32)
    mu = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, state.mu, updates)
    nu = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, state.nu, updates)

    def direction(m, v, g):
      m_hat = (b1 * m + (1 - b1) * g) / (1 - b1**t)
      v_hat = v / (1 - b2**t)
      return m_hat / (jnp.sqrt(v_hat) + eps)

    return jax.tree_util.tree_map(direction, mu, nu, updates), ScaleByNadamState(count, mu, nu)

  return optax.GradientTransformation(init, update)


def nadamw(
  learning_rate, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8, weight_decay: float = 0.0
) -> optax.GradientTransformation:
  """``p -= lr_t * (nadam_direction + weight_decay * p)``: decoupled decay, scaled by the LR."""
  parts = [scale_by_nadam(b1, b2, eps)]
  if weight_decay:
    parts.append(optax.add_decayed_weights(weight_decay))
  parts.append(optax.scale_by_learning_rate(learning_rate))
  return optax.chain(*parts)
