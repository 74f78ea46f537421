"""Gradient accumulation for a transformation that also takes the training loss (VeLO).

``every_k_calls(tx, k)``: the first ``k - 1`` of every ``k`` calls add the
gradients and the loss to running sums and return zero updates; the ``k``-th
call applies ``tx`` once to the means ``sum(g) / k`` and ``sum(loss) / k``
(other extra arguments, e.g. ``fraction_trained``, are those of that call) and
resets the sums. ``tx`` therefore sees one step per ``k`` calls.

This is what the reference's VeLO prefab does when asked for more training
steps than VeLO's horizon limit: it averages over
``ceil(total_steps / limit)`` steps and gives VeLO the horizon
``total_steps // that``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax


class AccumulationState(NamedTuple):
  grad_sum: Any  # like the parameters
  loss_sum: jnp.ndarray  # () float32
  calls: jnp.ndarray  # () int32, calls since the last application of the inner transformation
  inner: Any


def every_k_calls(
  tx: optax.GradientTransformationExtraArgs, k: int
) -> optax.GradientTransformationExtraArgs:
  """``tx`` applied once per ``k`` calls to the mean gradient and mean loss (see above)."""
  if not isinstance(k, int) or k < 1:
    raise ValueError(f'every_k_calls needs a positive integer k, got {k!r}')

  def init_fn(params):
    zeros = jax.tree_util.tree_map(lambda p: jnp.zeros(jnp.shape(p), jnp.float32), params)
    return AccumulationState(
      zeros, jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32), tx.init(params)
    )

  def update_fn(grads, state, params=None, *, loss=None, **extra_args):
    if loss is None:
      raise TypeError('every_k_calls: the wrapped optimizer needs the training loss (loss=...)')
    grad_sum = jax.tree_util.tree_map(
      lambda s, g: s + jnp.asarray(g, jnp.float32), state.grad_sum, grads
    )
    loss_sum = state.loss_sum + jnp.asarray(loss, jnp.float32)
    calls = state.calls + 1

    def apply(_):
      mean_grads = jax.tree_util.tree_map(lambda s: s / k, grad_sum)
      updates, inner = tx.update(mean_grads, state.inner, params, loss=loss_sum / k, **extra_args)
      zeros = jax.tree_util.tree_map(jnp.zeros_like, grad_sum)
      return updates, AccumulationState(
        zeros, jnp.zeros_like(loss_sum), jnp.zeros_like(calls), inner
      )

    def accumulate(_):
      updates = jax.tree_util.tree_map(
        lambda p: jnp.zeros(jnp.shape(p), jnp.asarray(p).dtype), params
      )
      return updates, AccumulationState(grad_sum, loss_sum, calls, state.inner)

    return jax.lax.cond(calls >= k, apply, accumulate, None)

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)
