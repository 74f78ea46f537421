"""Shared machinery of the embedded workloads: splits, input queue, evaluation, targets.

A subclass provides the data (``_make_splits``), the model (``init_model_fn``,
``model_fn``), the loss (``loss_fn``) and per-split metrics (``_split_metrics``),
plus the class attributes listed below. Everything the AlgoPerf runner and
submissions read (``param_shapes``, ``step_hint``, ``eval_model`` ...) is here.
"""

from __future__ import annotations

import functools
from typing import Dict, Iterator

import jax
import jax.numpy as jnp
import numpy as np
import optax

from algoperf_compat import spec
from bench_core import catalogue


def param_shapes_of(params) -> dict:
  """The tree of ``spec.ShapeTuple`` for a parameter tree."""
  return jax.tree_util.tree_map(lambda x: spec.ShapeTuple(np.shape(x)), params)


def param_types_of(params) -> dict:
  """``spec.ParameterType`` per leaf, from flax's naming conventions.

  ``embedding`` -> EMBEDDING; ``kernel`` with 4 dims -> CONV_WEIGHT, otherwise
  WEIGHT; ``scale``/``bias`` under a ``BatchNorm*`` module -> BATCH_NORM_*, under a
  ``LayerNorm*`` module -> LAYER_NORM_*; any other ``bias`` -> BIAS.
  """

  def leaf_type(path, leaf):
    names = [getattr(k, 'key', getattr(k, 'name', str(k))) for k in path]
    name, parents = str(names[-1]), ' '.join(str(n) for n in names[:-1])
    if name == 'embedding':
      return spec.ParameterType.EMBEDDING
    if 'BatchNorm' in parents:
      return (
        spec.ParameterType.BATCH_NORM_SCALE
        if name == 'scale'
        else spec.ParameterType.BATCH_NORM_BIAS
      )
    if 'LayerNorm' in parents:
      return (
        spec.ParameterType.LAYER_NORM_SCALE
        if name == 'scale'
        else spec.ParameterType.LAYER_NORM_BIAS
      )
    if name == 'bias':
      return spec.ParameterType.BIAS
    if np.ndim(leaf) == 4:
      return spec.ParameterType.CONV_WEIGHT
    return spec.ParameterType.WEIGHT

  return jax.tree_util.tree_map_with_path(leaf_type, params)


#: XLA options of the one-off set-up programs (model initialisation) on a CPU: LLVM's
#: optimisation level 1 instead of 3. The program runs once per trial, untimed, so its
#: compilation is all that matters: 3-4x faster for the convolutional models (fastmri_mini,
#: imagenet_resnet_mini), with the same variables to the bit on all four embedded workloads
#: (``benchmarks/setup_bench.py`` measures both side by side; tests compare the bits).
SETUP_CPU_COMPILER_OPTIONS = {'xla_backend_optimization_level': 1}


def _init(model, rng, example, train: bool = False, dropout_rate=None):
  kwargs = {} if dropout_rate is None else {'dropout_rate': dropout_rate}
  return model.init(rng, example, train=train, **kwargs)


@functools.lru_cache(maxsize=None)
def _init_program(compiler_options: tuple):
  return jax.jit(
    _init,
    static_argnums=0,
    static_argnames=('train', 'dropout_rate'),
    compiler_options=dict(compiler_options) or None,
  )


def setup_compiler_options(backend: str) -> dict:
  """The options of :func:`init_variables` on ``backend``: :data:`SETUP_CPU_COMPILER_OPTIONS`
  on a CPU, XLA's defaults elsewhere."""
  return dict(SETUP_CPU_COMPILER_OPTIONS) if backend == 'cpu' else {}


def init_variables(
  model, rng, example, train: bool = False, dropout_rate=None, compiler_options=None
):
  """``model.init(rng, example, train=train[, dropout_rate=...])`` compiled as one program.

  Run eagerly, XLA compiles every initializer and layer on its own (some 70 programs for
  ``fastmri_mini``, 5-25 s of a trial's set-up on 2 CPU cores); as one program it compiles in
  half to a third of that, with the same variables to the bit. ``compiler_options``: XLA's
  options for that program (default :func:`setup_compiler_options` of the default backend).
  """
  if compiler_options is None:
    compiler_options = setup_compiler_options(jax.default_backend())
  program = _init_program(tuple(sorted(compiler_options.items())))
  return program(model, rng, example, train=train, dropout_rate=dropout_rate)


@functools.partial(jax.jit, static_argnums=0)
def predict_eval(model, params, inputs):
  """``model`` in eval mode on ``inputs`` (no model state); jitted once per model configuration."""
  return model.apply({'params': params}, inputs, train=False)


def masked_loss(per_example, mask_batch=None) -> dict:
  """AlgoPerf's loss dict from per-example (or per-entry) losses and an optional 0/1 mask:
  ``summed`` = sum of masked losses, ``n_valid_examples`` = sum of the mask."""
  if mask_batch is None:
    mask_batch = jnp.ones_like(per_example)
  per_example = per_example * mask_batch
  return {
    'summed': per_example.sum(),
    'n_valid_examples': mask_batch.sum(),
    'per_example': per_example,
  }


def smoothed_sigmoid_cross_entropy(logits, labels, label_smoothing: float = 0.0):
  """Elementwise sigmoid cross-entropy with binary targets smoothed towards 1/2."""
  return optax.sigmoid_binary_cross_entropy(
    logits, labels * (1.0 - label_smoothing) + 0.5 * label_smoothing
  )


class EmbeddedWorkload:
  """An AlgoPerf workload small enough to train on two CPU cores in under a minute.

  Subclasses set: ``name``, ``target_metric_name``, ``validation_target_value``,
  ``test_target_value``, ``loss_type``, ``step_hint``, ``max_allowed_runtime_sec``,
  ``eval_period_time_sec``, ``default_batch_size``, ``eval_batch_size``.
  """

  name: str
  target_metric_name: str
  validation_target_value: float
  test_target_value: float
  step_hint: int
  max_allowed_runtime_sec: int
  eval_period_time_sec: float
  default_batch_size: int
  eval_batch_size: int
  data_seed: int = 0
  #: Name of the top-level module holding the output layer (``is_output_params``).
  output_layer: str = 'Dense_out'

  def __init__(self):
    self._param_shapes = None
    self._param_types = None
    self.metrics_logger = None

  # ---- what subclasses provide -------------------------------------------------
  def _make_splits(self) -> Dict[str, Dict[str, np.ndarray]]:
    """{'train'|'eval_train'|'validation'|'test': batch dict of numpy arrays}."""
    raise NotImplementedError

  def _split_metrics(self, params, model_state, split: Dict[str, np.ndarray]) -> Dict[str, float]:
    """Metrics of one split (at least 'loss' and ``target_metric_name``)."""
    raise NotImplementedError

  # ---- AlgoPerf workload interface ---------------------------------------------
  @property
  def param_shapes(self):
    if self._param_shapes is None:
      raise ValueError(f'{self.name}: call init_model_fn() before param_shapes')
    return self._param_shapes

  @property
  def model_params_types(self):
    if self._param_types is None:
      raise ValueError(f'{self.name}: call init_model_fn() before model_params_types')
    return self._param_types

  def attach_metrics_logger(self, metrics_logger) -> None:
    self.metrics_logger = metrics_logger

  @property
  def target_metric_is_minimised(self) -> bool:
    """Whether lower is better (``bench_core.catalogue.metric_direction``)."""
    return catalogue.is_minimized(self.target_metric_name)

  def _reached(self, value: float, target: float) -> bool:
    return value <= target if self.target_metric_is_minimised else value >= target

  def has_reached_validation_target(self, eval_result: Dict[str, float]) -> bool:
    return self._reached(
      eval_result[f'validation/{self.target_metric_name}'], self.validation_target_value
    )

  def has_reached_test_target(self, eval_result: Dict[str, float]) -> bool:
    return self._reached(eval_result[f'test/{self.target_metric_name}'], self.test_target_value)

  @functools.cached_property
  def splits(self) -> Dict[str, Dict[str, np.ndarray]]:
    return self._make_splits()

  @property
  def num_train_examples(self) -> int:
    return len(next(iter(self.splits['train'].values())))

  @property
  def num_eval_train_examples(self) -> int:
    return len(next(iter(self.splits['eval_train'].values())))

  @property
  def num_validation_examples(self) -> int:
    return len(next(iter(self.splits['validation'].values())))

  @property
  def num_test_examples(self) -> int:
    return len(next(iter(self.splits['test'].values())))

  def _build_input_queue(
    self, data_rng, split: str, data_dir=None, global_batch_size: int | None = None
  ) -> Iterator[Dict[str, jnp.ndarray]]:
    """Endless shuffled batches of ``split``; a fresh permutation each epoch, drop the remainder."""
    del data_dir
    data = self.splits[split]
    n = len(next(iter(data.values())))
    batch_size = min(global_batch_size or self.default_batch_size, n)
    seed = int(jax.random.randint(data_rng, (), 0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    while True:
      order = rng.permutation(n)
      for start in range(0, n - batch_size + 1, batch_size):
        idx = order[start : start + batch_size]
        yield {k: jnp.asarray(v[idx]) for k, v in data.items()}

  def eval_model(
    self,
    global_batch_size,
    params,
    model_state,
    rng,
    data_dir=None,
    imagenet_v2_data_dir=None,
    global_step: int = 0,
  ) -> Dict[str, float]:
    """Metrics on eval_train (reported as ``train/``), validation and test."""
    del global_batch_size, rng, data_dir, imagenet_v2_data_dir, global_step
    results = {}
    for split, prefix in (('eval_train', 'train'), ('validation', 'validation'), ('test', 'test')):
      data = self.splits[split]
      metrics = self._split_metrics(params, model_state, data)
      results.update({f'{prefix}/{k}': float(v) for k, v in metrics.items()})
    results['validation/num_examples'] = self.num_validation_examples
    results['test/num_examples'] = self.num_test_examples
    return results

  def is_output_params(self, param_key) -> bool:
    return param_key == self.output_layer

  def _record_param_tree(self, params) -> None:
    self._param_shapes = param_shapes_of(params)
    self._param_types = param_types_of(params)


class StatelessWorkload(EmbeddedWorkload):
  """A workload whose flax model ``self._model`` has no state (no batch norm).

  ``model_fn`` applies it to ``batch['inputs']`` with dropout only in TRAIN mode,
  at ``dropout_rate`` (None: the class's ``default_dropout_rate``); the model
  state passes through unchanged.
  """

  default_dropout_rate: float = 0.0

  def model_fn(
    self,
    params,
    augmented_and_preprocessed_input_batch,
    model_state,
    mode,
    rng,
    update_batch_norm: bool,
    dropout_rate=None,
  ):
    del update_batch_norm
    train = mode == spec.ForwardPassMode.TRAIN
    rate = self.default_dropout_rate if dropout_rate is None else dropout_rate
    rngs = {'dropout': rng} if train and rate else None
    outputs = self._model.apply(
      {'params': params},
      augmented_and_preprocessed_input_batch['inputs'],
      train=train,
      dropout_rate=rate,
      rngs=rngs,
    )
    return outputs, model_state
