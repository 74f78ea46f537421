"""ogbg_mini: generated graphs, padding, GNN parameter tree, masked loss, short trials."""

import math

import jax
import jax.numpy as jnp
import jraph
import numpy as np
import pytest
from conftest import run_short_trial

from algoperf_compat import spec
from local_runner.workloads import get_workload, ogbg_mini

NAME = 'ogbg_mini'


@pytest.fixture(scope='module')
def workload_and_params():
  workload = get_workload(NAME)
  params, model_state = workload.init_model_fn(jax.random.PRNGKey(0))
  return workload, params, model_state


def test_graphs_respect_valences_and_labels_follow_the_rules():
  splits = ogbg_mini.generate_molecules(0)
  train = splits['train']
  sizes = [len(g['nodes']) for g in train['graphs']]
  assert min(sizes) >= 2 and max(sizes) <= ogbg_mini.MAX_NODES and len(set(sizes)) > 10
  for g in train['graphs'][:200]:
    degree = np.bincount(g['senders'], minlength=len(g['nodes']))
    assert np.all(degree <= np.array(ogbg_mini.MAX_DEGREE)[g['nodes'].argmax(1)])
    assert len(g['senders']) <= ogbg_mini.MAX_EDGES
  rates = (train['targets'] * train['weights']).sum(0) / train['weights'].sum(0)
  assert rates.min() < 0.05 and rates.max() > 0.5  # rare and common labels
  assert 0.85 < train['weights'].mean() < 0.95  # about 10 % missing
  assert np.all(train['targets'][train['weights'] == 0] == 0)
  again = ogbg_mini.generate_molecules.__wrapped__(0)
  np.testing.assert_array_equal(again['validation']['targets'], splits['validation']['targets'])


def test_padding_matches_jraph_pad_with_graphs():
  split = ogbg_mini.generate_molecules(0)['validation']
  batch = ogbg_mini.padded_batch(split, np.arange(3), 5)
  graphs = [split['graphs'][i] for i in range(3)]
  real = jraph.batch(
    [
      jraph.GraphsTuple(
        nodes=g['nodes'],
        edges=g['edges'],
        senders=g['senders'],
        receivers=g['receivers'],
        n_node=np.array([len(g['nodes'])]),
        n_edge=np.array([len(g['senders'])]),
        globals=np.zeros((1, 1), np.float32),
      )
      for g in graphs
    ]
  )
  expected = jraph.pad_with_graphs(
    real, 5 * ogbg_mini.MAX_NODES + 1, 5 * ogbg_mini.MAX_EDGES + 1, 6
  )
  for field in ('nodes', 'edges', 'senders', 'receivers', 'n_node', 'n_edge', 'globals'):
    np.testing.assert_array_equal(
      np.asarray(getattr(batch['inputs'], field)),
      np.asarray(getattr(expected, field)),
      err_msg=field,
    )
  assert batch['targets'].shape == (6, ogbg_mini.NUM_LABELS)
  assert np.all(batch['weights'][3:] == 0)
  np.testing.assert_array_equal(batch['targets'][:3], split['targets'][:3])


def test_param_shapes_types_and_output_layer(workload_and_params):
  workload, params, _ = workload_and_params
  assert jax.tree_util.tree_map(lambda x: tuple(x.shape), params) == jax.tree_util.tree_map(
    lambda s: s.shape_tuple, workload.param_shapes, is_leaf=lambda x: isinstance(x, spec.ShapeTuple)
  )
  types = workload.model_params_types
  assert types['MLP_node_0']['LayerNorm_0']['scale'] == spec.ParameterType.LAYER_NORM_SCALE
  assert types['MLP_edge_2']['LayerNorm_0']['bias'] == spec.ParameterType.LAYER_NORM_BIAS
  assert types['Dense_node_embed']['kernel'] == spec.ParameterType.WEIGHT
  assert types['Dense_out']['bias'] == spec.ParameterType.BIAS
  assert params['Dense_node_embed']['kernel'].shape == (ogbg_mini.NUM_ATOM_TYPES, 32)
  assert params['Dense_out']['kernel'].shape == (32, ogbg_mini.NUM_LABELS)
  assert [k for k in params if workload.is_output_params(k)] == ['Dense_out']


def test_logits_per_graph_slot_and_masked_loss(workload_and_params):
  workload, params, state = workload_and_params
  batch = ogbg_mini.padded_batch(workload.splits['validation'], np.arange(4), 4)
  logits, _ = workload.model_fn(params, batch, state, spec.ForwardPassMode.EVAL, None, False)
  assert logits.shape == (5, ogbg_mini.NUM_LABELS)
  labels = jnp.array([[1.0, 0.0], [0.0, 1.0]])
  out = workload.loss_fn(labels, jnp.zeros((2, 2)), jnp.array([[1.0, 0.0], [1.0, 1.0]]))
  assert float(out['n_valid_examples']) == 3
  assert float(out['summed']) == pytest.approx(3 * math.log(2), rel=1e-6)


@pytest.mark.parametrize('submission', ['nadamw', 'heavy_ball'])
def test_short_trial_logs_the_metric_columns(tmp_path, submission):
  summary, rows = run_short_trial(tmp_path, NAME, submission, steps=2)
  assert summary['global_step'] == 2 and not summary['diverged']
  for split in ('train', 'validation', 'test'):
    assert 0.0 < float(rows[-1][f'{split}/mean_average_precision']) <= 1.0
    assert math.isfinite(float(rows[-1][f'{split}/loss']))
