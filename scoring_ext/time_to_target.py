"""Time (or steps) to target.

Per trial: the clock (accumulated_submission_time under time, global_step
under step) of the first evaluation whose metric reaches the target
(``<=`` for minimised, ``>=`` for maximised metrics) at a clock within the
budget; ``inf`` if there is none. NaN metrics reach nothing.

Per study: the earliest over its trials (AlgoPerf's rule for external tuning).
Per algorithm and workload: the median over studies (``inf`` counts); a
workload on which an algorithm has no study at all gets ``inf``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench_core import catalogue

TRIAL_COLUMNS = ['algorithm', 'workload', 'split', 'study', 'trial', 'trial_id',
                 'time_to_target']


def reached_mask(values: np.ndarray, target: float, direction: str) -> np.ndarray:
  """True where `values` reach `target` (NaN target or value: False)."""
  with np.errstate(invalid='ignore'):
    if direction == catalogue.MINIMIZE:
      return values <= target
    return values >= target


def trial_times_to_target(evals: pd.DataFrame, trials: pd.DataFrame, targets: pd.DataFrame,
                          budgets: pd.Series, clock: str) -> pd.DataFrame:
  """One row per usable trial and target split (TRIAL_COLUMNS)."""
  info = trials[trials['status'] == 'ok'].set_index('trial_id')
  parts = []
  for target in targets.itertuples(index=False):
    ids = info.index[info['workload'] == target.workload]
    if len(ids) == 0:
      continue
    rows = evals[evals['workload'].to_numpy() == target.workload]
    within = rows[clock].to_numpy() <= budgets.get(target.workload, np.inf)
    if target.column in rows:
      hit = reached_mask(rows[target.column].to_numpy(dtype=float), target.target,
                         target.direction) & within
    else:
      hit = np.zeros(len(rows), dtype=bool)
    first = rows.loc[hit].groupby('trial_id', sort=True)[clock].min()
    times = first.reindex(ids).fillna(np.inf).astype(float)
    parts.append(pd.DataFrame({
        'algorithm': info.loc[ids, 'algorithm'].to_numpy(),
        'workload': target.workload, 'split': target.split,
        'study': info.loc[ids, 'study'].to_numpy(),
        'trial': info.loc[ids, 'trial'].to_numpy(),
        'trial_id': ids.to_numpy(), 'time_to_target': times.to_numpy()}))
  if not parts:
    return pd.DataFrame(columns=TRIAL_COLUMNS)
  return pd.concat(parts, ignore_index=True)[TRIAL_COLUMNS]


def study_times_to_target(per_trial: pd.DataFrame) -> pd.DataFrame:
  """Earliest time over the trials of each study."""
  keys = ['algorithm', 'workload', 'split', 'study']
  return per_trial.groupby(keys, sort=True, as_index=False)['time_to_target'].min()


def median_times_to_target(per_study: pd.DataFrame) -> pd.DataFrame:
  """Median over studies per (algorithm, workload, split); inf counts."""
  keys = ['algorithm', 'workload', 'split']
  return (per_study.groupby(keys, sort=True)['time_to_target']
          .agg(lambda t: float(np.median(t.to_numpy(dtype=float))))
          .reset_index())


def times_table(medians: pd.DataFrame, split: str, algorithms, workloads) -> pd.DataFrame:
  """Wide table algorithms x workloads of median times for one split; missing = inf."""
  subset = medians[medians['split'] == split]
  wide = subset.pivot(index='algorithm', columns='workload', values='time_to_target')
  return wide.reindex(index=list(algorithms), columns=list(workloads)).fillna(np.inf)
