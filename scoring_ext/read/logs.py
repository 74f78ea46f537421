"""Discover and load an experiment tree in AlgoPerf's scoring layout.

Layout: ``<dir>/<algorithm>/<study>/<workload>_<framework>/trial_<k>/`` with
``meta_data_0.json`` and ``flags_0.json``, and the evaluations in one of two places:

* ``trial_<k>/eval_measurements.csv`` (one row per evaluation; what both runners write), or
* the official runner's text log ``<workload>_<framework>/*.log`` (one file for every trial
  of the run: :mod:`scoring_ext.read.textlogs`), as in AlgoPerf's published baseline logs.

A trial with a usable CSV uses the CSV; one without uses its tuning run of the text log; the
``source`` column says which. The local runner also writes ``diverged.json`` and
``trial_complete.json``.

Loading gives two frames:

- ``trials``: one row per trial directory, with its keys, a ``trial_id``, what the metadata
  says (budgets, target metric, official target, the condition it ran under), where its
  evaluations came from, and its status with a sentence (``status_detail``) for the audit:

  * ``ok``: evaluations to score;
  * ``no_evals``: the trial ran (its meta data, completion record or text log shows it) and
    logged no evaluation: it reached no target, so it counts as a miss everywhere (time to
    target ``inf``, in the study's median and its n, in the profiles and scores; the quality
    table counts it);
  * damage (:data:`DAMAGE_STATUSES`): the trial is left out, and named in the audit and on
    the console: ``bad_clock`` (steps or times that cannot be a run, :func:`bench_core.eval_csv
    .clock_problems`), ``contradicts_record`` (fewer or more evaluations than
    ``trial_complete.json`` records: evaluations were lost, so a time to target or a miss
    read from the rest could be false), ``bad_csv``, ``bad_columns``, ``no_metric``, and
    ``empty`` (no file that shows the trial ran).

  ``damage`` lists what is wrong with a trial that is still scored (rows dropped, no
  ``meta_data_0.json``).
- ``evals``: tidy, one row per evaluation of a usable trial, with ``trial_id``, the keys,
  ``eval_index`` (0, 1, ... in step order), ``global_step``, ``time``
  (= accumulated_submission_time, seconds) and every ``train/*`` and ``validation/*`` column.

Rules applied while loading:

- a damaged row of a CSV (cut off, wrong field count) is dropped and reported with its line
  (:mod:`bench_core.eval_csv`); the trial is flagged (``damaged_rows``);
- a non-finite loss (any ``train/*loss`` or ``validation/*loss``) marks the trial diverged
  at that evaluation, as a NaN in ``diverged.json``'s place: from that evaluation on its
  metrics are set to NaN, so it reaches no target there (a miss, as a NaN is in AlgoPerf's
  comparison) and has no final quality value.

Problems that do not prevent scoring are collected as :class:`Issue` records for the audit.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pandas as pd

from bench_core import catalogue, file_formats, layout
from bench_core.errors import BenchError
from bench_core import eval_csv
from scoring_ext import metrics
from scoring_ext.findings import MISS_STATUS, SCORED_STATUSES, Issue
from scoring_ext.read import textlogs

TRIAL_KEYS = ['algorithm', 'study', 'workload', 'framework', 'trial']
EVAL_FILE = layout.EVAL_MEASUREMENTS
META_FILE = layout.META_DATA
FLAGS_FILE = layout.FLAGS

ENDED_BEFORE_FIRST_EVALUATION = (
  'ended before its first evaluation - e.g. compilation used the whole budget'
)


@dataclasses.dataclass(frozen=True)
class Experiment:
  """A loaded tree: ``trials`` and ``evals`` as :func:`load_trials` documents them, and the
  findings of the loading."""

  trials: pd.DataFrame
  evals: pd.DataFrame
  issues: tuple[Issue, ...]


def discover_trial_dirs(experiment_dir: str) -> pd.DataFrame:
  """One row per ``trial_<k>`` directory: the keys :data:`TRIAL_KEYS` (str: algorithm,
  study, workload, framework, trial) and its ``path`` (str).

  Raises BenchError if the directory is missing or holds no trial directory.
  """
  if not os.path.isdir(experiment_dir):
    raise BenchError(
      f'experiment directory {experiment_dir!r} does not exist or is not a directory'
    )
  rows = [dataclasses.asdict(t) for t in layout.find_scoring_trials(experiment_dir)]
  if not rows:
    raise BenchError(
      f'no trial directories in {experiment_dir!r}: expected '
      '<dir>/<algorithm>/<study>/<workload>_<framework>/trial_<k>/'
    )
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


def _read_record(load, path: str, issues: list[Issue]):
  """``load(path)`` (a ``bench_core.file_formats`` loader); None when absent, or unreadable
  (with an issue)."""
  if not os.path.exists(path):
    return None
  try:
    return load(path)
  except BenchError as e:
    issues.append(Issue('warning', path, f'{e}; ignored'))
    return None


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
  diverged_info = _read_record(file_formats.load_diverged, diverged_path, issues)
  record = _read_record(
    file_formats.load_trial_complete, os.path.join(trial_dir, layout.TRIAL_COMPLETE), issues
  )
  target_metric = _lookup(meta, 'workload.target_metric_name')
  if not target_metric:
    target_metric = catalogue.default_target_metric(workload)
  runtime = _as_float(_lookup(meta, 'workload.max_allowed_runtime_sec'))
  condition, condition_source = file_formats.trial_condition(
    record, flags.get('max_global_steps'), runtime
  )
  record = record or file_formats.TrialComplete(runner='')
  return {
    'has_meta': bool(meta),
    'max_allowed_runtime_sec': runtime,
    'step_hint': _as_float(_lookup(meta, 'workload.step_hint')),
    'max_global_steps': _as_float(flags.get('max_global_steps')),
    'target_metric': target_metric,
    'validation_target_value': _as_float(_lookup(meta, 'workload.validation_target_value')),
    'test_target_value': _as_float(_lookup(meta, 'workload.test_target_value')),
    'rng_seed': meta.get('rng_seed'),
    'diverged': diverged,
    'diverged_step': _as_float(diverged_info.global_step if diverged_info else None),
    'diverged_reason': (diverged_info.reason if diverged_info else 'diverged.json')
    if diverged
    else '',
    'complete': layout.is_complete(trial_dir),
    'ran_out_of_time': (None if record.is_time_remaining is None else not record.is_time_remaining),
    'stop_reason': record.stop_reason or '',
    'recorded_evals': record.num_evals,
    'eval_period_sec': _as_float(_lookup(meta, 'workload.eval_period_time_sec')),
    'condition': condition or '',
    'condition_source': condition_source,
  }


def tidy_evaluations(raw: pd.DataFrame, target_metric: str | None, where: str) -> pd.DataFrame:
  """The evaluations of one trial (from a CSV or a text log), sorted by global_step, with a
  ``time`` column (accumulated_submission_time, else score) and an ``eval_index``.

  Raises BenchError naming `where` and the column when a needed column is absent.
  """
  frame = raw[[c for c in raw.columns if eval_csv.wanted_column(c)]]
  if frame.empty:
    return pd.DataFrame()
  if 'accumulated_submission_time' in frame:
    frame = frame.drop(columns=['score'], errors='ignore')
    frame = frame.rename(columns={'accumulated_submission_time': 'time'})
  elif 'score' in frame:
    frame = frame.rename(columns={'score': 'time'})
  needed = ['global_step', 'time']
  if target_metric:
    needed += [metrics.metric_column(s, target_metric) for s in metrics.SPLITS]
  missing = [c for c in needed if c not in frame.columns]
  if missing:
    shown = ['accumulated_submission_time' if c == 'time' else c for c in missing]
    raise BenchError(f'{where}: missing column(s) {", ".join(shown)}')
  frame = frame.apply(lambda column: pd.to_numeric(column, errors='coerce').astype(float))
  frame = frame[
    ['global_step', 'time'] + [c for c in frame.columns if c not in ('global_step', 'time')]
  ]
  frame = frame.sort_values('global_step', kind='stable', ignore_index=True)
  frame.insert(0, 'eval_index', np.arange(len(frame)))
  return frame


def loss_columns(frame: pd.DataFrame) -> list[str]:
  """The train/validation loss columns (``train/loss``, ``validation/ctc_loss``, ...)."""
  return [
    c
    for c in frame.columns
    if c.startswith(tuple(f'{s}/' for s in metrics.SPLITS)) and c.endswith('loss')
  ]


def first_non_finite_loss(frame: pd.DataFrame) -> tuple[int, str] | None:
  """(row, column) of the first evaluation with a NaN/inf loss, or None."""
  columns = loss_columns(frame)
  if not columns:
    return None
  bad = ~np.isfinite(frame[columns].to_numpy(dtype=float))
  rows = np.flatnonzero(bad.any(axis=1))
  if rows.size == 0:
    return None
  row = int(rows[0])
  return row, columns[int(np.argmax(bad[row]))]


def _nan_metric_issue(
  frame: pd.DataFrame, target_metric: str, path: str, diverged: bool
) -> Issue | None:
  columns = [metrics.metric_column(s, target_metric) for s in metrics.SPLITS]
  n_bad = int((~np.isfinite(frame[columns].to_numpy())).any(axis=1).sum())
  if n_bad == 0:
    return None
  return Issue(
    'note' if diverged else 'warning',
    path,
    f'{n_bad} evaluation(s) with a NaN/inf {target_metric}; they reach no target',
  )


class _RunLogs:
  """The text logs of each run folder, parsed once (their problems reported once)."""

  def __init__(self, issues: list[Issue]):
    self._issues = issues
    self._runs: dict[str, tuple[list, dict]] = {}

  def of(self, run_dir: str) -> tuple[list, dict]:
    """(log paths, runs) of one ``<workload>_<framework>`` folder."""
    if run_dir not in self._runs:
      paths = layout.text_logs(run_dir)
      runs, problems = textlogs.read_logs(paths) if paths else ({}, [])
      for path, line, why in problems:
        self._issues.append(
          Issue('warning' if line else 'note', f'{path}:{line}' if line else path, why)
        )
      self._runs[run_dir] = (paths, runs)
    return self._runs[run_dir]


def _no_evaluation_detail(info: dict, csv_exists: bool, log_paths: list, run, k) -> str:
  """Why a trial that ran has nothing to score, in the words of the audit."""
  csv_text = f'{EVAL_FILE} has no evaluation' if csv_exists else f'no {EVAL_FILE}'
  if info['complete']:
    return f'{ENDED_BEFORE_FIRST_EVALUATION} ({layout.TRIAL_COMPLETE} is there; {csv_text})'
  if run is not None:
    return (
      f'{ENDED_BEFORE_FIRST_EVALUATION}, or crashed: {os.path.basename(run.log)} has '
      f'tuning run {k} but no evaluation'
    )
  if log_paths:
    names = ', '.join(os.path.basename(p) for p in log_paths)
    return f'{csv_text}, and the text log ({names}) has no tuning run {k}; {META_FILE} shows the run started'
  return (
    f'{csv_text} and no text log (*.log) in the workload folder; {META_FILE} shows '
    'the run started: it ended before its first evaluation, or crashed'
  )


def _empty_detail(csv_exists: bool, log_paths: list, k) -> str:
  csv_text = f'{EVAL_FILE} has no evaluation' if csv_exists else f'no {EVAL_FILE}'
  names = ', '.join(os.path.basename(p) for p in log_paths)
  log_text = f'the text log ({names}) has no tuning run {k}' if log_paths else 'no text log'
  return (
    f'nothing shows this trial ran: {csv_text}, {log_text}, no {META_FILE}, '
    f'no {layout.TRIAL_COMPLETE}'
  )


DISORDER = 'rows out of step order'


@dataclasses.dataclass
class _Found:
  """The evaluations of one trial, or why there are none."""

  status: str
  detail: str = ''
  frame: pd.DataFrame | None = None
  source: str = ''
  file: str = ''
  damaged_rows: int = 0
  disorder: str = ''


def _checked(
  raw: pd.DataFrame, metric: str, where: str, issues: list[Issue]
) -> tuple[pd.DataFrame | None, str]:
  """(tidy frame, '') of raw evaluations in file order, or (None, why) when their steps or
  times cannot be a run's (:func:`bench_core.eval_csv.clock_problems`); rows out of step
  order are reported, and give (tidy frame, :data:`DISORDER`)."""
  clocks = raw
  if eval_csv.TIME_COLUMN not in raw and 'score' in raw:
    clocks = raw.rename(columns={'score': eval_csv.TIME_COLUMN})
  problems = eval_csv.clock_problems(clocks)
  if problems:
    return None, '; '.join(problems)
  disorder = eval_csv.out_of_step_order(clocks)
  if disorder:
    issues.append(Issue('warning', where, f'damaged: {disorder}'))
  return tidy_evaluations(raw, metric, where), disorder and DISORDER


def _record_mismatch(info: dict, n_found: int) -> str:
  """Why the evaluations found contradict the completion record ('' when they agree or
  nothing is recorded)."""
  recorded = info['recorded_evals']
  if recorded is None or recorded == n_found:
    return ''
  found = f'{n_found} evaluation(s)' if n_found else 'no evaluation'
  return (
    f'{EVAL_FILE} has {found} but {layout.TRIAL_COMPLETE} records {recorded}: evaluations were '
    'lost (a truncated or overwritten file), so neither a time to target nor a miss can be '
    'read from it'
  )


def _trial_evaluations(row, info: dict, run_logs: _RunLogs, issues: list[Issue]) -> _Found:
  """The evaluations of one trial, where they came from, and the trial's status."""
  metric = info['target_metric']
  if not metric:
    return _Found(
      'no_metric', f'no workload.target_metric_name in {META_FILE} and unknown workload family'
    )
  csv_path = os.path.join(row.path, EVAL_FILE)
  csv_status = None
  damaged = 0
  if os.path.exists(csv_path):
    try:
      raw, bad_lines = eval_csv.read_eval_csv(csv_path)
      damaged = len(bad_lines)
      issues += [
        Issue('warning', f'{csv_path}:{line}', f'{why}; row dropped, trial flagged')
        for line, why in bad_lines
      ]
      frame, clock_problem = _checked(raw, metric, csv_path, issues)
    except BenchError as e:
      csv_status = ('bad_columns' if 'missing column' in str(e) else 'bad_csv', str(e))
    else:
      if clock_problem and frame is None:
        return _Found('bad_clock', clock_problem, file=csv_path, damaged_rows=damaged)
      mismatch = _record_mismatch(info, len(frame) + damaged)
      if mismatch:
        return _Found('contradicts_record', mismatch, file=csv_path, damaged_rows=damaged)
      if not frame.empty:
        return _Found('ok', '', frame, 'csv', csv_path, damaged, clock_problem)
      csv_status = ('no_evals', f'{EVAL_FILE} has no evaluation')
  elif info['recorded_evals']:
    return _Found('contradicts_record', _record_mismatch(info, 0))
  log_paths, runs = run_logs.of(os.path.dirname(row.path))
  k = layout.trial_number(row.trial)
  run = runs.get(k)
  if run is not None and run.evaluations:
    where = f'{run.log} (tuning run {k})'
    try:
      frame, clock_problem = _checked(textlogs.evaluations_frame(run), metric, where, issues)
    except BenchError as e:
      return _Found('bad_columns', str(e), file=run.log, damaged_rows=damaged)
    if clock_problem and frame is None:
      return _Found('bad_clock', f'{where}: {clock_problem}', file=run.log)
    detail = (
      'Metrics line'
      if run.from_metrics_line
      else ('evaluation lines; no Metrics line: the run may not have finished')
    )
    issues.append(
      Issue(
        'note',
        row.path,
        f'evaluations read from the text log {os.path.basename(run.log)} ({detail})',
      )
    )
    if csv_status:
      issues.append(Issue('warning', csv_path, f'{csv_status[1]}; the text log is used'))
    return _Found('ok', '', frame, 'log', run.log, damaged, clock_problem)
  if csv_status and csv_status[0] != 'no_evals':
    return _Found(csv_status[0], csv_status[1], file=csv_path, damaged_rows=damaged)
  csv_exists = os.path.exists(csv_path)
  if not (info['has_meta'] or info['complete'] or run is not None):
    return _Found('empty', _empty_detail(csv_exists, log_paths, k), damaged_rows=damaged)
  return _Found(
    MISS_STATUS, _no_evaluation_detail(info, csv_exists, log_paths, run, k), damaged_rows=damaged
  )


def _apply_divergence(frame: pd.DataFrame, info: dict, where: str, issues: list[Issue]) -> None:
  """Mark a trial with a non-finite loss diverged, and blank its metrics from there on."""
  found = first_non_finite_loss(frame)
  if found is None:
    return
  row, column = found
  step = int(frame.at[row, 'global_step'])
  if not info['diverged']:
    info.update(
      diverged=True,
      diverged_step=float(step),
      diverged_reason=f'non-finite {column} at step {step}',
    )
    issues.append(
      Issue(
        'warning',
        where,
        f'non-finite {column} at step {step}: the trial '
        'counts as diverged; its evaluations from there on reach no target',
      )
    )
  columns = [c for c in frame.columns if c.startswith(tuple(f'{s}/' for s in metrics.SPLITS))]
  frame.loc[row:, columns] = np.nan


def load_trials(found: pd.DataFrame, experiment_dir: str) -> Experiment:
  """Load the trials listed in `found` (rows of :func:`discover_trial_dirs`).

  ``trials``: one row per trial directory, in the order of `found`:

  - ``trial_id`` (int): 0, 1, ... (the key of ``evals``; references continue the count);
  - ``algorithm``, ``study``, ``workload``, ``framework``, ``trial`` (str: the folder
    names), ``path`` (str: the trial folder), ``trial_number`` (int: k of ``trial_<k>``);
  - from ``meta_data_0.json`` / ``flags_0.json`` (NaN or '' when absent): ``has_meta``
    (bool), ``max_allowed_runtime_sec``, ``step_hint``, ``max_global_steps`` (float),
    ``target_metric`` (str; the catalogue's default for the workload family when not
    logged), ``validation_target_value``, ``test_target_value`` (float), ``rng_seed``,
    ``eval_period_sec`` (float: workload.eval_period_time_sec);
  - ``diverged`` (bool: diverged.json, or a non-finite loss), ``diverged_step`` (float),
    ``diverged_reason`` (str);
  - from ``trial_complete.json``: ``complete`` (bool), ``ran_out_of_time`` (bool or None
    when not recorded), ``stop_reason`` (str), ``recorded_evals`` (int or None);
  - ``condition`` (str: 'time', 'step' or '' when not known), ``condition_source`` (str:
    'recorded', 'inferred' or '');
  - ``source`` (str: 'csv', 'log', or '' without evaluations), ``evaluations_file`` (str),
    ``n_evals`` (int), ``damaged_rows`` (int: rows dropped), ``damage`` (str: what is wrong
    with a trial that is still scored, '' for none);
  - ``status`` (str: 'ok', :data:`MISS_STATUS` or one of the damage statuses of
    :mod:`scoring_ext.findings`), ``status_detail`` (str: the audit's sentence).

  ``evals``: one row per evaluation of a trial with status 'ok', sorted by ``global_step``
  within a trial: ``trial_id`` (int), the five keys (str), ``eval_index`` (int: 0, 1, ...),
  ``global_step`` (float), ``time`` (float: accumulated_submission_time, seconds), then every
  ``train/<metric>`` and ``validation/<metric>`` column of the logs (float; NaN from a
  diverged trial's first non-finite loss on, and where a trial did not log the column).

  Raises BenchError when no trial has usable evaluations.
  """
  issues: list[Issue] = []
  run_logs = _RunLogs(issues)
  trial_rows, frames = [], []
  for trial_id, row in enumerate(found.itertuples(index=False)):
    info = read_trial_metadata(row.path, row.workload, issues)
    got = _trial_evaluations(row, info, run_logs, issues)
    if got.status == MISS_STATUS:
      issues.append(Issue('warning', row.path, f'{got.detail}; counted as a miss'))
    elif got.status != 'ok':
      issues.append(Issue('warning', row.path, f'damaged: {got.detail}; trial left out'))
    damage = []
    if got.damaged_rows:
      damage.append(f'{got.damaged_rows} damaged row(s) dropped')
    if got.disorder:
      damage.append(got.disorder)
    if not info['has_meta'] and got.status in SCORED_STATUSES:
      damage.append(f'no {META_FILE}')
      issues.append(
        Issue(
          'warning',
          row.path,
          f'no {META_FILE}: its budget, target metric and targets come from the other trials '
          'of the workload and the catalogue',
        )
      )
    n_evals = 0
    if got.status == 'ok':
      frame = got.frame
      _apply_divergence(frame, info, got.file, issues)
      n_evals = len(frame)
      issue = _nan_metric_issue(frame, info['target_metric'], got.file, info['diverged'])
      if issue:
        issues.append(issue)
      frame.insert(0, 'trial_id', trial_id)
      frames.append(frame)
    if os.path.exists(os.path.join(row.path, layout.DIVERGED)):
      issues.append(
        Issue(
          'warning',
          row.path,
          f'diverged (diverged.json) at step {_fmt_step(info["diverged_step"])}',
        )
      )
    trial_rows.append(
      {
        'trial_id': trial_id,
        **row._asdict(),
        **info,
        'trial_number': layout.trial_number(row.trial),
        'source': got.source,
        'evaluations_file': got.file,
        'damaged_rows': got.damaged_rows,
        'damage': '; '.join(damage),
        'status': got.status,
        'status_detail': got.detail,
        'n_evals': n_evals,
      }
    )
  trials = pd.DataFrame(trial_rows)
  if not frames:
    raise BenchError(
      f'no trial in {experiment_dir!r} has usable evaluations '
      f'(looked in {len(trials)} trial directories)'
    )
  evals = pd.concat(frames, ignore_index=True, sort=False)
  keys = trials.set_index('trial_id')[TRIAL_KEYS]
  for key in TRIAL_KEYS:
    evals.insert(1 + TRIAL_KEYS.index(key), key, keys[key].to_numpy()[evals['trial_id']])
  return Experiment(trials=trials, evals=evals, issues=tuple(issues))


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
  lacking = trials[
    ~trials['complete'] & ~trials['diverged'] & trials['status'].isin(SCORED_STATUSES)
  ]
  return [
    Issue('warning', row.path, 'no trial_complete.json: the run may not have finished')
    for row in lacking.itertuples()
  ]


def load_experiment(experiment_dir: str, algorithms=None, workloads=None) -> Experiment:
  """Load every trial of the tree (optionally only some algorithms/workloads).

  Raises BenchError for a missing/empty directory, an unknown name in
  `algorithms` or `workloads`, or when no trial has usable evaluations.
  """
  found = discover_trial_dirs(experiment_dir)
  found = _select(found, 'algorithm', algorithms, experiment_dir)
  found = _select(found, 'workload', workloads, experiment_dir)
  return load_trials(found, experiment_dir)


def _fmt_step(step: float) -> str:
  return 'unknown' if not np.isfinite(step) else str(int(step))


def _select(found: pd.DataFrame, column: str, wanted, experiment_dir: str) -> pd.DataFrame:
  if not wanted:
    return found
  available = set(found[column])
  unknown = [w for w in wanted if w not in available]
  if unknown:
    raise BenchError(
      f'unknown {column}(s) {", ".join(unknown)} in {experiment_dir!r}; '
      f'found: {", ".join(sorted(available))}'
    )
  return found[found[column].isin(list(wanted))].reset_index(drop=True)
