"""``criteo1tb_mini``: DLRM-small on click data from a hidden generative model.

Stands in for AlgoPerf's ``criteo1tb`` (DLRM-small, sigmoid cross-entropy,
target metric: validation loss, lower is better) on two CPU cores.

Data (``generate_clicks``, deterministic in the seed, a few hundred ms): 13
dense count features ``x_i = floor(exp(N(mu_i, 1)))`` and 26 categorical
features whose category ``k`` of feature ``j`` has probability proportional to
``(k + 1)^-1.2`` (vocabularies from 3 to 2,000 categories). The click
probability is ``sigmoid(b + a.z + 0.4 z_0 z_1 + sum_j w_j[c_j] + sum_{pairs}
<u_a[c_a], u_b[c_b]>)`` with ``z = standardised log1p(x)``, per-category
weights ``w`` on every feature and rank-4 factors ``u`` on the first 8 features
(28 pairwise interactions). Since that model is known, the Bayes loss
(the mean entropy of the true click probabilities, ``bayes_loss``) is the best
achievable cross-entropy.
Inputs are AlgoPerf's layout: ``(n, 39)`` float32, ``log1p`` of the 13 dense
counts then the 26 category indices (exact in float32).
Splits: 400,000 train (about 1.5 epochs at the budget, so memorising rare
categories does not dominate) / 10,000 validation / 10,000 test;
``eval_train`` is the first 10,000 training examples. The Bayes loss is 0.4195
on validation; predicting the click rate alone gives 0.64.

Model: DLRM-small scaled down: bottom MLP 64-32-16 on the dense features, one
16-dim embedding per categorical feature (the 26 tables are stored as
contiguous row ranges of one ``embedding_table``), pairwise dot products of the
27 vectors (351 values) concatenated with the bottom output, top MLP 64-32-1.

Budget: step_hint 2,000, 20 s, eval every 2 s, target loss 0.450 (validation
and test). Measured on 2 shared (heavily loaded) CPU cores, 20 s, no target
stop, final/best validation loss: nadamw 0.444/0.444 (reaches 0.450 at ~6 s),
nadam 0.446/0.4455 (~10 s), adam 0.454/0.453 (misses), heavy_ball 0.502/0.492,
nesterov 0.489/0.485 (miss). ~4-5 ms per step plus 2-5 s compilation.
"""

from __future__ import annotations

import functools
from typing import Dict

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from algoperf_compat import spec
from local_runner.workloads.base import (
  StatelessWorkload,
  init_variables,
  masked_loss,
  predict_eval,
  smoothed_sigmoid_cross_entropy,
)

NUM_DENSE = 13
NUM_CATEGORICAL = 26
VOCAB_SIZES = tuple(int(v) for v in np.round(np.geomspace(3, 2000, NUM_CATEGORICAL)))
NUM_INTERACTING = 8
FACTOR_RANK = 4
SPLIT_SIZES = {'train': 400_000, 'validation': 10_000, 'test': 10_000}
EVAL_TRAIN_SIZE = 10_000


def _bernoulli_entropy(p: np.ndarray) -> np.ndarray:
  p = np.clip(p, 1e-12, 1 - 1e-12)
  return -(p * np.log(p) + (1 - p) * np.log1p(-p))


@functools.lru_cache(maxsize=4)
def generate_clicks(seed: int) -> Dict[str, Dict[str, np.ndarray]]:
  """The four splits (see module docstring), plus each split's true click probabilities."""
  rng = np.random.default_rng(seed)
  # The hidden model.
  dense_mu = rng.uniform(0.0, 3.0, NUM_DENSE)
  dense_weights = rng.normal(0.0, 0.3, NUM_DENSE)
  category_probs = [(np.arange(v) + 1.0) ** -1.2 for v in VOCAB_SIZES]
  category_probs = [p / p.sum() for p in category_probs]
  category_weights = [rng.normal(0.0, 0.35, v) for v in VOCAB_SIZES]
  factors = [rng.normal(0.0, 0.35, (v, FACTOR_RANK)) for v in VOCAB_SIZES[:NUM_INTERACTING]]

  n = sum(SPLIT_SIZES.values())
  counts = np.floor(np.exp(rng.normal(dense_mu, 1.0, (n, NUM_DENSE))))
  log_counts = np.log1p(counts)
  z = log_counts - dense_mu
  categories = np.stack(
    [
      np.minimum(np.searchsorted(np.cumsum(p), rng.uniform(size=n)), len(p) - 1)
      for p in category_probs
    ],
    1,
  )

  logit = z @ dense_weights + 0.4 * z[:, 0] * z[:, 1]
  logit += sum(w[categories[:, j]] for j, w in enumerate(category_weights))
  chosen = [f[categories[:, j]] for j, f in enumerate(factors)]
  for a in range(NUM_INTERACTING):
    for b in range(a + 1, NUM_INTERACTING):
      logit += np.sum(chosen[a] * chosen[b], axis=1)
  logit += -1.1 - np.mean(logit)  # about a quarter of the examples are clicks
  probability = 1.0 / (1.0 + np.exp(-logit))
  clicks = (rng.uniform(size=n) < probability).astype(np.float32)

  inputs = np.concatenate([log_counts, categories], axis=1).astype(np.float32)
  splits, start = {}, 0
  for name, size in SPLIT_SIZES.items():
    part = slice(start, start + size)
    splits[name] = {
      'inputs': inputs[part],
      'targets': clicks[part],
      'weights': np.ones(size, np.float32),
      'probability': probability[part],
    }
    start += size
  splits['eval_train'] = {k: v[:EVAL_TRAIN_SIZE] for k, v in splits['train'].items()}
  return splits


def bayes_loss(seed: int, split: str) -> float:
  """Cross-entropy of the true click probabilities (in expectation over the clicks)."""
  return float(np.mean(_bernoulli_entropy(generate_clicks(seed)[split]['probability'])))


class DLRMSmall(nn.Module):
  """Bottom MLP, per-feature embeddings, pairwise dot interactions, top MLP (one logit)."""

  vocab_sizes: tuple = VOCAB_SIZES
  embed_dim: int = 16
  bottom_widths: tuple = (64, 32, 16)
  top_widths: tuple = (64, 32, 1)

  @nn.compact
  def __call__(self, inputs, train: bool, dropout_rate: float = 0.0):
    dense = inputs[:, :NUM_DENSE]
    categories = inputs[:, NUM_DENSE:].astype(jnp.int32)
    x = dense
    for i, width in enumerate(self.bottom_widths):
      x = nn.relu(nn.Dense(width, name=f'Dense_bottom_{i}')(x))
    offsets = jnp.asarray(np.cumsum((0,) + self.vocab_sizes[:-1]), jnp.int32)
    table = nn.Embed(
      sum(self.vocab_sizes),
      self.embed_dim,
      embedding_init=nn.initializers.normal(1.0 / np.sqrt(self.embed_dim)),
      name='embedding_table',
    )
    vectors = jnp.concatenate([x[:, None, :], table(categories + offsets)], axis=1)
    dots = jnp.einsum('bid,bjd->bij', vectors, vectors)
    upper_i, upper_j = np.triu_indices(vectors.shape[1], k=1)
    y = jnp.concatenate([x, dots[:, upper_i, upper_j]], axis=1)
    for i, width in enumerate(self.top_widths[:-1]):
      y = nn.relu(nn.Dense(width, name=f'Dense_top_{i}')(y))
      if dropout_rate:
        y = nn.Dropout(dropout_rate, deterministic=not train)(y)
    return nn.Dense(self.top_widths[-1], name='Dense_out')(y)[:, 0]


class Criteo1tbMiniWorkload(StatelessWorkload):
  """DLRM-small on generated clicks; target: validation cross-entropy (lower is better)."""

  name = 'criteo1tb_mini'
  target_metric_name = 'loss'
  validation_target_value = 0.450
  test_target_value = 0.450
  loss_type = spec.LossType.SIGMOID_CROSS_ENTROPY
  step_hint = 2000
  max_allowed_runtime_sec = 20
  eval_period_time_sec = 2.0
  default_batch_size = 256
  eval_batch_size = 10_000

  def __init__(self):
    super().__init__()
    self._model = DLRMSmall()

  def _make_splits(self):
    return {
      name: {k: v for k, v in split.items() if k != 'probability'}
      for name, split in generate_clicks(self.data_seed).items()
    }

  @property
  def validation_bayes_loss(self) -> float:
    """The best achievable validation loss (the hidden model's own)."""
    return bayes_loss(self.data_seed, 'validation')

  def init_model_fn(self, rng, dropout_rate=None, aux_dropout_rate=None):
    del dropout_rate, aux_dropout_rate
    params = init_variables(self._model, rng, jnp.zeros((1, NUM_DENSE + NUM_CATEGORICAL)))['params']
    params = dict(params)
    self._record_param_tree(params)
    return params, None

  def loss_fn(self, label_batch, logits_batch, mask_batch=None, label_smoothing: float = 0.0):
    """Sigmoid cross-entropy per example (targets smoothed towards 1/2): summed, count, per example."""
    return masked_loss(
      smoothed_sigmoid_cross_entropy(logits_batch, label_batch, label_smoothing), mask_batch
    )

  def _split_metrics(self, params, model_state, split):
    del model_state
    logits = predict_eval(self._model, params, split['inputs'])
    loss = self.loss_fn(split['targets'], logits, split['weights'])
    return {'loss': float(loss['summed'] / loss['n_valid_examples'])}
