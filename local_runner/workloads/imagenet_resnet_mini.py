"""``imagenet_resnet_mini``: a small ResNet with batch norm on scikit-learn's 8x8 digits.

Stands in for AlgoPerf's ``imagenet_resnet`` (ResNet-50, softmax cross-entropy,
target metric accuracy) on two CPU cores. Data: the 1,797 real 8x8 handwritten
digits shipped inside scikit-learn (no download), split once with a fixed seed
into 1,197 train / 300 validation / 300 test images; ``eval_train`` is the first
300 training images. Pixels are standardised with the training mean and std.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Dict, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from algoperf_compat import spec
from local_runner.workloads.base import EmbeddedWorkload, init_variables, masked_loss

NUM_CLASSES = 10


class ResidualBlock(nn.Module):
  """conv3x3-BN-relu-conv3x3-BN + (projected) shortcut, then relu."""

  filters: int
  strides: int = 1

  @nn.compact
  def __call__(self, x, train: bool):
    norm = lambda name: nn.BatchNorm(use_running_average=not train, momentum=0.9, name=name)
    y = nn.Conv(self.filters, (3, 3), self.strides, use_bias=False, name='Conv_0')(x)
    y = nn.relu(norm('BatchNorm_0')(y))
    y = nn.Conv(self.filters, (3, 3), use_bias=False, name='Conv_1')(y)
    y = norm('BatchNorm_1')(y)
    if x.shape[-1] != self.filters or self.strides != 1:
      x = nn.Conv(self.filters, (1, 1), self.strides, use_bias=False, name='Conv_proj')(x)
      x = norm('BatchNorm_proj')(x)
    return nn.relu(x + y)


class MiniResNet(nn.Module):
  """Stem conv + two residual stages (16 and 32 filters) + global average pool + dense."""

  @nn.compact
  def __call__(self, x, train: bool):
    x = nn.Conv(16, (3, 3), use_bias=False, name='Conv_stem')(x)
    x = nn.relu(nn.BatchNorm(use_running_average=not train, momentum=0.9, name='BatchNorm_stem')(x))
    x = ResidualBlock(16, name='ResidualBlock_0')(x, train)
    x = ResidualBlock(32, strides=2, name='ResidualBlock_1')(x, train)
    x = jnp.mean(x, axis=(1, 2))
    return nn.Dense(NUM_CLASSES, name='Dense_out')(x)


#: scikit-learn's digits, inside its package: 1,797 rows of 64 pixels and the digit.
DIGITS_FILE = Path('datasets') / 'data' / 'digits.csv.gz'


def read_digits() -> Tuple[np.ndarray, np.ndarray]:
  """(images ``(1797, 8, 8)`` float64, digits ``(1797,)`` int): ``sklearn.datasets.load_digits``'s
  ``images`` and ``target``, read from the file it reads without importing scikit-learn (which
  takes longer than the file: about 1.3 s of every trial of this workload); through
  ``load_digits`` where the file is not where this scikit-learn keeps it."""
  spec = importlib.util.find_spec('sklearn')
  path = Path(spec.origin).parent / DIGITS_FILE if spec and spec.origin else None
  if path is None or not path.is_file():
    digits = importlib.import_module('sklearn.datasets').load_digits()
    return digits.images, digits.target
  rows = np.loadtxt(path, delimiter=',')
  return rows[:, :-1].reshape(-1, 8, 8), rows[:, -1].astype(int)


def _digits_splits(seed: int) -> Dict[str, Dict[str, np.ndarray]]:
  images, labels = read_digits()
  images = images.astype(np.float32)[..., None]
  labels = labels.astype(np.int32)
  order = np.random.default_rng(seed).permutation(len(labels))
  images, labels = images[order], labels[order]
  train, validation, test = slice(0, 1197), slice(1197, 1497), slice(1497, 1797)
  mean, std = images[train].mean(), images[train].std()
  images = (images - mean) / std

  def split(s):
    return {
      'inputs': images[s],
      'targets': labels[s],
      'weights': np.ones(len(labels[s]), np.float32),
    }

  splits = {'train': split(train), 'validation': split(validation), 'test': split(test)}
  splits['eval_train'] = {k: v[:300] for k, v in splits['train'].items()}
  return splits


class ImagenetResnetMiniWorkload(EmbeddedWorkload):
  """Budgets chosen so Adam-family defaults reach the target in a few seconds (see docs/embedded_workloads.md)."""

  name = 'imagenet_resnet_mini'
  target_metric_name = 'accuracy'
  validation_target_value = 0.97
  test_target_value = 0.965
  loss_type = spec.LossType.SOFTMAX_CROSS_ENTROPY
  step_hint = 800
  max_allowed_runtime_sec = 20
  eval_period_time_sec = 1.0
  default_batch_size = 64
  eval_batch_size = 300

  def __init__(self):
    super().__init__()
    self._model = MiniResNet()
    self._eval_fn = jax.jit(self._eval_metrics)

  def _make_splits(self):
    return _digits_splits(self.data_seed)

  def init_model_fn(self, rng, dropout_rate=None, aux_dropout_rate=None):
    del dropout_rate, aux_dropout_rate
    variables = init_variables(self._model, rng, jnp.zeros((1, 8, 8, 1), jnp.float32))
    params = dict(variables['params'])
    model_state = {'batch_stats': variables['batch_stats']}
    self._record_param_tree(params)
    return params, model_state

  def model_fn(
    self,
    params,
    augmented_and_preprocessed_input_batch,
    model_state,
    mode,
    rng,
    update_batch_norm: bool,
    use_running_average_bn=None,
    dropout_rate=None,
  ):
    """Logits; in TRAIN mode with ``update_batch_norm`` the batch statistics are updated."""
    del rng, dropout_rate
    train = mode == spec.ForwardPassMode.TRAIN
    if use_running_average_bn is not None:
      train = train and not use_running_average_bn
    variables = {'params': params, **model_state}
    inputs = augmented_and_preprocessed_input_batch['inputs']
    if train and update_batch_norm:
      logits, new_state = self._model.apply(variables, inputs, train=True, mutable=['batch_stats'])
      return logits, {'batch_stats': new_state['batch_stats']}
    if train:
      logits, _ = self._model.apply(variables, inputs, train=True, mutable=['batch_stats'])
      return logits, model_state
    return self._model.apply(variables, inputs, train=False), model_state

  def loss_fn(self, label_batch, logits_batch, mask_batch=None, label_smoothing: float = 0.0):
    """Softmax cross-entropy with optional label smoothing: summed, count, per example."""
    one_hot = jax.nn.one_hot(label_batch, NUM_CLASSES)
    smoothed = optax.smooth_labels(one_hot, label_smoothing) if label_smoothing else one_hot
    return masked_loss(optax.softmax_cross_entropy(logits_batch, smoothed), mask_batch)

  def _eval_metrics(self, params, model_state, batch):
    logits, _ = self.model_fn(params, batch, model_state, spec.ForwardPassMode.EVAL, None, False)
    loss = self.loss_fn(batch['targets'], logits, batch['weights'])
    correct = (jnp.argmax(logits, -1) == batch['targets']) * batch['weights']
    n = batch['weights'].sum()
    return {'loss': loss['summed'] / n, 'accuracy': correct.sum() / n}

  def _split_metrics(self, params, model_state, split):
    return {k: float(v) for k, v in self._eval_fn(params, model_state, split).items()}
