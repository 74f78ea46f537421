"""Quality at a fixed budget (docs/protocol.md, "Quality at a fixed budget").

For each algorithm and workload: the final train and validation loss and
target metric, i.e. the values of the last evaluation at or before the end of
the budget. With several trials per study the trial with the best final
validation metric is used. A diverged trial has no final value (counted in
``n_diverged``). Reported as mean and sample standard deviation (ddof=1; NaN
for a single study) over the studies with a finite value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scoring_ext import metrics
from scoring_ext.snapshots import values_at_fraction

QUALITY_COLUMNS = ['algorithm', 'workload', 'quantity', 'mean', 'std', 'n_studies', 'n_diverged']


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
) -> pd.DataFrame:
  """Long frame: algorithm, workload, study, quantity, value, diverged, for the
  selected trial of each study."""
  columns = sorted({q for m in wl_metric for q in quality_quantities(m)})
  at_end = values_at_fraction(evals, budgets, clock, 1.0, columns)
  info = trials.set_index('trial_id')
  rows = []
  for (algorithm, study, workload), trial_id in selected.items():
    diverged = bool(info.at[trial_id, 'diverged'])
    for quantity in quality_quantities(wl_metric[workload]):
      value = np.nan
      if not diverged and trial_id in at_end.index:
        value = float(at_end.at[trial_id, quantity])
      rows.append(
        {
          'algorithm': algorithm,
          'workload': workload,
          'study': study,
          'quantity': quantity,
          'value': value,
          'diverged': diverged,
        }
      )
  return pd.DataFrame(
    rows, columns=['algorithm', 'workload', 'study', 'quantity', 'value', 'diverged']
  )


def summarize_quality(finals: pd.DataFrame) -> pd.DataFrame:
  """Mean, std (ddof=1) and count of finite values over studies (QUALITY_COLUMNS)."""
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
      }
    )
  return pd.DataFrame(rows, columns=QUALITY_COLUMNS)
