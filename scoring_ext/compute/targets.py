"""Targets per workload and split: derived from the runs, the study's preset,
or AlgoPerf's own validation target.

Derived (docs/protocol.md, "Targets"), for each workload and split separately:

1. per trial, the metric at ``fraction`` (0.75) of the budget;
2. per study, the trial with the best final validation metric (external
   tuning can log several trials per study);
3. per algorithm, the median over studies;
4. the target is the best of these medians (min for minimised metrics, max
   for maximised ones).

A trial that diverged before the point counts with the worst value (+inf /
-inf); a trial with no evaluation up to the point is left out (audit warning).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench_core import catalogue
from bench_core.errors import BenchError
from scoring_ext import metrics
from scoring_ext.findings import SCORED_STATUSES, Issue
from scoring_ext.compute import presets
from scoring_ext.compute.snapshots import best_trial_per_study, values_at_fraction, with_divergence

TARGET_COLUMNS = [
  'workload',
  'split',
  'metric',
  'column',
  'direction',
  'target',
  'best_algorithm',
  'source',
]
TARGET_MEDIAN_COLUMNS = ['workload', 'split', 'algorithm', 'median_at_point']


def usable_trials(trials: pd.DataFrame) -> pd.DataFrame:
  """Trials with evaluations, indexed by trial_id."""
  return trials[trials['status'] == 'ok'].set_index('trial_id')


def workload_metrics(trials: pd.DataFrame) -> pd.Series:
  """Target metric name (str) indexed by workload, sorted (the most common one over its
  scored trials, those without evaluations included: a workload where every trial is a
  miss is still scored)."""
  ok = trials[trials['status'].isin(SCORED_STATUSES)]
  return ok.groupby('workload', sort=True)['target_metric'].agg(lambda s: s.mode().iloc[0])


def metric_at_fraction(
  evals: pd.DataFrame,
  trials: pd.DataFrame,
  budgets: pd.Series,
  clock: str,
  fraction: float,
  split: str,
) -> pd.DataFrame:
  """One row per trial with evaluations: ``algorithm``, ``study``, ``workload`` (str),
  ``trial_id`` (int), ``value`` (float: the workload's `split` target metric at `fraction`
  of the budget, divergence rule applied; NaN where the trial has no evaluation up to that
  point)."""
  info = usable_trials(trials)
  wl_metric = workload_metrics(trials)
  columns = sorted({metrics.metric_column(split, m) for m in wl_metric})
  at = values_at_fraction(evals, budgets, clock, fraction, columns).reindex(info.index)
  last_clock = evals.groupby('trial_id', sort=True)[clock].last()
  values = pd.Series(np.nan, index=info.index)
  for workload, metric in wl_metric.items():
    ids = info.index[info['workload'] == workload]
    column = metrics.metric_column(split, metric)
    taken = at.loc[ids].dropna(subset=['clock'])
    values.loc[taken.index] = with_divergence(
      taken[column], metric, info['diverged'], last_clock, taken['clock']
    )
  return pd.DataFrame(
    {
      'algorithm': info['algorithm'],
      'study': info['study'],
      'workload': info['workload'],
      'trial_id': info.index,
      'value': values,
    }
  ).reset_index(drop=True)


def selected_trial_ids(evals, trials, budgets, clock) -> pd.Series:
  """The trial_id (int) of the trial with the best final validation metric, indexed by
  (algorithm, study, workload)."""
  final = metric_at_fraction(evals, trials, budgets, clock, 1.0, 'validation')
  wl_metric = workload_metrics(trials)
  parts = [best_trial_per_study(final[final['workload'] == w], m) for w, m in wl_metric.items()]
  return pd.concat(parts).sort_index()


def missing_point_issues(
  at_point: pd.DataFrame, trials: pd.DataFrame, fraction: float, split: str
) -> list[Issue]:
  paths = trials.set_index('trial_id')['path']
  return [
    Issue(
      'warning',
      paths[row.trial_id],
      f'no evaluation at or before {fraction:g} of the budget; left out of the {split} target',
    )
    for row in at_point[at_point['value'].isna()].itertuples()
  ]


def derive_targets(
  evals, trials, budgets, clock, fraction, splits=metrics.SPLITS, selected=None
) -> tuple[pd.DataFrame, pd.DataFrame, list[Issue]]:
  """Targets, the per-algorithm medians behind them, audit notes.

  Targets: one row per (workload, split), columns :data:`TARGET_COLUMNS` (see
  :func:`paper_targets`); ``target`` is NaN (no target) where no trial has a value at the
  point or every algorithm diverged before it; ``best_algorithm`` names the algorithm whose
  median set it; ``source`` is 'derived'.

  Medians: one row per (workload, split, algorithm) with a value, columns
  :data:`TARGET_MEDIAN_COLUMNS`: ``median_at_point`` (float) is the median over the
  algorithm's studies of the metric at `fraction` of the budget (+-inf for a divergence).
  """
  if selected is None:
    selected = selected_trial_ids(evals, trials, budgets, clock)
  wl_metric = workload_metrics(trials)
  rows, medians, issues = [], [], []
  for split in splits:
    at_point = metric_at_fraction(evals, trials, budgets, clock, fraction, split)
    at_point = at_point[at_point['trial_id'].isin(selected.to_numpy())]
    issues += missing_point_issues(at_point, trials, fraction, split)
    per_algo = (
      at_point.dropna(subset=['value'])
      .groupby(['workload', 'algorithm'], sort=True)['value']
      .agg(lambda v: float(np.median(v.to_numpy())))
    )
    for workload, metric in wl_metric.items():
      if workload not in per_algo.index.get_level_values(0):
        issues.append(
          Issue(
            'warning',
            workload,
            f'no {split} value at {fraction:g} of the budget in any trial; no target',
          )
        )
        target, best = np.nan, ''
      else:
        candidates = per_algo.loc[workload]
        best = candidates.idxmin() if catalogue.is_minimized(metric) else candidates.idxmax()
        target = float(candidates[best])
        if not np.isfinite(target):
          issues.append(
            Issue(
              'warning',
              workload,
              f'every algorithm diverged before the {split} target point; no target',
            )
          )
          target, best = np.nan, ''
        for algorithm, value in candidates.items():
          medians.append(
            {'workload': workload, 'split': split, 'algorithm': algorithm, 'median_at_point': value}
          )
      rows.append(_target_row(workload, split, metric, target, best, 'derived'))
  return (
    pd.DataFrame(rows, columns=TARGET_COLUMNS),
    pd.DataFrame(medians, columns=TARGET_MEDIAN_COLUMNS),
    issues,
  )


def _target_row(workload, split, metric, target, best_algorithm, source) -> dict:
  return {
    'workload': workload,
    'split': split,
    'metric': metric,
    'column': metrics.metric_column(split, metric),
    'direction': catalogue.metric_direction(metric),
    'target': target,
    'best_algorithm': best_algorithm,
    'source': source,
  }


def paper_targets(
  trials: pd.DataFrame, condition: str, splits=metrics.SPLITS, stand_ins: bool = False
) -> pd.DataFrame:
  """The study's preset targets (presets.py) for the workloads present: one row per
  (workload, split), columns :data:`TARGET_COLUMNS`:

  - ``workload``, ``split`` (str), ``metric`` (str: the target metric's name), ``column``
    (str: its column in ``evals``, ``<split>/<metric>``), ``direction`` (str: 'min' or
    'max', :func:`bench_core.catalogue.metric_direction`);
  - ``target`` (float), ``best_algorithm`` (str, '' but for derived targets), ``source``
    (str: 'paper', 'paper (<official workload>)' for a stand-in, 'derived', 'algoperf').

  An official workload uses its own preset. An embedded stand-in (``ogbg_mini``...) is a
  different model on different data, so the official workload's target says nothing about
  it: it is refused unless `stand_ins` asks for the mapping (then it gets the target of the
  official workload it stands in for, marked in ``source``). Raises BenchError for a workload
  without a preset.
  """
  rows = []
  for workload, metric in workload_metrics(trials).items():
    official = catalogue.official_counterpart(workload)
    for split in splits:
      value, source = presets.paper_target(condition, split, workload), 'paper'
      if value is None and official is not None:
        if not stand_ins:
          raise BenchError(
            f'--targets paper: {workload!r} is an embedded stand-in for {official!r}, and the '
            f"study's targets were set on {official!r} itself, not on the stand-in; use "
            '--targets derived, or pass --paper_targets_on_stand_ins to apply the official '
            'targets to the stand-ins anyway'
          )
        value = presets.paper_target(condition, split, official)
        source = f'paper ({official})'
      if value is None:
        raise BenchError(
          f'no paper target for workload {workload!r} ({condition}, {split}); '
          f'presets exist for {", ".join(presets.paper_workloads())}'
        )
      rows.append(_target_row(workload, split, metric, value, '', source))
  return pd.DataFrame(rows, columns=TARGET_COLUMNS)


def algoperf_targets(trials: pd.DataFrame) -> pd.DataFrame:
  """AlgoPerf's own target: workload.validation_target_value (validation only); one row per
  workload, columns :data:`TARGET_COLUMNS` (see :func:`paper_targets`).

  Raises BenchError for a workload whose metadata lacks it.
  """
  rows = []
  ok = trials[trials['status'].isin(SCORED_STATUSES)]
  for workload, metric in workload_metrics(trials).items():
    values = ok.loc[ok['workload'] == workload, 'validation_target_value'].dropna()
    if values.empty:
      raise BenchError(
        f'workload {workload!r}: no workload.validation_target_value in '
        'any meta_data_0.json; use --targets derived or paper'
      )
    rows.append(
      _target_row(workload, 'validation', metric, float(values.mode().iloc[0]), '', 'algoperf')
    )
  return pd.DataFrame(rows, columns=TARGET_COLUMNS)
