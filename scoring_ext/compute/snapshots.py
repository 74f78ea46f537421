"""Metric values of each trial at a point of its budget, and the choice of one
trial per study.

The value "at fraction f of the budget" is that of the last evaluation whose
clock (time or step) is at or before ``f x budget``. A trial with no
evaluation up to that point has no value there (NaN, and ``has_value``
False).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench_core import catalogue
from scoring_ext import metrics
from scoring_ext.budgets import cutoffs_by_trial


def values_at_fraction(
  evals: pd.DataFrame, budgets: pd.Series, clock: str, fraction: float, columns: list[str]
) -> pd.DataFrame:
  """Indexed by trial_id (int; only trials with an evaluation at or before the point),
  sorted: ``clock`` (float: that evaluation's clock) and each of `columns` (float: its
  value there; NaN for a column the logs lack).

  `evals` must be sorted by clock within each trial (logs.load_experiment does so).
  """
  cutoff = cutoffs_by_trial(evals, budgets, fraction)
  inside = evals[evals[clock].to_numpy() <= cutoff]
  present = [c for c in columns if c in inside.columns]
  last = inside.groupby('trial_id', sort=True).tail(1)
  result = last.set_index('trial_id')[[clock] + present].rename(columns={clock: 'clock'})
  for column in columns:
    if column not in result:
      result[column] = np.nan
  return result.sort_index()


def with_divergence(
  values: pd.Series, metric: str, diverged: pd.Series, last_clock: pd.Series, point_clock: pd.Series
) -> pd.Series:
  """Set the value of a trial that diverged before the point to the worst value.

  A diverged trial stops logging at divergence; its last evaluation before the
  point would otherwise pass for its value at the point. NaN/inf values of any
  trial also become the worst value (+inf for minimised, -inf for maximised).
  All arguments are indexed by trial_id; `last_clock` is a trial's final
  evaluation clock, `point_clock` the clock at which `values` were taken.
  """
  worst = metrics.worst_value(metric)
  broke = diverged.reindex(values.index, fill_value=False).astype(bool)
  ended_before = last_clock.reindex(values.index) <= point_clock.reindex(values.index)
  out = values.astype(float).copy()
  out[(broke & ended_before) | ~np.isfinite(out)] = worst
  return out


def best_trial_per_study(selection: pd.DataFrame, metric: str) -> pd.Series:
  """trial_id of the trial with the best `value` in each (algorithm, study, workload).

  `selection` has columns algorithm, study, workload, trial_id, value. Best is
  min for minimised and max for maximised metrics; NaN counts as worst; ties
  go to the first trial in trial_id order.
  """
  sign = 1.0 if catalogue.is_minimized(metric) else -1.0
  key = (sign * selection['value'].astype(float)).fillna(np.inf)
  ordered = selection.assign(_key=key).sort_values(['_key', 'trial_id'], kind='stable')
  first = ordered.drop_duplicates(['algorithm', 'study', 'workload'], keep='first')
  return first.set_index(['algorithm', 'study', 'workload'])['trial_id'].sort_index()
