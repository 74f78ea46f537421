"""Tables shaped for reading, built from a :class:`scoring_ext.scoring.ScoringResult`: the
frames the report writes as Markdown and LaTeX, and the demo's results page shows.

Each function returns a new frame whose columns it documents; cells are numbers where the
table is numeric, text ('median (k/n)', 'mean ± std (n=k)') where a cell says several things.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scoring_ext.render import tables
from scoring_ext.scoring import ScoringResult

_QUANTITY_LABELS = {
  ('train', 'loss'): 'train loss',
  ('validation', 'loss'): 'validation loss',
  ('train', 'metric'): 'train metric',
  ('validation', 'metric'): 'validation metric',
}
LONG_COLUMNS = [
  'level',
  'algorithm',
  'workload',
  'split',
  'study',
  'trial',
  'time_to_target',
  'hit_index',
  'n_trials',
  'n_studies',
  'n_reached',
]


def time_to_target_long(result: ScoringResult) -> pd.DataFrame:
  """The three levels of time to target in one frame (time_to_target.csv), columns
  :data:`LONG_COLUMNS`:

  - ``level`` (str): 'trial' (one row per scored trial and target split), 'study' (one row
    per study and split: the time the multi-trial rule gives it) or 'median' (one row per
    algorithm, workload and split: the median over studies);
  - ``algorithm``, ``workload``, ``split`` (str); ``study``, ``trial`` (str; '' where the
    level has none, and at level 'study' for a miss);
  - ``time_to_target`` (float): seconds or steps; inf for a miss;
  - ``hit_index`` (Int64, level trial): the index of the evaluation that reached the target,
    -1 for none; ``n_trials`` (Int64, level study): trials of the study;
    ``n_studies``, ``n_reached`` (Int64, level median): studies, and studies that reached
    the target. NA at the other levels.
  """
  per_trial = result.per_trial.drop(columns=['trial_id']).assign(level='trial')
  studies = result.per_study_detail.assign(level='study')
  medians = result.medians.assign(level='median', study='', trial='')
  frame = pd.concat([per_trial, studies, medians], ignore_index=True, sort=False)
  frame = frame.reindex(columns=LONG_COLUMNS)
  counts = ['hit_index', 'n_trials', 'n_studies', 'n_reached']
  frame[counts] = frame[counts].astype('Int64')
  return frame


def _reached_counts(result: ScoringResult, split: str) -> dict:
  subset = result.medians[result.medians['split'] == split]
  if 'n_reached' not in subset:
    return {}
  return {
    (r.algorithm, r.workload): (int(r.n_reached), int(r.n_studies)) for r in subset.itertuples()
  }


def median_times_wide(result: ScoringResult, split: str, counts: bool = False) -> pd.DataFrame:
  """One row per algorithm (``algorithm``, str), one column per workload with a `split`
  target: the median time to target (float, inf for a miss); with `counts`, text cells
  'median (k/n)': k of the n studies reached the target."""
  subset = result.medians[result.medians['split'] == split]
  workloads = sorted(result.targets.loc[result.targets['split'] == split, 'workload'])
  wide = subset.pivot(index='algorithm', columns='workload', values='time_to_target')
  wide = wide.reindex(index=list(result.algorithms), columns=workloads).fillna(np.inf)
  wide.columns.name = None
  if counts:
    reached = _reached_counts(result, split)
    wide = wide.astype(object)
    for algorithm in wide.index:
      for workload in wide.columns:
        k, n = reached.get((algorithm, workload), (0, 0))
        wide.at[algorithm, workload] = (
          f'{tables.format_cell(wide.at[algorithm, workload])} ({k}/{n})'
        )
  return wide.rename_axis('algorithm').reset_index()


def scores_wide(result: ScoringResult) -> pd.DataFrame:
  """One row per algorithm: ``algorithm`` (str), then per target split ``B (<split>)``
  (float) and, when bootstrapped, ``95% CI (<split>)`` (str '[low, high]')."""
  frame = pd.DataFrame({'algorithm': list(result.algorithms)})
  for split, group in result.scores.groupby('split', sort=False):
    group = group.set_index('algorithm').reindex(list(result.algorithms))
    frame[f'B ({split})'] = group['score'].to_numpy()
    if 'ci_low' in group:
      frame[f'95% CI ({split})'] = [
        f'[{lo:.3f}, {hi:.3f}]' for lo, hi in zip(group['ci_low'], group['ci_high'])
      ]
  return frame


def quality_cell(
  mean: float,
  std: float,
  n_studies: int,
  n_diverged: int,
  n_no_evals: int = 0,
  n_stopped_early: int = 0,
) -> str:
  """'mean ± std (n=k)', n being the studies averaged; ', d diverged', ', m no evaluation'
  and ', e stopped early' when some studies diverged, logged no evaluation, or have their
  value from a trial that stopped before the end of the budget."""
  text = tables.format_cell(mean)
  if np.isfinite(std):
    text += f' ± {tables.format_cell(std)}'
  count = f'n={int(n_studies)}'
  if n_diverged:
    count += f', {int(n_diverged)} diverged'
  if n_no_evals:
    count += f', {int(n_no_evals)} no evaluation'
  if n_stopped_early:
    count += f', {int(n_stopped_early)} stopped early'
  return f'{text} ({count})'


def quality_wide(result: ScoringResult) -> pd.DataFrame:
  """One row per (workload, algorithm): ``workload``, ``algorithm``, ``metric`` (the target
  metric's name), then ``train loss``, ``validation loss``, ``train metric``,
  ``validation metric`` (str, :func:`quality_cell`; for a loss metric the metric columns
  repeat the loss)."""
  rows = {}
  for r in result.quality.itertuples(index=False):
    split, name = r.quantity.split('/', 1)
    kind = 'loss' if name == 'loss' else 'metric'
    row = rows.setdefault(
      (r.workload, r.algorithm), {'workload': r.workload, 'algorithm': r.algorithm, 'metric': ''}
    )
    if kind == 'metric' or not row['metric']:
      row['metric'] = name
    text = quality_cell(r.mean, r.std, r.n_studies, r.n_diverged, r.n_no_evals, r.n_stopped_early)
    row[_QUANTITY_LABELS[(split, kind)]] = text
    if kind == 'loss' and name == row['metric']:
      row[_QUANTITY_LABELS[(split, 'metric')]] = text
  columns = ['workload', 'algorithm', 'metric'] + list(_QUANTITY_LABELS.values())
  return pd.DataFrame(list(rows.values())).reindex(columns=columns)


def prompt_display(frame: pd.DataFrame) -> pd.DataFrame:
  """The prompt-sensitivity frame (:func:`scoring_ext.compute.prompt.prompt_sensitivity`)
  with its time columns as text, '-' for a miss."""
  shown = frame.astype(object)
  for column in frame.columns[2:]:
    shown[column] = [tables.format_cell(v) if np.isfinite(v) else '-' for v in frame[column]]
  return shown
