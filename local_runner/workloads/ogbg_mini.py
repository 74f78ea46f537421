"""``ogbg_mini``: a jraph graph network on generated molecule-like graphs, multi-label.

Stands in for AlgoPerf's ``ogbg`` (GNN on ogbg-molpcba, sigmoid cross-entropy
over 128 partly missing binary labels, target metric mean average precision,
higher is better) on two CPU cores.

Data (``generate_molecules``, deterministic in the seed): graphs of 6-24 atoms
of 6 types with a maximum degree per type (4, 3, 2, 1, 2, 3). A random spanning
tree attaches each atom to an earlier one with a free valence, then 0-3 extra
bonds close rings; bonds are single, double or triple (p = 0.7, 0.2, 0.1).
Node features: one-hot atom type; edge features: one-hot bond type; every bond
is two directed edges. ``NUM_LABELS`` binary labels are functions of the
structure (``LABEL_RULES``: rings, triangles, atom counts, degrees, typed
bonds), some common and some rare; 10 % of the label entries are missing
(``weights`` 0, as OGB's NaN labels). Splits: 4,000 train / 1,000 validation /
1,000 test graphs; ``eval_train`` is the first 1,000 training graphs.

Batches: the graphs of a batch are concatenated and padded (``pad_graphs``, the layout of
``jraph.pad_with_graphs``, in numpy) to fixed sizes (``batch * MAX_NODES + 1`` nodes,
``batch * MAX_EDGES + 1`` edges, ``batch + 1`` graphs), so jit compiles once;
``targets``/``weights`` have one row per graph slot, padding rows weigh 0.
``n_valid_examples`` of the loss is the number of present label entries.

Model: AlgoPerf's GNN scaled down: dense node/edge embeddings (32), 3
``jraph.GraphNetwork`` layers whose edge/node/global updates are MLPs
(dense 32 - layer norm - ReLU - dropout) on concatenated inputs, then a dense
readout of the graph globals to one logit per label. Dropout defaults to 0.1
(AlgoPerf's ogbg default).

Budget: step_hint 1,200, 20 s, eval every 2 s, target mAP 0.74 (validation and
test). Measured with the study's defaults (seed 1, whole budget, 2 CPU cores
under a load average of ~4), final validation mAP: nesterov 0.844 (reaches the
target at 15 s), heavy_ball 0.747 (just reaches), nadamw 0.720, adam 0.716,
nadam 0.714 (miss); 1,190-1,420 steps (~10 ms per step, 5-8 s to the first
evaluation, compilation included).

Metric: ``metrics.mean_average_precision`` (labels without both a positive and
a negative among their present entries are left out, as OGB does).
"""

from __future__ import annotations

import functools
from typing import Dict, Iterator, List

import flax.linen as nn
import jax
import jax.numpy as jnp
import jraph
import numpy as np
import optax

from algoperf_compat import spec
from local_runner.workloads.base import (
  StatelessWorkload,
  init_variables,
  masked_loss,
  smoothed_sigmoid_cross_entropy,
)
from local_runner.workloads.metrics import mean_average_precision

MAX_DEGREE = (4, 3, 2, 1, 2, 3)
ATOM_TYPE_PROBS = (0.5, 0.15, 0.15, 0.1, 0.05, 0.05)
BOND_TYPE_PROBS = (0.7, 0.2, 0.1)
MIN_ATOMS, MAX_ATOMS = 6, 24
MAX_EXTRA_BONDS = 3
MAX_NODES = MAX_ATOMS
MAX_EDGES = 2 * (MAX_ATOMS - 1 + MAX_EXTRA_BONDS)
MISSING_LABEL_PROB = 0.1
SPLIT_SIZES = {'train': 4000, 'validation': 1000, 'test': 1000}
EVAL_TRAIN_SIZE = 1000
DEFAULT_DROPOUT_RATE = 0.1


def _has_triangle(adjacency: np.ndarray) -> bool:
  return bool(np.trace(adjacency @ adjacency @ adjacency) > 0)


def _typed_bond(atoms, bonds, type_a, type_b, bond_type=None) -> bool:
  for (i, j), b in bonds.items():
    if bond_type is not None and b != bond_type:
      continue
    if {atoms[i], atoms[j]} == {type_a, type_b} and (type_a != type_b or atoms[i] == atoms[j]):
      return True
  return False


#: (name, rule(atoms, bonds, adjacency) -> bool); ``bonds`` maps (i, j), i < j, to the bond type.
LABEL_RULES = (
  ('has_ring', lambda a, b, adj: len(b) >= len(a)),
  ('at_least_3_type1', lambda a, b, adj: np.sum(a == 1) >= 3),
  ('type2_type2_bond', lambda a, b, adj: _typed_bond(a, b, 2, 2)),
  (
    'type1_triple_bond',
    lambda a, b, adj: any(t == 2 and 1 in (a[i], a[j]) for (i, j), t in b.items()),
  ),
  ('has_degree_4_atom', lambda a, b, adj: adj.sum(1).max() >= 4),
  ('at_least_16_atoms', lambda a, b, adj: len(a) >= 16),
  (
    'type4_double_bond',
    lambda a, b, adj: any(t == 1 and 4 in (a[i], a[j]) for (i, j), t in b.items()),
  ),
  ('has_triangle', lambda a, b, adj: _has_triangle(adj)),
  ('type3_on_type1', lambda a, b, adj: _typed_bond(a, b, 1, 3)),
  ('type5_type5_bond', lambda a, b, adj: _typed_bond(a, b, 5, 5)),
)
NUM_LABELS = len(LABEL_RULES)
NUM_ATOM_TYPES, NUM_BOND_TYPES = len(MAX_DEGREE), len(BOND_TYPE_PROBS)


def _random_molecule(rng: np.random.Generator):
  """(atom types, {(i, j): bond type}) of one graph (see module docstring)."""
  n = int(rng.integers(MIN_ATOMS, MAX_ATOMS + 1))
  atoms = np.searchsorted(np.cumsum(ATOM_TYPE_PROBS), rng.uniform(size=n) * 0.999999)
  atoms[0] = 0  # a carbon-like root always has room for children
  capacity = np.array([MAX_DEGREE[t] for t in atoms])
  bond_types = np.searchsorted(
    np.cumsum(BOND_TYPE_PROBS), rng.uniform(size=n + MAX_EXTRA_BONDS) * 0.999999
  )
  picks = rng.uniform(size=(n + MAX_EXTRA_BONDS, 2))
  bonds = {}

  def bond(i, j):
    bonds[(min(i, j), max(i, j))] = int(bond_types[len(bonds)])
    capacity[i] -= 1
    capacity[j] -= 1

  kept = 1
  for i in range(1, n):
    free = np.flatnonzero(capacity[:kept] > 0)
    if len(free) == 0:
      break
    atoms[kept] = atoms[i]
    capacity[kept] = MAX_DEGREE[atoms[i]]
    bond(kept, int(free[int(picks[i, 0] * len(free))]))
    kept += 1
  atoms, capacity = atoms[:kept], capacity[:kept]
  for k in range(int(rng.integers(0, MAX_EXTRA_BONDS + 1))):
    free = np.flatnonzero(capacity > 0)
    if len(free) < 2:
      break
    i = int(free[int(picks[n + k, 0] * len(free))])
    others = free[free != i]
    j = int(others[int(picks[n + k, 1] * len(others))])
    if (min(i, j), max(i, j)) not in bonds:
      bond(i, j)
  return atoms, bonds


def _graph_arrays(atoms, bonds) -> Dict[str, np.ndarray]:
  pairs = np.array(list(bonds), np.int32).reshape(-1, 2)
  bond_types = np.array(list(bonds.values()), np.int32)
  return {
    'nodes': np.eye(NUM_ATOM_TYPES, dtype=np.float32)[atoms],
    'edges': np.eye(NUM_BOND_TYPES, dtype=np.float32)[np.r_[bond_types, bond_types]],
    'senders': np.r_[pairs[:, 0], pairs[:, 1]].astype(np.int32),
    'receivers': np.r_[pairs[:, 1], pairs[:, 0]].astype(np.int32),
  }


@functools.lru_cache(maxsize=4)
def generate_molecules(seed: int) -> Dict[str, Dict[str, object]]:
  """Splits {'targets': (n, L), 'weights': (n, L), 'graphs': list of per-graph array dicts}."""
  rng = np.random.default_rng(seed)
  n = sum(SPLIT_SIZES.values())
  graphs, labels = [], np.zeros((n, NUM_LABELS), np.float32)
  for g in range(n):
    atoms, bonds = _random_molecule(rng)
    adjacency = np.zeros((len(atoms), len(atoms)), np.int32)
    for i, j in bonds:
      adjacency[i, j] = adjacency[j, i] = 1
    labels[g] = [rule(atoms, bonds, adjacency) for _, rule in LABEL_RULES]
    graphs.append(_graph_arrays(atoms, bonds))
  weights = (rng.uniform(size=labels.shape) >= MISSING_LABEL_PROB).astype(np.float32)
  labels *= weights
  splits, start = {}, 0
  for name, size in SPLIT_SIZES.items():
    part = slice(start, start + size)
    splits[name] = {'targets': labels[part], 'weights': weights[part], 'graphs': graphs[part]}
    start += size
  train = splits['train']
  splits['eval_train'] = {k: v[:EVAL_TRAIN_SIZE] for k, v in train.items()}
  return splits


def pad_graphs(
  graph: jraph.GraphsTuple, n_node: int, n_edge: int, n_graph: int
) -> jraph.GraphsTuple:
  """``jraph.pad_with_graphs`` in numpy (the same layout, without device round trips).

  One padding graph takes all padding nodes and all padding edges (which join
  the first padding node to itself); the remaining graph slots are empty graphs.
  """
  real_nodes, real_edges, real_graphs = len(graph.nodes), len(graph.senders), len(graph.n_node)
  if real_nodes >= n_node or real_edges > n_edge or real_graphs >= n_graph:
    raise ValueError(
      f'pad_graphs: {real_nodes} nodes / {real_edges} edges / {real_graphs} graphs '
      f'do not fit {n_node} / {n_edge} / {n_graph}'
    )
  pad = lambda a, rows: np.concatenate([a, np.zeros((rows,) + a.shape[1:], a.dtype)])
  edge_fill = np.full(n_edge - real_edges, real_nodes, np.int32)
  counts = lambda counts, total: np.concatenate(
    [counts, [total], np.zeros(n_graph - real_graphs - 1, np.int32)]
  ).astype(np.int32)
  return jraph.GraphsTuple(
    nodes=pad(graph.nodes, n_node - real_nodes),
    edges=pad(graph.edges, n_edge - real_edges),
    senders=np.concatenate([graph.senders, edge_fill]).astype(np.int32),
    receivers=np.concatenate([graph.receivers, edge_fill]).astype(np.int32),
    n_node=counts(graph.n_node, n_node - real_nodes),
    n_edge=counts(graph.n_edge, n_edge - real_edges),
    globals=pad(graph.globals, n_graph - real_graphs),
  )


def padded_batch(split: Dict[str, object], indices, batch_size: int) -> Dict[str, object]:
  """The graphs ``indices`` (at most ``batch_size``) as one padded batch of fixed sizes."""
  graphs: List[Dict[str, np.ndarray]] = [split['graphs'][i] for i in indices]
  n_node = np.array([len(g['nodes']) for g in graphs], np.int32)
  n_edge = np.array([len(g['senders']) for g in graphs], np.int32)
  offsets = np.r_[0, np.cumsum(n_node)[:-1]]
  batch = jraph.GraphsTuple(
    nodes=np.concatenate([g['nodes'] for g in graphs]),
    edges=np.concatenate([g['edges'] for g in graphs]),
    senders=np.concatenate([g['senders'] + o for g, o in zip(graphs, offsets)]),
    receivers=np.concatenate([g['receivers'] + o for g, o in zip(graphs, offsets)]),
    n_node=n_node,
    n_edge=n_edge,
    globals=np.zeros((len(graphs), 1), np.float32),
  )
  batch = pad_graphs(
    batch,
    n_node=batch_size * MAX_NODES + 1,
    n_edge=batch_size * MAX_EDGES + 1,
    n_graph=batch_size + 1,
  )
  rows = np.zeros((batch_size + 1, NUM_LABELS), np.float32)
  targets, weights = rows.copy(), rows.copy()
  targets[: len(graphs)] = split['targets'][indices]
  weights[: len(graphs)] = split['weights'][indices]
  return {'inputs': batch, 'targets': targets, 'weights': weights}


class GraphMLP(nn.Module):
  """(dense - layer norm - ReLU - dropout) per hidden width, on the concatenated inputs."""

  widths: tuple
  dropout_rate: float
  train: bool

  @nn.compact
  def __call__(self, *inputs):
    x = jnp.concatenate(inputs, axis=-1)
    for width in self.widths:
      x = nn.relu(nn.LayerNorm()(nn.Dense(width)(x)))
      if self.dropout_rate:
        x = nn.Dropout(self.dropout_rate, deterministic=not self.train)(x)
    return x


class GraphNet(nn.Module):
  """Embed nodes and edges, ``num_message_passing_steps`` GraphNetwork layers, read out globals."""

  num_outputs: int = NUM_LABELS
  latent_dim: int = 32
  hidden_widths: tuple = (32,)
  num_message_passing_steps: int = 3

  @nn.compact
  def __call__(self, graph: jraph.GraphsTuple, train: bool, dropout_rate: float):
    graph = graph._replace(globals=jnp.zeros((graph.n_node.shape[0], self.latent_dim)))
    graph = jraph.GraphMapFeatures(
      embed_node_fn=nn.Dense(self.latent_dim, name='Dense_node_embed'),
      embed_edge_fn=nn.Dense(self.latent_dim, name='Dense_edge_embed'),
    )(graph)
    for step in range(self.num_message_passing_steps):

      def mlp(part, step=step):
        return GraphMLP(self.hidden_widths, dropout_rate, train, name=f'MLP_{part}_{step}')

      graph = jraph.GraphNetwork(
        update_edge_fn=mlp('edge'), update_node_fn=mlp('node'), update_global_fn=mlp('global')
      )(graph)
    return nn.Dense(self.num_outputs, name='Dense_out')(graph.globals)


@functools.partial(jax.jit, static_argnums=0)
def _predict(model: nn.Module, params, graph):
  """Eval-mode logits; jitted once per model configuration, shared by workload instances."""
  return model.apply({'params': params}, graph, train=False, dropout_rate=0.0)


class OgbgMiniWorkload(StatelessWorkload):
  """GNN on generated molecules; target: validation mean average precision (higher is better)."""

  name = 'ogbg_mini'
  target_metric_name = 'mean_average_precision'
  validation_target_value = 0.74
  test_target_value = 0.74
  loss_type = spec.LossType.SIGMOID_CROSS_ENTROPY
  default_dropout_rate = DEFAULT_DROPOUT_RATE
  step_hint = 1200
  max_allowed_runtime_sec = 20
  eval_period_time_sec = 2.0
  default_batch_size = 32
  eval_batch_size = 250

  def __init__(self):
    super().__init__()
    self._model = GraphNet()
    self._eval_batches = {}

  def _make_splits(self):
    return generate_molecules(self.data_seed)

  @property
  def num_train_examples(self) -> int:
    return len(self.splits['train']['targets'])

  def _build_input_queue(
    self, data_rng, split: str, data_dir=None, global_batch_size: int | None = None
  ) -> Iterator[Dict[str, object]]:
    """Endless shuffled padded batches of ``split``; a fresh permutation each epoch, drop the remainder."""
    del data_dir
    data = self.splits[split]
    n = len(data['targets'])
    batch_size = min(global_batch_size or self.default_batch_size, n)
    rng = np.random.default_rng(int(jax.random.randint(data_rng, (), 0, 2**31 - 1)))
    while True:
      order = rng.permutation(n)
      for start in range(0, n - batch_size + 1, batch_size):
        yield padded_batch(data, order[start : start + batch_size], batch_size)

  def init_model_fn(self, rng, dropout_rate=None, aux_dropout_rate=None):
    del dropout_rate, aux_dropout_rate
    example = padded_batch(self.splits['validation'], np.arange(1), 1)['inputs']
    params = dict(init_variables(self._model, rng, example, dropout_rate=0.0)['params'])
    self._record_param_tree(params)
    return params, None

  def loss_fn(self, label_batch, logits_batch, mask_batch=None, label_smoothing: float = 0.0):
    """Sigmoid cross-entropy per present label entry (targets smoothed towards 1/2).

    ``summed`` over entries with mask 1, ``n_valid_examples`` = number of such
    entries, ``per_example`` the masked ``(graphs, labels)`` matrix.
    """
    return masked_loss(
      smoothed_sigmoid_cross_entropy(logits_batch, label_batch, label_smoothing), mask_batch
    )

  def _batches_of(self, split_name: str, split) -> list:
    if split_name not in self._eval_batches:
      n = len(split['targets'])
      self._eval_batches[split_name] = [
        padded_batch(split, np.arange(s, min(s + self.eval_batch_size, n)), self.eval_batch_size)
        for s in range(0, n, self.eval_batch_size)
      ]
    return self._eval_batches[split_name]

  def _split_metrics(self, params, model_state, split):
    del model_state
    name = next(k for k, v in self.splits.items() if v is split)
    n = len(split['targets'])
    logits = np.concatenate(
      [
        np.asarray(_predict(self._model, params, b['inputs']))[:-1]
        for b in self._batches_of(name, split)
      ]
    )[:n]
    targets, weights = split['targets'], split['weights']
    per_entry = np.asarray(optax.sigmoid_binary_cross_entropy(logits, targets)) * weights
    return {
      'loss': float(per_entry.sum() / weights.sum()),
      'mean_average_precision': mean_average_precision(targets, logits, weights),
    }
