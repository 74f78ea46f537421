"""Performance ratios, performance profiles and AlgoPerf's score B.

Arrays have shape (..., n_algorithms, n_workloads); any leading dimensions
(e.g. bootstrap replicates) are carried through. Nothing assumes a number of
workloads.

- ratio ``r[a, w] = t[a, w] / min_a' t[a', w]``; ``r = inf`` where
  ``t[a, w] > max_tau * min_a' t[a', w]`` (AlgoPerf's test) or where no
  algorithm reaches the target; an algorithm tied with the best has r = 1
  (also when the best time is 0).
- profile ``rho_a(tau) = |{w : r[a, w] <= tau}| / n_workloads``.
- score ``B_a = trapezoid(rho_a, taus) / (max_tau - 1)`` with
  ``taus = linspace(1, max_tau, 100)``.
"""

from __future__ import annotations

import numpy as np

NUM_TAU_POINTS = 100


def tau_grid(max_tau: float, num_points: int = NUM_TAU_POINTS) -> np.ndarray:
  """AlgoPerf's grid: num_points evenly spaced values from 1 to max_tau."""
  return np.linspace(1.0, float(max_tau), num_points)


def performance_ratios(times, max_tau: float) -> np.ndarray:
  """Ratios to the fastest algorithm per workload (axis -2 is algorithms).

  NaN times are treated as inf (target not reached).
  """
  t = np.asarray(times, dtype=float)
  t = np.where(np.isnan(t), np.inf, t)
  best = t.min(axis=-2, keepdims=True)
  with np.errstate(divide='ignore', invalid='ignore'):
    ratios = np.where(t == best, 1.0, t / best)
    ratios = np.where((t > max_tau * best) | ~np.isfinite(best), np.inf, ratios)
  return ratios


def performance_profile(ratios, taus) -> np.ndarray:
  """rho of shape (..., n_algorithms, n_taus): fraction of workloads with r <= tau."""
  r = np.asarray(ratios, dtype=float)
  if r.shape[-1] == 0:
    return np.zeros(r.shape[:-1] + (len(taus),))
  return (r[..., None] <= np.asarray(taus, dtype=float)).mean(axis=-2)


def trapezoid(y, x) -> np.ndarray:
  """Trapezoid rule along the last axis of y."""
  y = np.asarray(y, dtype=float)
  dx = np.diff(np.asarray(x, dtype=float))
  return ((y[..., 1:] + y[..., :-1]) * 0.5 * dx).sum(axis=-1)


def score_from_ratios(ratios, max_tau: float, num_points: int = NUM_TAU_POINTS) -> np.ndarray:
  """B = integral of rho over [1, max_tau] (trapezoid on tau_grid) / (max_tau - 1)."""
  if not max_tau > 1:
    raise ValueError(f'max_tau must be > 1, got {max_tau}')
  taus = tau_grid(max_tau, num_points)
  return trapezoid(performance_profile(ratios, taus), taus) / (max_tau - 1.0)


def scores_from_times(times, max_tau: float, num_points: int = NUM_TAU_POINTS) -> np.ndarray:
  """Score B of each algorithm (axis -2) from its times to target per workload."""
  return score_from_ratios(performance_ratios(times, max_tau), max_tau, num_points)
