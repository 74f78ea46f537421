"""``init_variables``: a model's init as one compiled program gives the eager init's variables."""

import jax
import jax.numpy as jnp
import numpy as np
import tiny_workload

from local_runner.workloads.base import init_variables
from local_runner.workloads.imagenet_resnet_mini import MiniResNet


def assert_same_bits(a, b):
  leaves_a, leaves_b = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
  assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
  assert all(np.array_equal(x, y) for x, y in zip(leaves_a, leaves_b))


def test_jitted_init_matches_the_eager_init_bit_for_bit():
  rng = jax.random.PRNGKey(4)
  for model, example in ((tiny_workload.Linear(), jnp.zeros((1, 8, 8, 1))),
                         (MiniResNet(), jnp.zeros((1, 8, 8, 1)))):
    assert_same_bits(init_variables(model, rng, example), model.init(rng, example, train=False))
