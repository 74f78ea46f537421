"""The two conditions and the budget of each workload under them.

- time: the clock is ``accumulated_submission_time`` (column ``time``), the
  budget ``workload.max_allowed_runtime_sec`` from ``meta_data_0.json``.
- step: the clock is ``global_step``, the budget ``max_global_steps`` from
  ``flags_0.json`` (falling back to ``workload.step_hint`` when it is null).

A ``--budgets FILE.json`` overrides either: under time a time budgets file (the one
``hardware_transfer.transfer`` writes, or ``{"<workload>": seconds}``), under step a step
budgets file (``{"<workload>": steps}``), or either section of ``{"time": {...}, "step":
{...}}`` (formats: ``bench_core.file_formats``). A file of another kind is refused.

A scored, not diverged trial *stopped early* when it ended before the end of its budget:

- step: its last evaluation comes before the step budget;
- time: its completion record gives a ``stop_reason`` other than ``time budget spent`` (the
  local runner records it: ``training complete`` for a step cap, ``targets reached``); without
  one, when its last evaluation comes more than one evaluation period
  (``workload.eval_period_time_sec``) before the time budget; a trial without either is not
  judged.

Such a trial is still scored against the whole budget (targets it did not reach are misses),
and its "quality at the end of the budget" is the value of its last evaluation: the report
flags both.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench_core import file_formats
from bench_core.catalogue import CONDITIONS
from bench_core.errors import BenchError
from scoring_ext.findings import SCORED_STATUSES, Issue


def clock_column(condition: str) -> str:
  """Column of the evals frame that measures progress under `condition`."""
  if condition == 'time':
    return 'time'
  if condition == 'step':
    return 'global_step'
  raise BenchError(f'unknown condition {condition!r}; expected one of {CONDITIONS}')


def read_budgets_file(path: str, condition: str) -> dict[str, float]:
  """Budgets per workload under ``condition`` from a ``--budgets`` file (module docstring)."""
  return file_formats.load_budgets_of_condition(path, condition)


def _budget_column(trials: pd.DataFrame, condition: str) -> pd.Series:
  if condition == 'time':
    return trials['max_allowed_runtime_sec']
  return trials['max_global_steps'].fillna(trials['step_hint'])


def workload_budgets(
  trials: pd.DataFrame, condition: str, override: dict[str, float] | None = None
) -> tuple[pd.Series, list[Issue]]:
  """Budget per workload (index: workload) and audit notes.

  The most common value over a workload's trials is used; disagreeing trials
  and a fallback to step_hint are noted. A workload of ``override`` (``--budgets``) takes its
  budget from there, noted with the logged one it replaces. Raises BenchError for a workload
  without any budget.
  """
  clock_column(condition)
  override = override or {}
  issues = []
  budgets = {}
  usable = trials[trials['status'].isin(SCORED_STATUSES)]
  for workload, group in usable.groupby('workload', sort=True):
    if workload in override:
      budgets[workload] = override[workload]
      logged = sorted(set(_budget_column(group, condition).dropna()) - {override[workload]})
      replaced = f'; the logs say {", ".join(f"{v:g}" for v in logged)}' if logged else ''
      issues.append(
        Issue(
          'note', workload, f'{condition} budget {override[workload]:g} from --budgets{replaced}'
        )
      )
      continue
    values = _budget_column(group, condition).dropna()
    if values.empty:
      field = (
        'workload.max_allowed_runtime_sec in meta_data_0.json'
        if condition == 'time'
        else 'max_global_steps in flags_0.json or workload.step_hint'
      )
      raise BenchError(
        f'no {condition} budget for workload {workload!r}: no trial has '
        f'{field}; give one with --budgets FILE.json'
      )
    counts = values.value_counts()
    budgets[workload] = float(counts.index[0])
    if len(counts) > 1:
      issues.append(
        Issue(
          'warning',
          workload,
          f'trials disagree on the {condition} budget '
          f'({", ".join(f"{v:g}" for v in counts.index)}); using '
          f'{budgets[workload]:g}',
        )
      )
    if condition == 'step' and group['max_global_steps'].isna().any():
      issues.append(
        Issue(
          'note',
          workload,
          'max_global_steps is null in some flags_0.json; their step budget is workload.step_hint',
        )
      )
  return pd.Series(budgets, name='budget', dtype=float), issues


def cutoffs_by_trial(evals: pd.DataFrame, budgets: pd.Series, fraction: float) -> np.ndarray:
  """fraction x budget of each evaluation's workload (NaN where no budget)."""
  return evals['workload'].map(budgets).to_numpy(dtype=float) * fraction


def stopped_before_step_budget(
  trials: pd.DataFrame, evals: pd.DataFrame, budgets: pd.Series
) -> pd.DataFrame:
  """Usable, not diverged trials whose last evaluation comes before their workload's step
  budget: algorithm, workload, study, trial, last_step, budget, ran_out_of_time ('yes', 'no',
  or 'not recorded' without is_time_remaining in trial_complete.json).

  Under step control such a trial (typically stopped by a time limit) is still scored
  against the whole step budget: targets it did not reach by its last evaluation are misses.
  """
  columns = [
    'trial_id',
    'algorithm',
    'workload',
    'study',
    'trial',
    'last_step',
    'budget',
    'ran_out_of_time',
  ]
  ok = trials[(trials['status'] == 'ok') & ~trials['diverged'].astype(bool)]
  last = evals.groupby('trial_id', sort=True)['global_step'].max()
  frame = ok.assign(last_step=ok['trial_id'].map(last), budget=ok['workload'].map(budgets))
  short = frame[frame['last_step'] < frame['budget']].copy()
  short['ran_out_of_time'] = short['ran_out_of_time'].map(
    lambda v: 'not recorded' if v is None or v != v else ('yes' if v else 'no')
  )
  return short[columns].reset_index(drop=True)


def step_budget_issues(short: pd.DataFrame) -> list[Issue]:
  """One warning per workload with trials stopped before the step budget."""
  issues = []
  for workload, group in short.groupby('workload', sort=True):
    on_time = int((group['ran_out_of_time'] == 'yes').sum())
    reason = (
      f'; {on_time} ran out of time (trial_complete.json: is_time_remaining false)'
      if on_time
      else ''
    )
    issues.append(
      Issue(
        'warning',
        workload,
        f'{len(group)} trial(s) stopped before the step '
        f'budget of {group["budget"].iloc[0]:g} steps{reason}; they are still '
        'scored against the whole step budget (see "Stopped before the step '
        'budget")',
      )
    )
  return issues


STOPPED_EARLY_COLUMNS = [
  'trial_id',
  'algorithm',
  'workload',
  'study',
  'trial',
  'last_clock',
  'budget',
  'reason',
]
TIME_BUDGET_SPENT = 'time budget spent'


def as_stopped_early(short: pd.DataFrame) -> pd.DataFrame:
  """The rows of :func:`stopped_before_step_budget` in STOPPED_EARLY_COLUMNS."""
  reasons = {
    'yes': 'ran out of time (trial_complete.json: is_time_remaining false)',
    'no': 'ended before the step budget with time remaining',
    'not recorded': 'ended before the step budget',
  }
  return pd.DataFrame(
    {
      'trial_id': short['trial_id'].to_numpy(dtype=int),
      'algorithm': short['algorithm'].to_numpy(),
      'workload': short['workload'].to_numpy(),
      'study': short['study'].to_numpy(),
      'trial': short['trial'].to_numpy(),
      'last_clock': short['last_step'].to_numpy(dtype=float),
      'budget': short['budget'].to_numpy(dtype=float),
      'reason': short['ran_out_of_time'].map(reasons).to_numpy(),
    },
    columns=STOPPED_EARLY_COLUMNS,
  )


def stopped_before_time_budget(
  trials: pd.DataFrame, evals: pd.DataFrame, budgets: pd.Series
) -> pd.DataFrame:
  """Scored, not diverged trials that stopped early under time control (module docstring),
  in STOPPED_EARLY_COLUMNS; ``last_clock`` is the time of the last evaluation."""
  ok = trials[(trials['status'] == 'ok') & ~trials['diverged'].astype(bool)]
  last = evals.groupby('trial_id', sort=True)['time'].max()
  rows = []
  for trial in ok.itertuples(index=False):
    budget = float(budgets.get(trial.workload, np.nan))
    last_time = float(last.get(trial.trial_id, np.nan))
    reason = ''
    if trial.stop_reason:
      if trial.stop_reason not in (TIME_BUDGET_SPENT, 'diverged'):
        reason = f'trial_complete.json: stop_reason {trial.stop_reason!r}'
    elif np.isfinite(trial.eval_period_sec) and last_time + trial.eval_period_sec < budget:
      reason = (
        f'last evaluation more than one evaluation period ({trial.eval_period_sec:g} s) '
        'before the budget'
      )
    if reason:
      rows.append(
        {
          'trial_id': trial.trial_id,
          'algorithm': trial.algorithm,
          'workload': trial.workload,
          'study': trial.study,
          'trial': trial.trial,
          'last_clock': last_time,
          'budget': budget,
          'reason': reason,
        }
      )
  return pd.DataFrame(rows, columns=STOPPED_EARLY_COLUMNS)


def time_budget_issues(early: pd.DataFrame) -> list[Issue]:
  """One warning per workload with trials that stopped before the time budget."""
  return [
    Issue(
      'warning',
      workload,
      f'{len(group)} trial(s) stopped before the time budget of '
      f'{group["budget"].iloc[0]:g} s ({", ".join(sorted(set(group["reason"])))}); they are '
      'still scored against the whole budget, and their quality at the end of the budget is '
      'that of their last evaluation (see "Stopped early")',
    )
    for workload, group in early.groupby('workload', sort=True)
  ]
