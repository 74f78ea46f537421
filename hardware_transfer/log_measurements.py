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
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional

import pandas as pd

from bench_core import layout
from bench_core.errors import BenchError
from hardware_transfer.arithmetic import Measurement


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
  try:
    rows = pd.read_csv(csv)
  except (OSError, pd.errors.EmptyDataError) as e:
    raise BenchError(f'{csv}: cannot read ({e})') from None
  missing = [c for c in ('global_step', 'accumulated_submission_time') if c not in rows.columns]
  if missing:
    raise BenchError(f'{csv}: lacks column(s) {", ".join(missing)}')
  rows = rows.dropna(subset=['global_step', 'accumulated_submission_time'])
  if rows.empty:
    raise BenchError(f'{csv}: no evaluation rows')
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


def pooled(measurements: List[Measurement]) -> Measurement:
  """Several trials as one measurement: total steps, total runtime."""
  return Measurement(
    steps=sum(m.steps for m in measurements), runtime_sec=sum(m.runtime_sec for m in measurements)
  )


def measured_from_logs(
  root: str | Path, skip_steps: int = 0, num_gpus: Optional[int] = None
) -> Dict[str, Dict[str, object]]:
  """workload -> ``{"steps", "runtime_sec", "num_gpus"}`` (the measured-file format), trials pooled.

  ``num_gpus`` overrides what the meta data records (default 1 when it records nothing).
  """
  out = {}
  for workload, trials in find_trials(root).items():
    m = pooled([measurement_from_trial(t, skip_steps) for t in trials])
    gpus = num_gpus or num_gpus_of_trial(trials[0]) or 1
    out[workload] = {'steps': m.steps, 'runtime_sec': m.runtime_sec, 'num_gpus': gpus}
  return out


def probes_from_logs(roots: List[str | Path], skip_steps: int = 0) -> Dict[str, List[Measurement]]:
  """workload -> one probe measurement per trial found under any of ``roots``."""
  out: Dict[str, List[Measurement]] = {}
  for root in roots:
    for workload, trials in find_trials(root).items():
      out.setdefault(workload, []).extend(measurement_from_trial(t, skip_steps) for t in trials)
  return out
