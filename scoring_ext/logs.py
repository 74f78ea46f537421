"""Discover and load an experiment tree in AlgoPerf's scoring layout.

Layout: ``<dir>/<algorithm>/<study>/<workload>_<framework>/trial_<k>/`` with
``eval_measurements.csv`` (one row per evaluation), ``meta_data_0.json`` and
``flags_0.json``; the local runner also writes ``diverged.json`` and
``trial_complete.json``.

Loading gives two frames:

- ``trials``: one row per trial directory, with its keys, a ``trial_id``,
  what the metadata says (budgets, target metric, official target) and its
  status (``ok``, ``no_csv``, ``no_evals``, ``bad_columns``, ``bad_csv``).
- ``evals``: tidy, one row per evaluation of a usable trial, with
  ``trial_id``, the keys, ``global_step``, ``time``
  (= accumulated_submission_time, seconds) and every ``train/*`` and
  ``validation/*`` column.

Problems that do not prevent scoring are collected as :class:`Issue` records
for the audit. AlgoPerf's text logs are not parsed: a trial without
``eval_measurements.csv`` is reported and left out.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pandas as pd

from bench_core import catalogue, layout
from bench_core.errors import BenchError
from scoring_ext import metrics

TRIAL_KEYS = ['algorithm', 'study', 'workload', 'framework', 'trial']
EVAL_FILE = layout.EVAL_MEASUREMENTS
META_FILE = layout.META_DATA
FLAGS_FILE = layout.FLAGS


@dataclasses.dataclass(frozen=True)
class Issue:
  """One finding of the audit: level is 'error', 'warning' or 'note'."""
  level: str
  where: str
  message: str


@dataclasses.dataclass(frozen=True)
class Experiment:
  trials: pd.DataFrame
  evals: pd.DataFrame
  issues: tuple[Issue, ...]


def discover_trial_dirs(experiment_dir: str) -> pd.DataFrame:
  """One row per ``trial_<k>`` directory: the keys and its ``path``.

  Raises BenchError if the directory is missing or holds no trial directory.
  """
  if not os.path.isdir(experiment_dir):
    raise BenchError(f'experiment directory {experiment_dir!r} does not exist '
                     'or is not a directory')
  rows = [dataclasses.asdict(t) for t in layout.find_scoring_trials(experiment_dir)]
  if not rows:
    raise BenchError(
        f'no trial directories in {experiment_dir!r}: expected '
        '<dir>/<algorithm>/<study>/<workload>_<framework>/trial_<k>/')
  return pd.DataFrame(rows, columns=TRIAL_KEYS + ['path'])


def _read_json(path: str, issues: list[Issue]) -> dict:
  """The JSON object at ``path``; {} when absent, or unreadable (with an issue)."""
  if not os.path.exists(path):
    return {}
  try:
    return layout.read_json_object(path)
  except BenchError as e:
    issues.append(Issue('warning', path, f'{e}; ignored'))
    return {}


def _lookup(data: dict, dotted: str):
  """data['workload.step_hint'] (flat, as AlgoPerf writes) or data['workload']['step_hint']."""
  if dotted in data:
    return data[dotted]
  node = data
  for part in dotted.split('.'):
    if not isinstance(node, dict) or part not in node:
      return None
    node = node[part]
  return node


def _as_float(value) -> float:
  try:
    return float(value)
  except (TypeError, ValueError):
    return float('nan')


def read_trial_metadata(trial_dir: str, workload: str, issues: list[Issue]) -> dict:
  """What scoring needs from the JSON files of one trial directory."""
  meta = _read_json(os.path.join(trial_dir, META_FILE), issues)
  flags = _read_json(os.path.join(trial_dir, FLAGS_FILE), issues)
  diverged_path = os.path.join(trial_dir, layout.DIVERGED)
  diverged = os.path.exists(diverged_path)
  diverged_info = _read_json(diverged_path, issues) if diverged else {}
  target_metric = _lookup(meta, 'workload.target_metric_name')
  if not target_metric:
    target_metric = catalogue.default_target_metric(workload)
  return {
      'has_meta': bool(meta),
      'max_allowed_runtime_sec': _as_float(_lookup(meta, 'workload.max_allowed_runtime_sec')),
      'step_hint': _as_float(_lookup(meta, 'workload.step_hint')),
      'max_global_steps': _as_float(flags.get('max_global_steps')),
      'target_metric': target_metric,
      'validation_target_value': _as_float(_lookup(meta, 'workload.validation_target_value')),
      'test_target_value': _as_float(_lookup(meta, 'workload.test_target_value')),
      'rng_seed': meta.get('rng_seed'),
      'diverged': diverged,
      'diverged_step': _as_float(diverged_info.get('global_step')),
      'complete': layout.is_complete(trial_dir),
  }


def _wanted_column(name: str) -> bool:
  return (name in ('global_step', 'accumulated_submission_time', 'score')
          or name.startswith('train/') or name.startswith('validation/'))


def read_eval_measurements(path: str, target_metric: str | None) -> pd.DataFrame:
  """The evaluations of one trial, sorted by global_step, with a ``time`` column.

  Raises BenchError naming the file and column when a needed column is absent.
  """
  try:
    frame = pd.read_csv(path, usecols=_wanted_column)
  except pd.errors.EmptyDataError:
    return pd.DataFrame()
  except (OSError, ValueError, pd.errors.ParserError) as e:
    raise BenchError(f'{path}: unreadable CSV ({e})') from None
  if frame.empty:
    return frame
  if 'accumulated_submission_time' in frame:
    frame = frame.rename(columns={'accumulated_submission_time': 'time'})
    frame = frame.drop(columns=['score'], errors='ignore')
  elif 'score' in frame:
    frame = frame.rename(columns={'score': 'time'})
  needed = ['global_step', 'time']
  if target_metric:
    needed += [metrics.metric_column(s, target_metric) for s in metrics.SPLITS]
  missing = [c for c in needed if c not in frame.columns]
  if missing:
    shown = ['accumulated_submission_time' if c == 'time' else c for c in missing]
    raise BenchError(f'{path}: missing column(s) {", ".join(shown)}')
  for column in frame.columns:
    frame[column] = pd.to_numeric(frame[column], errors='coerce').astype(float)
  frame = frame[['global_step', 'time'] + [c for c in frame.columns
                                           if c not in ('global_step', 'time')]]
  return frame.sort_values('global_step', kind='stable', ignore_index=True)


def _nan_metric_issue(frame: pd.DataFrame, target_metric: str, path: str,
                      diverged: bool) -> Issue | None:
  columns = [metrics.metric_column(s, target_metric) for s in metrics.SPLITS]
  n_bad = int((~np.isfinite(frame[columns].to_numpy())).any(axis=1).sum())
  if n_bad == 0:
    return None
  return Issue('note' if diverged else 'warning', path,
               f'{n_bad} evaluation(s) with a NaN/inf {target_metric}; they reach no target')


def load_experiment(experiment_dir: str, algorithms=None, workloads=None) -> Experiment:
  """Load every trial of the tree (optionally only some algorithms/workloads).

  Raises BenchError for a missing/empty directory, an unknown name in
  `algorithms` or `workloads`, or when no trial has usable evaluations.
  """
  found = discover_trial_dirs(experiment_dir)
  found = _select(found, 'algorithm', algorithms, experiment_dir)
  found = _select(found, 'workload', workloads, experiment_dir)
  issues: list[Issue] = []
  trial_rows, frames = [], []
  for trial_id, row in enumerate(found.itertuples(index=False)):
    info = read_trial_metadata(row.path, row.workload, issues)
    status = 'ok'
    csv_path = os.path.join(row.path, EVAL_FILE)
    frame = None
    if not info['target_metric']:
      status = 'no_metric'
      issues.append(Issue('warning', row.path, 'no workload.target_metric_name in '
                          f'{META_FILE} and unknown workload family; trial left out'))
    elif not os.path.exists(csv_path):
      status = 'no_csv'
      issues.append(Issue('warning', row.path, f'no {EVAL_FILE} (AlgoPerf text logs are '
                          'not parsed); trial left out'))
    else:
      try:
        frame = read_eval_measurements(csv_path, info['target_metric'])
      except BenchError as e:
        status = 'bad_columns'
        issues.append(Issue('warning', csv_path, f'{e}; trial left out'))
      else:
        if frame.empty:
          status = 'no_evals'
          issues.append(Issue('warning', csv_path, 'no evaluations; trial left out'))
    n_evals = 0
    if status == 'ok':
      n_evals = len(frame)
      issue = _nan_metric_issue(frame, info['target_metric'], csv_path, info['diverged'])
      if issue:
        issues.append(issue)
      frame.insert(0, 'trial_id', trial_id)
      frames.append(frame)
    if info['diverged']:
      issues.append(Issue('warning', row.path, 'diverged (diverged.json) at step '
                          f'{_fmt_step(info["diverged_step"])}'))
    trial_rows.append({'trial_id': trial_id, **row._asdict(), **info,
                       'status': status, 'n_evals': n_evals})
  trials = pd.DataFrame(trial_rows)
  if not frames:
    raise BenchError(f'no trial in {experiment_dir!r} has usable evaluations '
                       f'(looked in {len(trials)} trial directories)')
  evals = pd.concat(frames, ignore_index=True, sort=False)
  keys = trials.set_index('trial_id')[TRIAL_KEYS]
  for key in TRIAL_KEYS:
    evals.insert(1 + TRIAL_KEYS.index(key), key, keys[key].to_numpy()[evals['trial_id']])
  return Experiment(trials=trials, evals=evals, issues=tuple(issues))


def _fmt_step(step: float) -> str:
  return 'unknown' if not np.isfinite(step) else str(int(step))


def _select(found: pd.DataFrame, column: str, wanted, experiment_dir: str) -> pd.DataFrame:
  if not wanted:
    return found
  available = set(found[column])
  unknown = [w for w in wanted if w not in available]
  if unknown:
    raise BenchError(f'unknown {column}(s) {", ".join(unknown)} in {experiment_dir!r}; '
                       f'found: {", ".join(sorted(available))}')
  return found[found[column].isin(list(wanted))].reset_index(drop=True)
