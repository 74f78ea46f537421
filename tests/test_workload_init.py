"""``init_variables``: a model's init as one compiled program gives the eager init's variables."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from local_runner.workloads.base import init_variables


class DenseBatchNorm(nn.Module):
  """Truncated-normal and zero initializers, and batch-norm statistics (a second collection)."""

  @nn.compact
  def __call__(self, x, train: bool):
    x = nn.Dense(6)(x.reshape((x.shape[0], -1)))
    x = nn.BatchNorm(use_running_average=not train)(x)
    return nn.Dense(3)(nn.relu(x))


def test_jitted_init_matches_the_eager_init_bit_for_bit():
  model, example, rng = DenseBatchNorm(), jnp.zeros((1, 8, 8, 1)), jax.random.PRNGKey(4)
  jitted, eager = init_variables(model, rng, example), model.init(rng, example, train=False)
  assert set(jitted) == {'params', 'batch_stats'}
  assert jax.tree_util.tree_structure(jitted) == jax.tree_util.tree_structure(eager)
  assert all(
    np.array_equal(a, b)
    for a, b in zip(jax.tree_util.tree_leaves(jitted), jax.tree_util.tree_leaves(eager))
  )
