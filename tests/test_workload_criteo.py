"""criteo1tb_mini: data, parameter tree, loss, and short local-runner trials."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import run_short_trial

from algoperf_compat import spec
from local_runner.workloads import criteo1tb_mini, get_workload

NAME = 'criteo1tb_mini'


@pytest.fixture(scope='module')
def workload_and_params():
  workload = get_workload(NAME)
  params, model_state = workload.init_model_fn(jax.random.PRNGKey(0))
  return workload, params, model_state


def test_data_is_deterministic_with_the_documented_layout():
  splits = criteo1tb_mini.generate_clicks(0)
  assert {k: len(v['targets']) for k, v in splits.items()} == {
    'train': 400_000,
    'validation': 10_000,
    'test': 10_000,
    'eval_train': 10_000,
  }
  inputs = splits['validation']['inputs']
  assert inputs.shape == (10_000, 39) and inputs.dtype == np.float32
  categories = inputs[:, 13:]
  assert np.all(categories == np.round(categories))
  assert np.all(categories.max(0) < np.array(criteo1tb_mini.VOCAB_SIZES))
  assert 0.2 < splits['train']['targets'].mean() < 0.45
  other = criteo1tb_mini.generate_clicks.__wrapped__(1)
  assert not np.array_equal(other['validation']['inputs'], inputs)
  again = criteo1tb_mini.generate_clicks.__wrapped__(0)
  np.testing.assert_array_equal(again['validation']['inputs'], inputs)


def test_power_law_categories_and_a_known_achievable_loss():
  splits = criteo1tb_mini.generate_clicks(0)
  last = splits['train']['inputs'][:, -1].astype(int)  # 2,000 categories
  counts = np.bincount(last, minlength=criteo1tb_mini.VOCAB_SIZES[-1])
  assert counts[0] > 20 * counts[99] > 0
  p = splits['validation']['targets'].mean()
  base_rate_loss = -(p * math.log(p) + (1 - p) * math.log(1 - p))
  bayes = criteo1tb_mini.bayes_loss(0, 'validation')
  assert bayes < base_rate_loss - 0.1
  assert get_workload(NAME).validation_target_value > bayes


def test_param_shapes_types_and_output_layer(workload_and_params):
  workload, params, _ = workload_and_params
  assert jax.tree_util.tree_map(lambda x: tuple(x.shape), params) == jax.tree_util.tree_map(
    lambda s: tuple(s.shape_tuple),
    workload.param_shapes,
    is_leaf=lambda x: isinstance(x, spec.ShapeTuple),
  )
  total_rows = sum(criteo1tb_mini.VOCAB_SIZES)
  assert params['embedding_table']['embedding'].shape == (total_rows, 16)
  types = workload.model_params_types
  assert types['embedding_table']['embedding'] == spec.ParameterType.EMBEDDING
  assert types['Dense_bottom_0']['kernel'] == spec.ParameterType.WEIGHT
  assert types['Dense_top_1']['bias'] == spec.ParameterType.BIAS
  assert params['Dense_top_0']['kernel'].shape == (16 + 27 * 26 // 2, 64)
  assert params['Dense_out']['kernel'].shape == (32, 1)
  assert [k for k in params if workload.is_output_params(k)] == ['Dense_out']


def test_logits_and_masked_sigmoid_loss(workload_and_params):
  workload, params, state = workload_and_params
  batch = {k: jnp.asarray(v[:8]) for k, v in workload.splits['validation'].items()}
  logits, _ = workload.model_fn(params, batch, state, spec.ForwardPassMode.EVAL, None, False)
  assert logits.shape == (8,)
  labels = jnp.array([1.0, 0.0, 1.0])
  out = workload.loss_fn(labels, jnp.zeros(3), jnp.array([1.0, 1.0, 0.0]))
  assert float(out['n_valid_examples']) == 2
  assert float(out['summed']) == pytest.approx(2 * math.log(2), rel=1e-6)
  smoothed = workload.loss_fn(jnp.array([1.0]), jnp.array([10.0]), label_smoothing=0.2)
  assert float(smoothed['summed']) > float(
    workload.loss_fn(jnp.array([1.0]), jnp.array([10.0]))['summed']
  )


@pytest.mark.parametrize('submission', ['nadamw', 'heavy_ball'])
def test_short_trial_logs_the_metric_columns(tmp_path, submission):
  summary, rows = run_short_trial(tmp_path, NAME, submission, steps=3)
  assert summary['global_step'] == 3 and not summary['diverged']
  for split in ('train', 'validation', 'test'):
    assert math.isfinite(float(rows[-1][f'{split}/loss']))
    assert 0.3 < float(rows[-1][f'{split}/loss']) < 1.5
