"""fastmri_mini: data, U-Net parameter tree, L1 loss, and short local-runner trials."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import run_short_trial

from algoperf_compat import spec
from local_runner.workloads import fastmri_mini, get_workload
from local_runner.workloads.metrics import ssim

NAME = 'fastmri_mini'


@pytest.fixture(scope='module')
def workload_and_params():
  workload = get_workload(NAME)
  params, model_state = workload.init_model_fn(jax.random.PRNGKey(0))
  return workload, params, model_state


def test_masks_keep_a_quarter_of_the_columns_including_the_centre():
  masks = fastmri_mini._column_masks(np.random.default_rng(0), 50)
  assert np.all(masks.sum(1) == fastmri_mini.IMAGE_SIZE // 4)
  assert np.all(masks[:, 15:18])  # central columns of centred k-space
  assert len({m.tobytes() for m in masks}) > 1


def test_full_mask_reconstructs_exactly_and_undersampling_degrades():
  splits = fastmri_mini.generate_phantoms(0)
  targets = splits['validation']['targets'][:4]
  full = np.ones((4, fastmri_mini.IMAGE_SIZE), bool)
  np.testing.assert_allclose(
    fastmri_mini.zero_filled_reconstruction(targets, full), targets, atol=1e-5
  )
  inputs = splits['validation']['inputs']
  zero_filled = np.mean([ssim(x, y) for x, y in zip(inputs, splits['validation']['targets'])])
  assert 0.3 < zero_filled < get_workload(NAME).validation_target_value
  again = fastmri_mini.generate_phantoms.__wrapped__(0)
  np.testing.assert_array_equal(again['test']['inputs'], splits['test']['inputs'])
  assert {k: len(v['targets']) for k, v in splits.items()} == {
    'train': 3000,
    'validation': 256,
    'test': 256,
    'eval_train': 64,
  }


def test_param_shapes_types_and_output_layer(workload_and_params):
  workload, params, _ = workload_and_params
  assert jax.tree_util.tree_map(lambda x: tuple(x.shape), params) == jax.tree_util.tree_map(
    lambda s: s.shape_tuple, workload.param_shapes, is_leaf=lambda x: isinstance(x, spec.ShapeTuple)
  )
  types = workload.model_params_types
  assert types['ConvBlock_down_0']['Conv_0']['kernel'] == spec.ParameterType.CONV_WEIGHT
  assert types['UpBlock_0']['ConvTranspose']['kernel'] == spec.ParameterType.CONV_WEIGHT
  assert types['Conv_out']['bias'] == spec.ParameterType.BIAS
  assert params['ConvBlock_bottleneck']['Conv_1']['kernel'].shape == (3, 3, 32, 32)
  assert params['Conv_out']['kernel'].shape == (1, 1, 8, 1)
  assert [k for k in params if workload.is_output_params(k)] == ['Conv_out']


def test_output_shape_and_masked_l1_loss(workload_and_params):
  workload, params, state = workload_and_params
  batch = {k: jnp.asarray(v[:3]) for k, v in workload.splits['validation'].items()}
  images, _ = workload.model_fn(params, batch, state, spec.ForwardPassMode.EVAL, None, False)
  assert images.shape == (3, 32, 32)
  prediction = jnp.zeros((2, 32, 32))
  target = jnp.stack([jnp.full((32, 32), 0.5), jnp.full((32, 32), 2.0)])
  out = workload.loss_fn(target, prediction, jnp.array([1.0, 0.0]))
  assert float(out['summed']) == pytest.approx(0.5) and float(out['n_valid_examples']) == 1
  dropped, _ = workload.model_fn(
    params, batch, state, spec.ForwardPassMode.TRAIN, jax.random.PRNGKey(1), True, dropout_rate=0.5
  )
  assert not np.allclose(dropped, images)


@pytest.mark.parametrize('submission', ['nadamw', 'heavy_ball'])
def test_short_trial_logs_the_metric_columns(tmp_path, submission):
  summary, rows = run_short_trial(tmp_path, NAME, submission, steps=2)
  assert summary['global_step'] == 2 and not summary['diverged']
  for split in ('train', 'validation', 'test'):
    assert -1.0 <= float(rows[-1][f'{split}/ssim']) <= 1.0
    assert math.isfinite(float(rows[-1][f'{split}/loss']))
