"""Time (or steps) to target.

Per trial: the clock (accumulated_submission_time under time, global_step under step) of
the first evaluation whose metric reaches the target (``<=`` for minimised, ``>=`` for
maximised metrics); ``inf`` if there is none. NaN metrics reach nothing. ``hit_index`` is
that evaluation's index in the trial (0, 1, ... in step order; -1 for none). A trial that ran
and logged no evaluation (status ``no_evals``) reached nothing: ``inf``, like any miss, so it
counts in its study, in the median's n and in the scores. Damaged trials are left out
(:mod:`scoring_ext.read.logs`).

Evaluations past the budget (``past_budget``):

- ``drop`` (default): an evaluation whose clock is beyond the workload's budget reaches
  nothing, so a budget given with ``--budgets`` is enforced on any log;
- ``keep``: every logged evaluation counts, as in AlgoPerf's scoring code
  (``scoring/performance_profile.py``), which relies on the runner having stopped the trial
  at the budget and does not check it again.

Per study, with several trials (external tuning: 5 per study), ``rule``:

- ``earliest`` (default): the earliest time over the study's trials;
- ``algoperf``: AlgoPerf's rule (``get_best_trial_index`` at commit 2c90454f): the trial whose
  first reaching evaluation has the smallest *index* counts, with that evaluation's time;
  ties go to the first trial (AlgoPerf: the first row of its table, i.e. the log's tuning-run
  order; here the lowest trial number). The two differ when trials evaluate at different
  cadences, or when trials tie on the index but not on time.

Per algorithm and workload: the median over studies (``inf`` counts, so the median is a miss
when half or more of an even number of studies missed, or more than half of an odd number),
with the number of studies and of studies that reached the target. A workload on which an
algorithm has no study at all gets ``inf``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench_core import catalogue
from scoring_ext.findings import SCORED_STATUSES

TRIAL_RULES = ('earliest', 'algoperf')
PAST_BUDGET = ('drop', 'keep')

TRIAL_COLUMNS = [
  'algorithm',
  'workload',
  'split',
  'study',
  'trial',
  'trial_id',
  'time_to_target',
  'hit_index',
]
STUDY_KEYS = ['algorithm', 'workload', 'split', 'study']
RULE_TEXT = {
  'earliest': 'earliest time to target over the trials of a study',
  'algoperf': (
    "AlgoPerf's: the trial whose evaluation index reaches the target first, then that trial's time"
  ),
}
PAST_BUDGET_TEXT = {
  'drop': "not counted (AlgoPerf's scoring code counts every logged evaluation)",
  'keep': "counted, as in AlgoPerf's scoring code",
}


def reached_mask(values: np.ndarray, target: float, direction: str) -> np.ndarray:
  """True where `values` reach `target` (NaN target or value: False)."""
  with np.errstate(invalid='ignore'):
    if direction == catalogue.MINIMIZE:
      return values <= target
    return values >= target


def trial_times_to_target(
  evals: pd.DataFrame,
  trials: pd.DataFrame,
  targets: pd.DataFrame,
  budgets: pd.Series,
  clock: str,
  past_budget: str = 'drop',
) -> pd.DataFrame:
  """One row per scored trial (with evaluations, or a miss without) and target split,
  columns :data:`TRIAL_COLUMNS`: ``algorithm``, ``workload``, ``split``, ``study``,
  ``trial`` (str), ``trial_id`` (int), ``time_to_target`` (float: the clock of the first
  evaluation that reaches the target, seconds or steps; inf for none), ``hit_index`` (int:
  that evaluation's ``eval_index``, -1 for none)."""
  info = trials[trials['status'].isin(SCORED_STATUSES)].set_index('trial_id')
  parts = []
  for target in targets.itertuples(index=False):
    ids = info.index[info['workload'] == target.workload]
    if len(ids) == 0:
      continue
    rows = evals[evals['workload'].to_numpy() == target.workload]
    if target.column in rows:
      hit = reached_mask(rows[target.column].to_numpy(dtype=float), target.target, target.direction)
    else:
      hit = np.zeros(len(rows), dtype=bool)
    if past_budget == 'drop':
      hit &= rows[clock].to_numpy() <= budgets.get(target.workload, np.inf)
    first = rows.loc[hit].drop_duplicates('trial_id', keep='first').set_index('trial_id')
    parts.append(
      pd.DataFrame(
        {
          'algorithm': info.loc[ids, 'algorithm'].to_numpy(),
          'workload': target.workload,
          'split': target.split,
          'study': info.loc[ids, 'study'].to_numpy(),
          'trial': info.loc[ids, 'trial'].to_numpy(),
          'trial_id': ids.to_numpy(),
          'time_to_target': first[clock].reindex(ids).fillna(np.inf).to_numpy(dtype=float),
          'hit_index': first['eval_index'].reindex(ids).fillna(-1).to_numpy(dtype=int),
        }
      )
    )
  if not parts:
    return pd.DataFrame(columns=TRIAL_COLUMNS)
  return pd.concat(parts, ignore_index=True)[TRIAL_COLUMNS]


def _trial_order(trial: pd.Series) -> np.ndarray:
  """trial_<k> -> k (names without a number sort last)."""
  numbers = pd.to_numeric(trial.astype(str).str.extract(r'(\d+)$')[0], errors='coerce')
  return numbers.fillna(np.inf).to_numpy()


def study_times_to_target(per_trial: pd.DataFrame, rule: str = 'earliest') -> pd.DataFrame:
  """One row per (algorithm, workload, split, study), sorted: those four keys
  (:data:`STUDY_KEYS`, str), ``time_to_target`` (float: the study's time under `rule`, inf
  for a miss), ``trial`` (str: the trial it came from, '' for a miss), ``n_trials`` (int:
  the study's scored trials)."""
  if rule not in TRIAL_RULES:
    raise ValueError(f'unknown multi-trial rule {rule!r}; expected one of {TRIAL_RULES}')
  ranked = per_trial.assign(_order=_trial_order(per_trial['trial']))
  if rule == 'earliest':
    ranked = ranked.assign(_key=ranked['time_to_target'].astype(float))
  else:
    index = ranked['hit_index'].astype(float)
    ranked = ranked.assign(_key=index.where(index >= 0, np.inf))
  ranked = ranked.sort_values(STUDY_KEYS + ['_key', '_order'], kind='stable')
  chosen = ranked.drop_duplicates(STUDY_KEYS, keep='first').set_index(STUDY_KEYS)
  counts = per_trial.groupby(STUDY_KEYS, sort=True).size().rename('n_trials')
  out = chosen[['time_to_target', 'trial']].join(counts).reset_index()
  out.loc[~np.isfinite(out['time_to_target']), 'trial'] = ''
  return out.sort_values(STUDY_KEYS, ignore_index=True)


def median_times_to_target(per_study: pd.DataFrame) -> pd.DataFrame:
  """One row per (algorithm, workload, split), sorted: those keys (str),
  ``time_to_target`` (float: the median over studies, inf counting), ``n_studies`` (int),
  ``n_reached`` (int: studies with a finite time)."""
  keys = ['algorithm', 'workload', 'split']
  grouped = per_study.groupby(keys, sort=True)['time_to_target']
  return pd.DataFrame(
    {
      'time_to_target': grouped.agg(lambda t: float(np.median(t.to_numpy(dtype=float)))),
      'n_studies': grouped.size(),
      'n_reached': grouped.agg(lambda t: int(np.isfinite(t.to_numpy(dtype=float)).sum())),
    }
  ).reset_index()


def times_table(medians: pd.DataFrame, split: str, algorithms, workloads) -> pd.DataFrame:
  """Median times of one split, index `algorithms` (in that order), one float column per
  workload of `workloads`; inf where an algorithm has no median (no study) or missed."""
  subset = medians[medians['split'] == split]
  wide = subset.pivot(index='algorithm', columns='workload', values='time_to_target')
  return wide.reindex(index=list(algorithms), columns=list(workloads)).fillna(np.inf)
