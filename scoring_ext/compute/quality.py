"""Quality at a fixed budget (docs/protocol.md, "Quality at a fixed budget").

For each algorithm and workload: the final train and validation loss and
target metric, i.e. the values of the last evaluation at or before the end of
the budget. With several trials per study the trial with the best final
validation metric is used. A diverged trial has no final value (counted in
``n_diverged``); neither has a study whose trials ran without logging any evaluation
(counted in ``n_no_evals``: the miss of the time-to-target tables). A study whose value
comes from a trial that stopped before the end of its budget
(:mod:`scoring_ext.budgets`) is counted in ``n_stopped_early``: its value is that of its
last evaluation, not of the end of the budget. Reported as mean and sample standard
deviation (ddof=1; NaN for a single study) over the studies with a finite value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scoring_ext import metrics
from scoring_ext.findings import MISS_STATUS
from scoring_ext.compute.snapshots import values_at_fraction

QUALITY_COLUMNS = [
  'algorithm',
  'workload',
  'quantity',
  'mean',
  'std',
  'n_studies',
  'n_diverged',
  'n_no_evals',
  'n_stopped_early',
]
FINAL_COLUMNS = [
  'algorithm',
  'workload',
  'study',
  'quantity',
  'value',
  'diverged',
  'no_evals',
  'stopped_early',
]


def quality_quantities(metric: str) -> list[str]:
  """Columns reported for a workload: train/validation loss and target metric."""
  names = ['loss'] if metric == 'loss' else ['loss', metric]
  return [metrics.metric_column(s, m) for m in names for s in metrics.SPLITS]


def final_values(
  evals: pd.DataFrame,
  trials: pd.DataFrame,
  budgets: pd.Series,
  clock: str,
  selected: pd.Series,
  wl_metric: pd.Series,
  stopped_early=(),
) -> pd.DataFrame:
  """One row per (algorithm, workload, study, quantity), columns :data:`FINAL_COLUMNS`:
  ``algorithm``, ``workload``, ``study`` (str), ``quantity`` (str: an evals column,
  :func:`quality_quantities`), ``value`` (float: the selected trial's value at the end of
  the budget; NaN when it diverged or the study logged no evaluation), ``diverged``,
  ``no_evals``, ``stopped_early`` (bool: why there is no value, or why it is that of an
  earlier evaluation).

  `selected`: the trial of each (algorithm, study, workload)
  (:func:`scoring_ext.compute.targets.selected_trial_ids`); `stopped_early` holds the
  trial_ids of trials that stopped before the end of the budget."""
  columns = sorted({q for m in wl_metric for q in quality_quantities(m)})
  at_end = values_at_fraction(evals, budgets, clock, 1.0, columns)
  info = trials.set_index('trial_id')
  early = set(int(t) for t in stopped_early)
  rows = []

  def add(algorithm, study, workload, values, diverged, no_evals, stopped):
    for quantity in quality_quantities(wl_metric[workload]):
      rows.append(
        {
          'algorithm': algorithm,
          'workload': workload,
          'study': study,
          'quantity': quantity,
          'value': float(values.get(quantity, np.nan)),
          'diverged': diverged,
          'no_evals': no_evals,
          'stopped_early': stopped,
        }
      )

  for (algorithm, study, workload), trial_id in selected.items():
    diverged = bool(info.at[trial_id, 'diverged'])
    values = at_end.loc[trial_id] if not diverged and trial_id in at_end.index else {}
    add(algorithm, study, workload, values, diverged, False, trial_id in early)
  misses = trials[(trials['status'] == MISS_STATUS) & trials['workload'].isin(wl_metric.index)]
  for (algorithm, study, workload), _ in misses.groupby(['algorithm', 'study', 'workload']):
    if (algorithm, study, workload) not in selected.index:
      add(algorithm, study, workload, {}, False, True, False)
  return pd.DataFrame(rows, columns=FINAL_COLUMNS)


def summarize_quality(finals: pd.DataFrame) -> pd.DataFrame:
  """One row per (algorithm, workload, quantity), sorted, columns :data:`QUALITY_COLUMNS`:
  ``algorithm``, ``workload``, ``quantity`` (str), ``mean`` (float: over the studies with a
  finite value; NaN for none), ``std`` (float: ddof=1; NaN for fewer than two),
  ``n_studies`` (int: the studies averaged), ``n_diverged``, ``n_no_evals``,
  ``n_stopped_early`` (int: studies counted in each row of :func:`final_values`)."""
  rows = []
  for (algorithm, workload, quantity), group in finals.groupby(
    ['algorithm', 'workload', 'quantity'], sort=True
  ):
    values = group['value'].to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    rows.append(
      {
        'algorithm': algorithm,
        'workload': workload,
        'quantity': quantity,
        'mean': float(finite.mean()) if finite.size else np.nan,
        'std': float(finite.std(ddof=1)) if finite.size > 1 else np.nan,
        'n_studies': int(finite.size),
        'n_diverged': int(group['diverged'].sum()),
        'n_no_evals': int(group['no_evals'].sum()),
        'n_stopped_early': int(group['stopped_early'].sum()),
      }
    )
  return pd.DataFrame(rows, columns=QUALITY_COLUMNS)
