"""The audit of an experiment tree (DeepOBS style: what is there, what is not).

It states the scoring rules in force (rule set, multi-trial rule, evaluations past the
budget), then lists algorithms x workloads with the number of studies and trials scored, the
trials of each study, where the evaluations came from (CSV or text log), the (algorithm,
workload, study) combinations missing from the full grid, trials without evaluations
(counted as misses), damaged trials (left out) and damaged files (rows dropped, no meta
data), diverged trials, trials stopped early, reference trees, and every issue found while
loading and scoring.

The console gets the same findings: every warning, then a one-line :func:`summary`.
"""

from __future__ import annotations

from typing import Sequence

import pandas as pd

from scoring_ext.findings import DAMAGE_STATUSES, MISS_STATUS, SCORED_STATUSES, Issue
from scoring_ext.render.tables import to_markdown


#: Most findings printed on the console (the rest are in audit.md).
MAX_CONSOLE_FINDINGS = 40


def coverage_table(trials: pd.DataFrame) -> pd.DataFrame:
  """One row per algorithm: ``algorithm``, then one str column per workload:
  'studies/trials' scored (of found, when different; ', m without evaluations' when some
  scored trials are misses without any evaluation; 'missing' for none)."""

  def cell(group: pd.DataFrame) -> str:
    ok = group[group['status'].isin(SCORED_STATUSES)]
    text = f'{ok["study"].nunique()}/{len(ok)}'
    misses = int((ok['status'] == MISS_STATUS).sum())
    if misses:
      text += f', {misses} without evaluations'
    if len(ok) != len(group):
      text += f' (of {group["study"].nunique()}/{len(group)})'
    return text

  return _grid(trials, cell, 'missing')


def trials_per_study_table(trials: pd.DataFrame) -> pd.DataFrame:
  """One row per algorithm: ``algorithm``, then one str column per workload: the scored
  trials of each study, in study order ('5/5/4'; '-' for none)."""

  def cell(group: pd.DataFrame) -> str:
    ok = group['status'].isin(SCORED_STATUSES)
    counts = ok.groupby(group['study'], sort=True).sum()
    return '/'.join(str(int(c)) for c in counts)

  return _grid(trials, cell, '-')


def sources_table(trials: pd.DataFrame) -> pd.DataFrame:
  """One row per (algorithm, workload): those keys, then ``eval_measurements.csv``,
  ``text log``, ``none`` (int: trials whose evaluations came from there)."""
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
  """One row (``algorithm``, ``workload``, ``study``, str) per combination of the full grid
  with no scored trial (a study whose trials logged no evaluation is scored, as a miss).

  The grid is every algorithm x every workload x every study name found
  for that algorithm.
  """
  ok = trials[trials['status'].isin(SCORED_STATUSES)]
  have = set(zip(ok['algorithm'], ok['workload'], ok['study']))
  rows = []
  for algorithm, group in trials.groupby('algorithm', sort=True):
    for workload in sorted(trials['workload'].unique()):
      for study in sorted(group['study'].unique()):
        if (algorithm, workload, study) not in have:
          rows.append({'algorithm': algorithm, 'workload': workload, 'study': study})
  return pd.DataFrame(rows, columns=['algorithm', 'workload', 'study'])


def _section(title: str, frame: pd.DataFrame | None, columns=None) -> list[str]:
  if frame is None or not len(frame):
    return [f'## {title}\n', 'None.\n']
  return [f'## {title}\n', to_markdown(frame[columns] if columns else frame)]


def render_audit(
  experiment_dir: str,
  condition: str,
  trials: pd.DataFrame,
  issues: Sequence[Issue],
  budgets: pd.Series,
  clock_unit: str,
  rules: dict | None = None,
  references: pd.DataFrame | None = None,
  short_of_step_budget: pd.DataFrame | None = None,
  stopped_early: pd.DataFrame | None = None,
) -> str:
  """audit.md as text. `rules` maps a rule's name to the sentence that states it."""
  usable = trials['status'].isin(SCORED_STATUSES)
  parts = [
    '# Audit\n',
    f'- experiment directory: `{experiment_dir}`',
    f'- condition: {condition}',
    *[f'- {name}: {text}' for name, text in (rules or {}).items()],
    f'- summary: {summary(trials, stopped_early)}',
    f'- trial directories found: {len(trials)}, scored: {int(usable.sum())}',
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
  keys = ['algorithm', 'workload', 'study', 'trial']
  parts += _section(
    'Trials without evaluations (counted as misses)',
    trials[trials['status'] == MISS_STATUS],
    keys + ['status_detail'],
  )
  parts += _section(
    'Damaged trials (left out)',
    trials[trials['status'].isin(DAMAGE_STATUSES)],
    keys + ['status', 'status_detail'],
  )
  parts += _section(
    'Damaged files of scored trials (see Issues for the lines)',
    trials[(trials['damage'] != '') & usable],
    keys + ['damage'],
  )
  if condition == 'step' and short_of_step_budget is not None:
    parts += _section(
      'Stopped before the step budget', short_of_step_budget.drop(columns='trial_id')
    )
  if stopped_early is not None:
    parts += _section(
      f'Stopped early (before the end of the {condition} budget)',
      stopped_early.drop(columns='trial_id'),
    )
  parts.append('## Issues\n')
  if issues:
    frame = pd.DataFrame(
      [{'level': i.level, 'where': i.where, 'message': i.message} for i in issues]
    )
    parts.append(to_markdown(frame))
  else:
    parts.append('None.\n')
  return '\n'.join(parts)


def summary(trials: pd.DataFrame, stopped_early: pd.DataFrame | None = None) -> str:
  """One line: trial directories, scored, without evaluations, damaged, stopped early,
  diverged."""
  status = trials['status']
  scored = status.isin(SCORED_STATUSES)
  parts = [
    f'{len(trials)} trial directories',
    f'{int(scored.sum())} scored',
    f'{int((status == MISS_STATUS).sum())} without evaluations (counted as misses)',
    f'{int(status.isin(DAMAGE_STATUSES).sum())} damaged (left out)',
    f'{int(((trials["damage"] != "") & scored).sum())} scored with damaged files',
  ]
  if stopped_early is not None:
    parts.append(f'{len(stopped_early)} stopped early')
  parts.append(f'{int(trials["diverged"].astype(bool).sum())} diverged')
  return ', '.join(parts)


def console_lines(
  trials: pd.DataFrame, issues: Sequence[Issue], stopped_early: pd.DataFrame | None = None
) -> list[str]:
  """What the report prints after writing: each warning (at most MAX_CONSOLE_FINDINGS), then
  the :func:`summary`."""
  warnings = [i for i in issues if i.level != 'note']
  lines = [f'{i.level}: {i.where}: {i.message}' for i in warnings[:MAX_CONSOLE_FINDINGS]]
  if len(warnings) > MAX_CONSOLE_FINDINGS:
    lines.append(f'... and {len(warnings) - MAX_CONSOLE_FINDINGS} more warning(s) in audit.md')
  lines.append(f'audit: {summary(trials, stopped_early)}; {len(warnings)} warning(s) in audit.md')
  return lines
