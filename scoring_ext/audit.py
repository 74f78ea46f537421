"""The audit of an experiment tree (DeepOBS style: what is there, what is not).

It states the scoring rules in force (multi-trial rule, evaluations past the budget), then
lists algorithms x workloads with the number of studies and trials found, the trials of each
study, where the evaluations came from (CSV or text log), the (algorithm, workload, study)
combinations missing from the full grid, unusable trials with the reason in words, damaged
files, diverged trials, trials stopped before the step budget, reference trees, and every
issue found while loading and scoring.
"""

from __future__ import annotations

import pandas as pd

from scoring_ext.logs import Issue
from scoring_ext.tables import to_markdown


def coverage_table(trials: pd.DataFrame) -> pd.DataFrame:
  """algorithm x workload: 'studies/trials' usable (of found, when different)."""

  def cell(group: pd.DataFrame) -> str:
    ok = group[group['status'] == 'ok']
    text = f'{ok["study"].nunique()}/{len(ok)}'
    if len(ok) != len(group):
      text += f' (of {group["study"].nunique()}/{len(group)})'
    return text

  return _grid(trials, cell, 'missing')


def trials_per_study_table(trials: pd.DataFrame) -> pd.DataFrame:
  """algorithm x workload: usable trials of each study, in study order ('5/5/4')."""

  def cell(group: pd.DataFrame) -> str:
    ok = group['status'] == 'ok'
    counts = ok.groupby(group['study'], sort=True).sum()
    return '/'.join(str(int(c)) for c in counts)

  return _grid(trials, cell, '-')


def sources_table(trials: pd.DataFrame) -> pd.DataFrame:
  """Trials per (algorithm, workload) by where their evaluations came from."""
  frame = trials.assign(
    source=trials['source'].replace({'csv': 'eval_measurements.csv', 'log': 'text log', '': 'none'})
  )
  table = frame.pivot_table(
    index=['algorithm', 'workload'],
    columns='source',
    values='trial_id',
    aggfunc='count',
    fill_value=0,
  )
  table = table.reindex(columns=['eval_measurements.csv', 'text log', 'none'], fill_value=0)
  table.columns.name = None
  return table.reset_index()


def _grid(trials: pd.DataFrame, cell, missing: str) -> pd.DataFrame:
  cells = {key: cell(g) for key, g in trials.groupby(['algorithm', 'workload'], sort=True)}
  algorithms = sorted(trials['algorithm'].unique())
  workloads = sorted(trials['workload'].unique())
  rows = [
    {'algorithm': a, **{w: cells.get((a, w), missing) for w in workloads}} for a in algorithms
  ]
  return pd.DataFrame(rows, columns=['algorithm'] + workloads)


def missing_combinations(trials: pd.DataFrame) -> pd.DataFrame:
  """(algorithm, workload, study) of the full grid with no usable trial.

  The grid is every algorithm x every workload x every study name found
  for that algorithm.
  """
  ok = trials[trials['status'] == 'ok']
  have = set(zip(ok['algorithm'], ok['workload'], ok['study']))
  rows = []
  for algorithm, group in trials.groupby('algorithm', sort=True):
    for workload in sorted(trials['workload'].unique()):
      for study in sorted(group['study'].unique()):
        if (algorithm, workload, study) not in have:
          rows.append({'algorithm': algorithm, 'workload': workload, 'study': study})
  return pd.DataFrame(rows, columns=['algorithm', 'workload', 'study'])


def completion_issues(trials: pd.DataFrame, where: str = 'all trials') -> list[Issue]:
  """Trials without trial_complete.json, noted only when other trials have one
  (the local runner writes it; the official runner does not)."""
  if not trials['complete'].any():
    return [
      Issue(
        'note',
        where,
        'no trial_complete.json anywhere (expected for logs '
        'of the official runner); completion not checked',
      )
    ]
  lacking = trials[~trials['complete'] & ~trials['diverged'] & (trials['status'] == 'ok')]
  return [
    Issue('warning', row.path, 'no trial_complete.json: the run may not have finished')
    for row in lacking.itertuples()
  ]


def _section(title: str, frame: pd.DataFrame | None, columns=None) -> list[str]:
  if frame is None or not len(frame):
    return [f'## {title}\n', 'None.\n']
  return [f'## {title}\n', to_markdown(frame[columns] if columns else frame)]


def render_audit(
  experiment_dir: str,
  condition: str,
  trials: pd.DataFrame,
  issues: list[Issue],
  budgets: pd.Series,
  clock_unit: str,
  rules: dict | None = None,
  references: pd.DataFrame | None = None,
  short_of_step_budget: pd.DataFrame | None = None,
) -> str:
  """audit.md as text. `rules` maps a rule's name to the sentence that states it."""
  usable = trials['status'] == 'ok'
  parts = [
    '# Audit\n',
    f'- experiment directory: `{experiment_dir}`',
    f'- condition: {condition}',
    *[f'- {name}: {text}' for name, text in (rules or {}).items()],
    f'- trial directories found: {len(trials)}, usable: {int(usable.sum())}',
    f'- algorithms: {", ".join(sorted(trials["algorithm"].unique()))}',
    f'- workloads: {", ".join(sorted(trials["workload"].unique()))}',
    f'- studies: {", ".join(sorted(trials["study"].unique()))}',
    '',
    '## Coverage (usable studies/trials per algorithm and workload)\n',
    to_markdown(coverage_table(trials)),
    '## Trials per study (usable, in study order)\n',
    to_markdown(trials_per_study_table(trials)),
    '## Where the evaluations came from (trials)\n',
    to_markdown(sources_table(trials)),
    f'## Budgets ({clock_unit})\n',
    to_markdown(budgets.rename_axis('workload').reset_index()),
  ]
  if references is not None:
    parts += _section('Reference trees (other hardware or other runs)', references)
  parts += _section('Missing studies', missing_combinations(trials))
  diverged = trials[trials['diverged'].astype(bool)]
  parts += _section(
    'Diverged trials',
    diverged,
    ['algorithm', 'workload', 'study', 'trial', 'diverged_step', 'diverged_reason'],
  )
  parts += _section(
    'Unusable trials (left out)',
    trials[~usable],
    ['algorithm', 'workload', 'study', 'trial', 'status', 'status_detail'],
  )
  parts += _section(
    'Damaged eval_measurements.csv (rows dropped; see Issues for the lines)',
    trials[trials['damaged_rows'] > 0],
    ['algorithm', 'workload', 'study', 'trial', 'damaged_rows'],
  )
  if condition == 'step':
    parts += _section('Stopped before the step budget', short_of_step_budget)
  parts.append('## Issues\n')
  if issues:
    frame = pd.DataFrame(
      [{'level': i.level, 'where': i.where, 'message': i.message} for i in issues]
    )
    parts.append(to_markdown(frame))
  else:
    parts.append('None.\n')
  return '\n'.join(parts)
