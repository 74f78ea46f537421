"""Measurements (steps, submission time) from AlgoPerf logs of a probe run.

Reads ``.../<workload>_<framework>/trial_<k>/eval_measurements.csv`` anywhere
under a directory (the layout both runners write) and ``meta_data_0.json``.

Rule, per trial, with ``skip_steps = N`` (default 0):

* N = 0: steps = ``global_step`` of the last evaluation, runtime =
  its ``accumulated_submission_time`` (everything from the first step on);
* N > 0: between evaluation A, the first at or after step N, and evaluation B,
  the last one: steps = ``B.global_step - A.global_step``, runtime =
  ``B.accumulated_submission_time - A.accumulated_submission_time``. (The first
  evaluation comes right after step 1, so N = 1 leaves out step 1 and the
  compilation it includes.)

A measurement is only as good as its file, so a damaged one is refused, naming the file and
the row (:mod:`bench_core.eval_csv`): a cut-off or malformed row, a NaN, negative, backward
or implausible step or time, a repeated step. The trials of a workload are pooled only when
they ran the same algorithm (``submission_path`` in ``flags_0.json``): a time per step of
nesterov and VeLO together is neither's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional

from bench_core import eval_csv, layout
from bench_core.errors import BenchError
from bench_core.file_formats import Measured, Measurement


def find_trials(root: str | Path) -> Dict[str, List[Path]]:
  """workload -> its trial directories (in trial order) under ``root``."""
  root = Path(root)
  if not root.is_dir():
    raise BenchError(f'{root}: log directory not found')
  found = layout.find_trials_anywhere(root)
  if not found:
    raise BenchError(
      f'{root}: no <workload>_<framework>/trial_<k>/eval_measurements.csv under this directory'
    )
  return found


def measurement_from_trial(trial_dir: str | Path, skip_steps: int = 0) -> Measurement:
  """The trial's steps and submission time, by the rule of this module's docstring."""
  csv = Path(trial_dir) / layout.EVAL_MEASUREMENTS
  rows, damaged = eval_csv.read_eval_csv(csv)
  if damaged:
    line, why = damaged[0]
    raise BenchError(f'{csv}:{line}: {why}; a damaged file cannot be measured')
  if rows.empty:
    raise BenchError(f'{csv}: no evaluation rows')
  missing = [c for c in ('global_step', 'accumulated_submission_time') if c not in rows.columns]
  if missing:
    raise BenchError(f'{csv}: lacks column(s) {", ".join(missing)}')
  problems = eval_csv.clock_problems(rows)
  if problems:
    raise BenchError(f'{csv}: {"; ".join(problems)}; a damaged file cannot be measured')
  rows = rows.sort_values('global_step', kind='stable')
  last = rows.iloc[-1]
  if skip_steps <= 0:
    start_step, start_time = 0, 0.0
  else:
    after = rows[rows['global_step'] >= skip_steps]
    if len(after) < 2 or after.iloc[0]['global_step'] == last['global_step']:
      raise BenchError(
        f'{csv}: with --skip_steps={skip_steps} at least two evaluations at different steps '
        f'at or after step {skip_steps} are needed; the evaluations are at steps '
        f'{[int(s) for s in rows["global_step"]]}: run the probe longer or skip fewer steps'
      )
    start_step, start_time = (
      int(after.iloc[0]['global_step']),
      float(after.iloc[0]['accumulated_submission_time']),
    )
  steps = int(last['global_step']) - start_step
  runtime = float(last['accumulated_submission_time']) - start_time
  if steps <= 0 or not runtime > 0:
    raise BenchError(
      f'{csv}: field global_step / accumulated_submission_time give '
      f'{steps} steps in {runtime} s; both must be positive'
    )
  return Measurement(steps=steps, runtime_sec=runtime)


def num_gpus_of_trial(trial_dir: str | Path) -> Optional[int]:
  """Accelerators recorded in ``meta_data_0.json``: ``gpu_count`` (official runner) or
  ``hardware.device_count`` (local runner); None if neither is there."""
  try:
    meta = layout.read_json_object(Path(trial_dir) / layout.META_DATA)
  except BenchError:
    return None
  for key in ('gpu_count', 'hardware.device_count'):
    if isinstance(meta.get(key), int) and meta[key] > 0:
      return meta[key]
  return None


def algorithm_of_trial(trial_dir: str | Path) -> str:
  """The algorithm a trial ran: the folder of ``submission_path`` in ``flags_0.json``
  (``submissions/nesterov/submission.py`` -> ``nesterov``), else the file's stem; '' when
  not recorded."""
  try:
    flags = layout.read_json_object(Path(trial_dir) / layout.FLAGS)
  except BenchError:
    return ''
  path = flags.get('submission_path')
  if not isinstance(path, str) or not path:
    return ''
  path = Path(path)
  return path.parent.name if path.name == 'submission.py' else path.stem


def check_one_algorithm(workload: str, trials: List[Path]) -> None:
  """Refuse to pool trials of different algorithms (BenchError naming each and its trials)."""
  by_algorithm: Dict[str, List[Path]] = {}
  for trial in trials:
    by_algorithm.setdefault(algorithm_of_trial(trial), []).append(trial)
  if len(by_algorithm) < 2:
    return
  listed = '; '.join(
    f'{name or "algorithm not recorded"}: {", ".join(str(t) for t in found)}'
    for name, found in sorted(by_algorithm.items())
  )
  raise BenchError(
    f'{workload}: the probe trials ran different algorithms ({listed}); their times per step '
    "cannot be pooled into one: point the directory at one algorithm's probes"
  )


def pooled(measurements: List[Measurement]) -> Measurement:
  """Several trials as one measurement: total steps, total runtime."""
  return Measurement(
    steps=sum(m.steps for m in measurements), runtime_sec=sum(m.runtime_sec for m in measurements)
  )


def measured_from_logs(
  root: str | Path, skip_steps: int = 0, num_gpus: Optional[int] = None
) -> Dict[str, Measured]:
  """workload -> its measurement (an entry of a measurements file), trials pooled.

  ``num_gpus`` overrides what the meta data records (default 1 when it records nothing).
  """
  out = {}
  for workload, trials in find_trials(root).items():
    check_one_algorithm(workload, trials)
    m = pooled([measurement_from_trial(t, skip_steps) for t in trials])
    gpus = num_gpus or num_gpus_of_trial(trials[0]) or 1
    out[workload] = Measured(m, gpus)
  return out


def probes_from_logs(roots: List[str | Path], skip_steps: int = 0) -> Dict[str, List[Measurement]]:
  """workload -> one probe measurement per trial found under any of ``roots``."""
  found: Dict[str, List[Path]] = {}
  for root in roots:
    for workload, trials in find_trials(root).items():
      found.setdefault(workload, []).extend(trials)
  out: Dict[str, List[Measurement]] = {}
  for workload, trials in found.items():
    check_one_algorithm(workload, trials)
    out[workload] = [measurement_from_trial(t, skip_steps) for t in trials]
  return out
