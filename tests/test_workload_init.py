"""``init_variables``: a model's init as one compiled program gives the eager init's variables."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.datasets import load_digits

from local_runner.workloads import base, get_workload, imagenet_resnet_mini
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


@pytest.mark.parametrize(
  'name',
  [
    'criteo1tb_mini',
    'imagenet_resnet_mini',
    pytest.param('fastmri_mini', marks=pytest.mark.slow),
    pytest.param('ogbg_mini', marks=pytest.mark.slow),
  ],
)
def test_the_set_up_options_give_the_default_compilations_variables_bit_for_bit(name, monkeypatch):
  """The embedded models initialise under SETUP_CPU_COMPILER_OPTIONS (LLVM level 1, compiled
  3-4x faster) to the same bits as under XLA's defaults."""
  workload = get_workload(name)
  variables = {}
  for label, options in (('default', {}), ('set-up', base.SETUP_CPU_COMPILER_OPTIONS)):
    monkeypatch.setattr(base, 'setup_compiler_options', lambda backend, o=options: dict(o))
    params, _ = workload.init_model_fn(jax.random.PRNGKey(7))
    variables[label] = jax.tree_util.tree_leaves(params)
  assert len(variables['default']) == len(variables['set-up']) > 0
  assert all(
    np.array_equal(a, b) and a.dtype == b.dtype
    for a, b in zip(variables['default'], variables['set-up'])
  )


def test_set_up_options_apply_on_a_cpu_only():
  assert base.setup_compiler_options('cpu') == base.SETUP_CPU_COMPILER_OPTIONS
  assert base.setup_compiler_options('gpu') == {}


def test_the_digits_are_scikit_learns_without_importing_it():
  images, labels = imagenet_resnet_mini.read_digits()
  digits = load_digits()
  assert images.shape == (1797, 8, 8) and np.array_equal(images, digits.images)
  assert np.array_equal(labels, digits.target)
