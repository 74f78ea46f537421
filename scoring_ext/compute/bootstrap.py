"""Bootstrap confidence intervals over studies (explicit random generator).

Each replicate resamples, for every (algorithm, workload), that pair's studies
with replacement (same count) and recomputes the statistic; the interval is
the (alpha/2, 1 - alpha/2) percentiles of the replicates.

At most :data:`MAX_REPLICATES` replicates (asked for more, the report refuses before reading
anything); the scores of the replicates are computed :data:`CHUNK` at a time, so memory
stays bounded (a profile holds replicates x algorithms x workloads x 100 values).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scoring_ext.compute import profiles

#: Most bootstrap replicates accepted (percentile intervals settle long before).
MAX_REPLICATES = 100_000
#: Replicates scored at once.
CHUNK = 2_000


def resampled_medians(
  values: np.ndarray, n_replicates: int, rng: np.random.Generator
) -> np.ndarray:
  """Median of `values` resampled with replacement, n_replicates times; inf if empty."""
  values = np.asarray(values, dtype=float)
  if values.size == 0:
    return np.full(n_replicates, np.inf)
  idx = rng.integers(0, values.size, size=(n_replicates, values.size))
  return np.median(values[idx], axis=1)


def resampled_means(values: np.ndarray, n_replicates: int, rng: np.random.Generator) -> np.ndarray:
  """Mean of the finite `values` resampled with replacement; NaN if none."""
  values = np.asarray(values, dtype=float)
  values = values[np.isfinite(values)]
  if values.size == 0:
    return np.full(n_replicates, np.nan)
  idx = rng.integers(0, values.size, size=(n_replicates, values.size))
  return values[idx].mean(axis=1)


def percentile_interval(
  replicates: np.ndarray, confidence: float = 0.95, axis: int = 0
) -> tuple[np.ndarray, np.ndarray]:
  alpha = 1.0 - confidence
  low, high = np.nanpercentile(replicates, [100 * alpha / 2, 100 * (1 - alpha / 2)], axis=axis)
  return low, high


def score_intervals(
  per_study: pd.DataFrame,
  algorithms,
  workloads,
  max_tau: float,
  n_replicates: int,
  rng: np.random.Generator,
  confidence: float = 0.95,
) -> pd.DataFrame:
  """CI of score B for one split: one row per algorithm, in the order of `algorithms`:
  ``algorithm`` (str), ``ci_low``, ``ci_high`` (float: the percentiles of B over the
  replicates).

  `per_study` holds one split's rows of the per-study times: columns algorithm, workload,
  time_to_target. A replicate times array has shape (n_replicates, n_algorithms,
  n_workloads).
  """
  algorithms, workloads = list(algorithms), list(workloads)
  grouped = {
    key: g['time_to_target'].to_numpy()
    for key, g in per_study.groupby(['algorithm', 'workload'], sort=False)
  }
  times = np.empty((n_replicates, len(algorithms), len(workloads)))
  for i, algorithm in enumerate(algorithms):
    for j, workload in enumerate(workloads):
      times[:, i, j] = resampled_medians(grouped.get((algorithm, workload), []), n_replicates, rng)
  replicates = np.concatenate(
    [
      profiles.scores_from_times(times[start : start + CHUNK], max_tau)
      for start in range(0, n_replicates, CHUNK)
    ]
  )
  low, high = percentile_interval(replicates, confidence)
  return pd.DataFrame({'algorithm': algorithms, 'ci_low': low, 'ci_high': high})


def quality_intervals(
  finals: pd.DataFrame, n_replicates: int, rng: np.random.Generator, confidence: float = 0.95
) -> pd.DataFrame:
  """CI of the mean final value: one row per (algorithm, workload, quantity) of `finals`
  (:func:`scoring_ext.compute.quality.final_values`), sorted: those keys (str), ``ci_low``,
  ``ci_high`` (float; NaN where no replicate has a finite value)."""
  rows = []
  for (algorithm, workload, quantity), group in finals.groupby(
    ['algorithm', 'workload', 'quantity'], sort=True
  ):
    means = resampled_means(group['value'].to_numpy(), n_replicates, rng)
    low, high = (
      (np.nan, np.nan) if np.isnan(means).all() else percentile_interval(means, confidence)
    )
    rows.append(
      {
        'algorithm': algorithm,
        'workload': workload,
        'quantity': quantity,
        'ci_low': float(low),
        'ci_high': float(high),
      }
    )
  return pd.DataFrame(rows, columns=['algorithm', 'workload', 'quantity', 'ci_low', 'ci_high'])
