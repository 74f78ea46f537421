"""Where the train step's arrays live, so that it compiles once per trial on any number of devices.

The layout is AlgoPerf's data parallelism (its JAX base and its workloads' input pipelines):
one mesh of all devices with the single axis ``batch`` (:data:`BATCH_AXIS`); parameters,
model state, optimizer state, keys and scalars replicated on every device; the batch split
along its leading dimension. The train step states these shardings, and its inputs are put
there before every call (:func:`replicate`, :func:`place_batch`), because JAX compiles a jit
again when an argument's placement changes, even one whose sharding the jit states: a first
call with parameters or state still unplaced, as a workload's ``init_model_fn`` or an
optimizer's ``init`` leaves them, would otherwise compile a second program at step 2.

The model state keeps the layout it had on the first call (:func:`keep_model_state_layout`):
some of AlgoPerf's workloads return a model state of another pytree structure (``{}``, then
``None``) or other leaf shapes (``(C,)`` running statistics, then ``(1, 1, C)``) than the one
they were given, which would also compile the step again.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

#: The mesh axis the batch is split along (AlgoPerf's name).
BATCH_AXIS = 'batch'


def mesh() -> Mesh:
  """All devices, on the one axis :data:`BATCH_AXIS`."""
  return Mesh(np.asarray(jax.devices()), (BATCH_AXIS,))


def replicated() -> NamedSharding:
  """The whole array on every device of :func:`mesh`."""
  return NamedSharding(mesh(), PartitionSpec())


def split_along_batch() -> NamedSharding:
  """The leading dimension divided among the devices of :func:`mesh`."""
  return NamedSharding(mesh(), PartitionSpec(BATCH_AXIS))


def replicate(tree: Any) -> Any:
  """``tree`` with every leaf replicated (:func:`replicated`); the same tree, without a copy,
  when every leaf already is (the cheap case of every step after the first)."""
  target = replicated()
  leaves = jax.tree_util.tree_leaves(tree)
  if all(getattr(leaf, 'sharding', None) == target for leaf in leaves):
    return tree
  return jax.device_put(tree, target)


def place_batch(batch: Any) -> Any:
  """The batch on the devices of :func:`mesh`.

  A leaf that is already a ``jax.Array`` spanning every device keeps its placement (the
  input pipeline chose it: AlgoPerf's split it along ``batch``). Any other leaf is split
  along ``batch`` when its leading dimension divides evenly among the devices, else
  replicated. Deterministic in the leaves' shapes and placements, so every batch of a trial
  is placed alike.
  """
  devices = set(jax.devices())
  count = len(devices)

  def place(leaf):
    if isinstance(leaf, jax.Array) and leaf.sharding.device_set == devices:
      return leaf
    shape = np.shape(leaf)
    if shape and shape[0] % count == 0:
      return jax.device_put(leaf, split_along_batch())
    return jax.device_put(leaf, replicated())

  return jax.tree_util.tree_map(place, batch)


def keep_model_state_layout(received: Any, returned: Any) -> Any:
  """``returned`` in the pytree structure and leaf shapes of ``received`` when the two hold
  the same leaves (equal key paths, element counts and dtypes; two states without leaves
  match), else ``returned`` unchanged. Applied while tracing, so it costs nothing at run time.
  """
  old, treedef = jax.tree_util.tree_flatten_with_path(received)
  new = jax.tree_util.tree_flatten_with_path(returned)[0]
  if len(old) != len(new):
    return returned
  for (old_path, old_leaf), (new_path, new_leaf) in zip(old, new):
    if (
      jax.tree_util.keystr(old_path) != jax.tree_util.keystr(new_path)
      or jnp.size(old_leaf) != jnp.size(new_leaf)
      or jnp.result_type(old_leaf) != jnp.result_type(new_leaf)
    ):
      return returned
  leaves = [
    jnp.reshape(new_leaf, jnp.shape(old_leaf)) for (_, old_leaf), (_, new_leaf) in zip(old, new)
  ]
  return jax.tree_util.tree_unflatten(treedef, leaves)
