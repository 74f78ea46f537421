"""Evaluation metrics of the embedded workloads as small pure-numpy functions.

- ``ssim``, ``ssim_per_image``: structural similarity of two images, or of each pair of a
  batch (fastMRI's definition).
- ``average_precision`` / ``mean_average_precision``: ranking quality of binary
  multi-label scores (OGB's ``ogbg-molpcba`` definition).
"""

from __future__ import annotations

import numpy as np

SSIM_WINDOW = 7
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def _window_means(x: np.ndarray, window: int) -> np.ndarray:
  """Mean of every ``window x window`` patch fully inside each image of ``x`` (a 'valid' box
  filter over the last two axes)."""
  c = np.cumsum(np.cumsum(x, axis=-2), axis=-1)
  c = np.pad(c, [(0, 0)] * (x.ndim - 2) + [(1, 0), (1, 0)])
  sums = (
    c[..., window:, window:]
    - c[..., :-window, window:]
    - c[..., window:, :-window]
    + c[..., :-window, :-window]
  )
  return sums / window**2


def _check_images(x: np.ndarray, y: np.ndarray, ndim: int, window: int) -> None:
  if x.shape != y.shape or x.ndim != ndim:
    raise ValueError(
      f'ssim: expected two {"batches of " if ndim == 3 else ""}2-D images of '
      f'equal shape, got {x.shape} and {y.shape}'
    )
  if min(x.shape[-2:]) < window:
    raise ValueError(f'ssim: images {x.shape[-2:]} are smaller than the {window}x{window} window')


def _ssim_per_image(
  x: np.ndarray, y: np.ndarray, data_range: np.ndarray, window: int
) -> np.ndarray:
  """The SSIM of each image pair along the leading axes (the formula of :func:`ssim`)."""
  c1 = ((SSIM_K1 * data_range) ** 2)[..., None, None]
  c2 = ((SSIM_K2 * data_range) ** 2)[..., None, None]
  n = window**2
  unbias = n / (n - 1)
  mx, my = _window_means(x, window), _window_means(y, window)
  vx = unbias * (_window_means(x * x, window) - mx * mx)
  vy = unbias * (_window_means(y * y, window) - my * my)
  cxy = unbias * (_window_means(x * y, window) - mx * my)
  numerator = (2 * mx * my + c1) * (2 * cxy + c2)
  denominator = (mx * mx + my * my + c1) * (vx + vy + c2)
  return np.mean(numerator / denominator, axis=(-2, -1))


def ssim(
  prediction: np.ndarray,
  target: np.ndarray,
  data_range: float | None = None,
  window: int = SSIM_WINDOW,
) -> float:
  """Mean structural similarity of two 2-D images.

  For every ``window x window`` patch fully inside the image, with patch means
  ``mx, my``, sample variances ``vx, vy`` and sample covariance ``cxy`` (divided
  by ``N - 1``, ``N = window**2``), ``C1 = (K1 L)^2``, ``C2 = (K2 L)^2``::

      SSIM = (2 mx my + C1) (2 cxy + C2) / ((mx^2 + my^2 + C1) (vx + vy + C2))

  averaged over patches. ``L`` (``data_range``) defaults to ``target.max()``, as
  fastMRI/AlgoPerf do per volume; if that is not positive (an all-zero target)
  ``L = 1`` is used so the constants stay positive and SSIM stays defined.
  Identical images, constant ones included, give exactly 1.
  """
  x = np.asarray(prediction, np.float64)
  y = np.asarray(target, np.float64)
  _check_images(x, y, 2, window)
  if data_range is None:
    data_range = float(y.max())
  if data_range <= 0:
    data_range = 1.0
  return float(_ssim_per_image(x, y, np.float64(data_range), window))


def ssim_per_image(
  predictions: np.ndarray, targets: np.ndarray, window: int = SSIM_WINDOW
) -> np.ndarray:
  """:func:`ssim` of each pair of a batch of images (shape ``(n, height, width)``), each with
  its own target's maximum as ``L``; the same numbers as calling :func:`ssim` per image,
  computed in one pass."""
  x = np.asarray(predictions, np.float64)
  y = np.asarray(targets, np.float64)
  _check_images(x, y, 3, window)
  data_range = y.max(axis=(-2, -1))
  return _ssim_per_image(x, y, np.where(data_range > 0, data_range, 1.0), window)


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
  """Area under the precision-recall curve as a step sum (scikit-learn's definition).

  Sorting by decreasing score, with one threshold per distinct score (tied
  scores enter together), ``AP = sum_k (R_k - R_{k-1}) P_k`` where ``P_k`` and
  ``R_k`` are precision and recall at threshold ``k``. NaN when ``labels`` has
  no positive.
  """
  labels = np.asarray(labels, bool).ravel()
  scores = np.asarray(scores, np.float64).ravel()
  num_positive = labels.sum()
  if num_positive == 0:
    return float('nan')
  order = np.argsort(-scores, kind='stable')
  scores, labels = scores[order], labels[order]
  last_of_tie = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]
  true_positives = np.cumsum(labels)[last_of_tie]
  predicted_positives = last_of_tie + 1
  precision = true_positives / predicted_positives
  recall = true_positives / num_positive
  return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def mean_average_precision(labels: np.ndarray, scores: np.ndarray, mask: np.ndarray) -> float:
  """Mean over labels (columns) of ``average_precision`` on the entries where ``mask`` is 1.

  As OGB's evaluator: a label whose masked entries do not include both a
  positive and a negative is left out of the mean (its AP is undefined or
  trivially 1). NaN if no label qualifies.
  """
  labels, scores, mask = (np.asarray(a) for a in (labels, scores, mask))
  per_label = []
  for j in range(labels.shape[1]):
    keep = mask[:, j] > 0
    column = labels[keep, j] > 0.5
    if column.any() and not column.all():
      per_label.append(average_precision(column, scores[keep, j]))
  return float(np.mean(per_label)) if per_label else float('nan')
