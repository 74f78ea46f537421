"""``fastmri_mini``: a small U-Net undoing 4x k-space undersampling of generated phantoms.

Stands in for AlgoPerf's ``fastmri`` (U-Net, L1 loss, target metric SSIM,
higher is better) on two CPU cores.

Data (``generate_phantoms``, deterministic in the seed): 32x32 images, each a
sum of a large "head" ellipse (intensity 1) and 3-7 random inner ellipses
(intensities in [-0.4, 0.6]), clipped at 0. Each image's k-space (2-D FFT) is
kept on a random set of columns covering a quarter of k-space: the central 8 %
of columns plus random others (fastMRI's 4x Cartesian masks). The input is the
magnitude of the zero-filled inverse FFT, the target the image itself; both stay
in image units (no per-image normalisation). Splits: 3,000 train / 256
validation / 256 test; ``eval_train`` is the first 64 training images (a
cheaper sample of the training distribution: its metrics are reported, no
target is set on them).

Model: AlgoPerf's U-Net shape scaled down: 2 down levels with 8 and 16
channels, a 32-channel bottleneck, 2 up levels; every conv block is
conv3x3 - instance norm (no affine) - leaky ReLU(0.2) - dropout, twice; up
steps are 2x2 stride-2 transposed convs; a 1x1 conv gives the output.

Metric: ``ssim`` of ``metrics.py`` per image with the data range set to the
target's maximum (fastMRI uses the volume's maximum), averaged over images.

Evaluation: the U-Net runs on batches of ``eval_batch_size`` = 32 images (on
CPU, XLA's convolutions run faster per image on 32 images than on 256, with the
same outputs to 2e-9 in the metrics). ``benchmarks/demo_eval_bench.py`` times an
evaluation at 0.46x the previous one (one batch of 256 per split, a 256-image
``eval_train``): 1.12 s against 2.44 s on 2 cores under a load average of ~10.

Budget: step_hint 400, 20 s, eval every 4 s, target SSIM 0.745 (validation and
test). Zero-filled input SSIM is 0.57. Measured with the study's defaults (seed
1, whole budget, 2 CPU cores under a load average of ~4), final validation
SSIM: nadamw 0.752, nadam 0.751 (reach the target), adam 0.741, heavy_ball
0.701, nesterov 0.683 (miss); 330-440 steps fit (20-40 ms per step, 4-6 s to
the first evaluation, compilation included), so outcomes near the target
depend on machine load.
"""

from __future__ import annotations

import functools
from typing import Dict

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from algoperf_compat import spec
from local_runner.workloads.base import StatelessWorkload, init_variables, masked_loss, predict_eval
from local_runner.workloads.metrics import ssim_per_image

IMAGE_SIZE = 32
ACCELERATION = 4
CENTER_FRACTION = 0.08
SPLIT_SIZES = {'train': 3000, 'validation': 256, 'test': 256}
EVAL_TRAIN_SIZE = 64


def _ellipse_phantoms(rng: np.random.Generator, n: int) -> np.ndarray:
  """``n`` images of summed ellipses (see module docstring), float32 ``(n, size, size)``."""
  coords = np.linspace(-1.0, 1.0, IMAGE_SIZE, dtype=np.float32)
  xx, yy = np.meshgrid(coords, coords)
  images = np.zeros((n, IMAGE_SIZE, IMAGE_SIZE), np.float32)

  def add(centre_x, centre_y, axis_a, axis_b, angle, intensity, keep):
    col = lambda a: np.asarray(a, np.float32)[:, None, None]
    cos, sin = col(np.cos(angle)), col(np.sin(angle))
    dx, dy = xx - col(centre_x), yy - col(centre_y)
    u, v = (dx * cos + dy * sin) / col(axis_a), (dy * cos - dx * sin) / col(axis_b)
    images[:] += (u * u + v * v <= 1.0) * col(intensity * keep)

  ones = np.ones(n)
  add(
    rng.uniform(-0.05, 0.05, n),
    rng.uniform(-0.05, 0.05, n),
    rng.uniform(0.7, 0.9, n),
    rng.uniform(0.8, 0.95, n),
    rng.uniform(0, np.pi, n),
    ones,
    ones,
  )
  num_inner = rng.integers(3, 8, n)
  for k in range(7):
    add(
      rng.uniform(-0.5, 0.5, n),
      rng.uniform(-0.5, 0.5, n),
      rng.uniform(0.05, 0.35, n),
      rng.uniform(0.05, 0.35, n),
      rng.uniform(0, np.pi, n),
      rng.uniform(-0.4, 0.6, n),
      (k < num_inner).astype(float),
    )
  return np.clip(images, 0.0, None)


def _column_masks(rng: np.random.Generator, n: int) -> np.ndarray:
  """Boolean ``(n, size)`` masks of kept k-space columns: the centre plus random ones, 1/4 overall."""
  num_center = int(round(CENTER_FRACTION * IMAGE_SIZE))
  num_kept = IMAGE_SIZE // ACCELERATION
  center = np.arange(
    IMAGE_SIZE // 2 - num_center // 2, IMAGE_SIZE // 2 - num_center // 2 + num_center
  )
  others = np.setdiff1d(np.arange(IMAGE_SIZE), center)
  masks = np.zeros((n, IMAGE_SIZE), bool)
  masks[:, center] = True
  picked = np.argsort(rng.uniform(size=(n, len(others))), axis=1)[:, : num_kept - num_center]
  masks[np.arange(n)[:, None], others[picked]] = True
  return masks


def zero_filled_reconstruction(images: np.ndarray, column_masks: np.ndarray) -> np.ndarray:
  """``|IFFT2(mask * FFT2(image))|`` with the mask on centred k-space columns."""
  kspace = np.fft.fftshift(np.fft.fft2(images), axes=(-2, -1))
  kspace = kspace * column_masks[:, None, :]
  return np.abs(np.fft.ifft2(np.fft.ifftshift(kspace, axes=(-2, -1)))).astype(np.float32)


@functools.lru_cache(maxsize=4)
def generate_phantoms(seed: int) -> Dict[str, Dict[str, np.ndarray]]:
  """The four splits: {'inputs': zero-filled images, 'targets': phantoms, 'weights': ones}."""
  rng = np.random.default_rng(seed)
  n = sum(SPLIT_SIZES.values())
  targets = _ellipse_phantoms(rng, n)
  inputs = zero_filled_reconstruction(targets, _column_masks(rng, n))
  splits, start = {}, 0
  for name, size in SPLIT_SIZES.items():
    part = slice(start, start + size)
    splits[name] = {
      'inputs': inputs[part],
      'targets': targets[part],
      'weights': np.ones(size, np.float32),
    }
    start += size
  splits['eval_train'] = {k: v[:EVAL_TRAIN_SIZE] for k, v in splits['train'].items()}
  return splits


def _instance_norm(x, eps: float = 1e-5):
  """Per image and channel: subtract the spatial mean, divide by the spatial std (no affine)."""
  mean = jnp.mean(x, axis=(1, 2), keepdims=True)
  var = jnp.var(x, axis=(1, 2), keepdims=True)
  return (x - mean) * jax.lax.rsqrt(var + eps)


class ConvBlock(nn.Module):
  """(conv3x3 - instance norm - leaky ReLU 0.2 - dropout) x 2."""

  channels: int

  @nn.compact
  def __call__(self, x, train: bool, dropout_rate: float):
    for i in range(2):
      x = nn.Conv(self.channels, (3, 3), use_bias=False, name=f'Conv_{i}')(x)
      x = nn.leaky_relu(_instance_norm(x), negative_slope=0.2)
      if dropout_rate:
        x = nn.Dropout(dropout_rate, broadcast_dims=(1, 2), deterministic=not train)(x)
    return x


class UpBlock(nn.Module):
  """2x2 stride-2 transposed conv - instance norm - leaky ReLU 0.2 (doubles height and width)."""

  channels: int

  @nn.compact
  def __call__(self, x):
    x = nn.ConvTranspose(
      self.channels, (2, 2), strides=(2, 2), use_bias=False, name='ConvTranspose'
    )(x)
    return nn.leaky_relu(_instance_norm(x), negative_slope=0.2)


class UNet(nn.Module):
  """Down: conv block then 2x2 average pool per level; bottleneck; up: upsample, concat skip, conv block."""

  channels: int = 8
  num_pool_layers: int = 2

  @nn.compact
  def __call__(self, images, train: bool, dropout_rate: float = 0.0):
    x = images[..., None]
    skips, channels = [], self.channels
    for level in range(self.num_pool_layers):
      x = ConvBlock(channels, name=f'ConvBlock_down_{level}')(x, train, dropout_rate)
      skips.append(x)
      x = nn.avg_pool(x, (2, 2), strides=(2, 2))
      channels *= 2
    x = ConvBlock(channels, name='ConvBlock_bottleneck')(x, train, dropout_rate)
    for level in reversed(range(self.num_pool_layers)):
      channels //= 2
      x = UpBlock(channels, name=f'UpBlock_{level}')(x)
      x = jnp.concatenate([x, skips[level]], axis=-1)
      x = ConvBlock(channels, name=f'ConvBlock_up_{level}')(x, train, dropout_rate)
    return nn.Conv(1, (1, 1), name='Conv_out')(x)[..., 0]


class FastmriMiniWorkload(StatelessWorkload):
  """U-Net on 4x-undersampled phantoms; target: validation SSIM (higher is better)."""

  name = 'fastmri_mini'
  target_metric_name = 'ssim'
  validation_target_value = 0.745
  test_target_value = 0.745
  loss_type = spec.LossType.MEAN_ABSOLUTE_ERROR
  output_layer = 'Conv_out'
  step_hint = 400
  max_allowed_runtime_sec = 20
  eval_period_time_sec = 4.0
  default_batch_size = 16
  eval_batch_size = 32

  def __init__(self):
    super().__init__()
    self._model = UNet()

  def _make_splits(self):
    return generate_phantoms(self.data_seed)

  def init_model_fn(self, rng, dropout_rate=None, aux_dropout_rate=None):
    del dropout_rate, aux_dropout_rate
    variables = init_variables(self._model, rng, jnp.zeros((1, IMAGE_SIZE, IMAGE_SIZE)))
    params = dict(variables['params'])
    self._record_param_tree(params)
    return params, None

  def loss_fn(self, label_batch, logits_batch, mask_batch=None, label_smoothing: float = 0.0):
    """L1: per example the mean absolute pixel error; summed, count, per example."""
    del label_smoothing
    return masked_loss(jnp.mean(jnp.abs(logits_batch - label_batch), axis=(1, 2)), mask_batch)

  def _split_metrics(self, params, model_state, split):
    del model_state
    inputs, size = split['inputs'], self.eval_batch_size
    outputs = np.concatenate(
      [
        np.asarray(predict_eval(self._model, params, inputs[i : i + size]))
        for i in range(0, len(inputs), size)
      ]
    )
    weights = split['weights']
    per_example_l1 = np.mean(np.abs(outputs - split['targets']), axis=(1, 2))
    per_example_ssim = ssim_per_image(outputs, split['targets'])
    n = weights.sum()
    return {
      'loss': float((per_example_l1 * weights).sum() / n),
      'ssim': float((per_example_ssim * weights).sum() / n),
    }
