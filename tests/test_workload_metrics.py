"""SSIM and mean average precision against hand-computed values and edge cases."""

import numpy as np
import pytest

from local_runner.workloads.metrics import (
  SSIM_K1,
  SSIM_K2,
  average_precision,
  mean_average_precision,
  ssim,
  ssim_per_image,
)


def test_ssim_of_identical_images_is_one_even_when_constant():
  image = np.random.default_rng(0).uniform(size=(12, 12))
  assert ssim(image, image) == pytest.approx(1.0)
  assert ssim(np.full((9, 9), 0.3), np.full((9, 9), 0.3)) == pytest.approx(1.0)
  assert ssim(np.zeros((7, 7)), np.zeros((7, 7))) == pytest.approx(
    1.0
  )  # data range falls back to 1


def test_ssim_of_two_constant_images_is_the_luminance_term():
  a, b = 0.2, 0.6  # no variance: the contrast-structure term is C2 / C2 = 1
  c1 = (SSIM_K1 * b) ** 2  # data range = target max = b
  expected = (2 * a * b + c1) / (a * a + b * b + c1)
  assert ssim(np.full((8, 8), a), np.full((8, 8), b)) == pytest.approx(expected, rel=1e-9)
  assert expected == pytest.approx(0.6000, abs=1e-3)


def test_ssim_on_a_single_window_by_hand():
  rng = np.random.default_rng(1)
  x, y = rng.uniform(size=(7, 7)), rng.uniform(size=(7, 7))
  n, L = 49, y.max()
  mx, my = x.mean(), y.mean()
  vx, vy = x.var(ddof=1), y.var(ddof=1)
  cxy = np.sum((x - mx) * (y - my)) / (n - 1)
  c1, c2 = (SSIM_K1 * L) ** 2, (SSIM_K2 * L) ** 2
  expected = (2 * mx * my + c1) * (2 * cxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
  assert ssim(x, y) == pytest.approx(expected, rel=1e-9)


def test_ssim_averages_every_valid_window_and_penalises_noise():
  rng = np.random.default_rng(2)
  target = rng.uniform(size=(10, 10))
  noisy = target + rng.normal(0, 0.3, target.shape)
  slightly = target + rng.normal(0, 0.01, target.shape)
  assert ssim(noisy, target) < ssim(slightly, target) < 1.0
  windows = [
    ssim(noisy[i : i + 7, j : j + 7], target[i : i + 7, j : j + 7], data_range=target.max())
    for i in range(4)
    for j in range(4)
  ]
  assert ssim(noisy, target) == pytest.approx(np.mean(windows), rel=1e-9)


def test_ssim_per_image_gives_the_numbers_of_ssim_image_by_image():
  rng = np.random.default_rng(5)
  targets = rng.uniform(size=(6, 12, 10))
  targets[2] = 0.0  # an all-zero target: L falls back to 1
  predictions = targets + rng.normal(0, 0.1, targets.shape)
  batched = ssim_per_image(predictions, targets)
  assert batched.shape == (6,)
  assert list(batched) == [ssim(p, t) for p, t in zip(predictions, targets)]  # exactly
  with pytest.raises(ValueError, match='batches of 2-D images'):
    ssim_per_image(predictions[0], targets[0])


def test_ssim_rejects_images_smaller_than_the_window():
  with pytest.raises(ValueError, match='window'):
    ssim(np.zeros((5, 5)), np.zeros((5, 5)))


def test_average_precision_by_hand():
  # ranking: 0.9 (+), 0.8 (-), 0.7 (+), 0.1 (-): precisions at the positives 1 and 2/3
  assert average_precision([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]) == pytest.approx((1 + 2 / 3) / 2)
  assert average_precision([0, 1, 1, 0], [0.1, 0.9, 0.8, 0.2]) == pytest.approx(1.0)
  assert np.isnan(average_precision([0, 0], [0.3, 0.2]))


def test_average_precision_puts_tied_scores_in_one_threshold():
  # all tied: one threshold, precision 1/4 at recall 1
  assert average_precision([1, 0, 0, 0], [0.5] * 4) == pytest.approx(0.25)
  # tie between the top positive and a negative: precision 1/2 at recall 1/2, then 2/3 at 1
  assert average_precision([1, 0, 1], [0.9, 0.9, 0.5]) == pytest.approx(0.5 * 0.5 + 0.5 * 2 / 3)


def test_average_precision_matches_scikit_learn():
  from sklearn.metrics import average_precision_score

  rng = np.random.default_rng(3)
  labels = rng.uniform(size=200) < 0.3
  scores = np.round(rng.normal(size=200) + labels, 1)  # rounding creates ties
  assert average_precision(labels, scores) == pytest.approx(average_precision_score(labels, scores))


def test_mean_average_precision_skips_labels_without_both_classes_and_masked_entries():
  labels = np.array([[1, 0, 1, 0], [0, 0, 1, 1], [1, 0, 1, 0], [0, 0, 1, 0]], float)
  scores = np.array(
    [[0.9, 0.1, 0.5, 0.2], [0.8, 0.2, 0.5, 0.9], [0.7, 0.3, 0.5, 0.4], [0.1, 0.4, 0.5, 0.6]]
  )
  mask = np.ones_like(labels)
  mask[3, 3] = 0  # the negative that outranks nothing is hidden; label 3 keeps both classes
  # label 0: ranking +,-,+,- -> (1 + 2/3) / 2; label 1: no positive -> skipped;
  # label 2: no negative -> skipped; label 3 (rows 0-2): ranking +(0.9),-(0.4),-(0.2) -> 1
  expected = ((1 + 2 / 3) / 2 + 1.0) / 2
  assert mean_average_precision(labels, scores, mask) == pytest.approx(expected)
  mask[:, 3] = [0, 1, 0, 0]  # label 3 keeps only its positive -> skipped too
  assert mean_average_precision(labels, scores, mask) == pytest.approx((1 + 2 / 3) / 2)
  assert np.isnan(mean_average_precision(labels[:, 1:3], scores[:, 1:3], mask[:, 1:3]))
