"""The audit of an experiment tree (DeepOBS style: what is there, what is not).

It lists algorithms x workloads with the number of studies and trials found,
the (algorithm, workload, study) combinations missing from the full grid,
unusable trials, diverged trials, trials that may be incomplete, and every
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
  cells = {key: cell(g) for key, g in trials.groupby(['algorithm', 'workload'], sort=True)}
  algorithms = sorted(trials['algorithm'].unique())
  workloads = sorted(trials['workload'].unique())
  rows = [{'algorithm': a, **{w: cells.get((a, w), 'missing') for w in workloads}}
          for a in algorithms]
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


def completion_issues(trials: pd.DataFrame) -> list[Issue]:
  """Trials without trial_complete.json, noted only when other trials have one
  (the local runner writes it; the official runner does not)."""
  if not trials['complete'].any():
    return [Issue('note', 'all trials', 'no trial_complete.json anywhere (expected for logs '
                  'of the official runner); completion not checked')]
  lacking = trials[~trials['complete'] & ~trials['diverged']]
  return [Issue('warning', row.path, 'no trial_complete.json: the run may not have finished')
          for row in lacking.itertuples()]


def render_audit(experiment_dir: str, condition: str, trials: pd.DataFrame,
                 issues: list[Issue], budgets: pd.Series, clock_unit: str) -> str:
  """audit.md as text."""
  usable = trials['status'] == 'ok'
  parts = [
      '# Audit\n',
      f'- experiment directory: `{experiment_dir}`',
      f'- condition: {condition}',
      f'- trial directories found: {len(trials)}, usable: {int(usable.sum())}',
      f'- algorithms: {", ".join(sorted(trials["algorithm"].unique()))}',
      f'- workloads: {", ".join(sorted(trials["workload"].unique()))}',
      f'- studies: {", ".join(sorted(trials["study"].unique()))}',
      '',
      '## Coverage (usable studies/trials per algorithm and workload)\n',
      to_markdown(coverage_table(trials)),
      f'## Budgets ({clock_unit})\n',
      to_markdown(budgets.rename_axis('workload').reset_index()),
  ]
  missing = missing_combinations(trials)
  parts.append('## Missing studies\n')
  parts.append(to_markdown(missing) if len(missing) else 'None.\n')
  diverged = trials[trials['diverged']]
  parts.append('## Diverged trials\n')
  parts.append(to_markdown(diverged[['algorithm', 'workload', 'study', 'trial',
                                     'diverged_step']]) if len(diverged) else 'None.\n')
  unusable = trials[~usable]
  parts.append('## Unusable trials (left out)\n')
  parts.append(to_markdown(unusable[['algorithm', 'workload', 'study', 'trial', 'status']])
               if len(unusable) else 'None.\n')
  parts.append('## Issues\n')
  if issues:
    frame = pd.DataFrame([{'level': i.level, 'where': i.where, 'message': i.message}
                          for i in issues])
    parts.append(to_markdown(frame))
  else:
    parts.append('None.\n')
  return '\n'.join(parts)
