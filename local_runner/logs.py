"""Writing the AlgoPerf trial log layout, atomically.

``<experiment_dir>/<experiment_name>/<workload>_jax/trial_<k>/`` holds
``eval_measurements.csv`` (one row per evaluation), ``measurements.csv`` (every
logged scalar row, evaluations included), ``hparams.json``, ``meta_data_0.json``,
``flags_0.json``; this runner adds ``diverged.json`` for a trial stopped on a
non-finite loss and ``trial_complete.json`` once a trial has ended normally or
diverged (a trial without it was interrupted). CSV columns are sorted
alphabetically, as the official logger writes them. Every file is rewritten
through a temporary file and ``os.replace``, so a crash never leaves a torn file.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
from pathlib import Path
from typing import Any, Dict, List

import pandas as pd

TRIAL_COMPLETE_FILE = 'trial_complete.json'
DIVERGED_FILE = 'diverged.json'


def atomic_write_text(path: str | Path, text: str) -> None:
  path = Path(path)
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.name}.', suffix='.tmp')
  try:
    with os.fdopen(fd, 'w', encoding='utf-8') as f:
      f.write(text)
    os.replace(tmp, path)
  except BaseException:
    Path(tmp).unlink(missing_ok=True)
    raise


def write_json(path: str | Path, data: Dict[str, Any]) -> None:
  atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + '\n')


def _rows_to_csv(rows: List[Dict[str, Any]]) -> str:
  columns = sorted({k for row in rows for k in row})
  return pd.DataFrame(rows, columns=columns).to_csv(index=False)


def workload_properties(workload) -> Dict[str, Any]:
  """``workload.<name>`` for every public primitive attribute, as AlgoPerf's meta data has."""
  props = {}
  for key in dir(workload):
    if key.startswith('_') or key in ('param_shapes', 'model_params_types', 'splits'):
      continue
    try:
      value = getattr(workload, key)
    except Exception:  # a property that cannot be computed yet is simply not recorded
      continue
    if isinstance(value, (bool, int, float, str)):
      props[f'workload.{key}'] = value
  return props


def hardware_info() -> Dict[str, Any]:
  import jax

  devices = jax.devices()
  return {
    'hardware.platform': platform.platform(),
    'hardware.processor': platform.processor() or platform.machine(),
    'hardware.cpu_count': os.cpu_count(),
    'hardware.jax_backend': jax.default_backend(),
    'hardware.device_kind': devices[0].device_kind if devices else '',
    'hardware.device_count': len(devices),
    'software.python': platform.python_version(),
    'software.jax': jax.__version__,
  }


class TrialLogger:
  """The log files of one trial; ``append_scalar_metrics`` matches AlgoPerf's MetricLogger."""

  def __init__(self, trial_dir: str | Path):
    self.trial_dir = Path(trial_dir)
    self.trial_dir.mkdir(parents=True, exist_ok=True)
    self._rows: List[Dict[str, Any]] = []
    self._eval_rows: List[Dict[str, Any]] = []

  def write_setup(self, hyperparameters, meta_data: Dict[str, Any], flags: Dict[str, Any]) -> None:
    if hyperparameters is not None:
      write_json(self.trial_dir / 'hparams.json', dict(hyperparameters._asdict()))
    write_json(self.trial_dir / 'meta_data_0.json', meta_data)
    write_json(self.trial_dir / 'flags_0.json', flags)

  def append_scalar_metrics(self, metrics: Dict[str, Any], global_step: int,
                            preemption_count: int | None = 0, is_eval: bool = False) -> None:
    row = dict(metrics, global_step=int(global_step))
    if preemption_count is not None:
      row['preemption_count'] = preemption_count
    self._rows.append(row)
    atomic_write_text(self.trial_dir / 'measurements.csv', _rows_to_csv(self._rows))
    if is_eval:
      self._eval_rows.append(row)
      atomic_write_text(self.trial_dir / 'eval_measurements.csv', _rows_to_csv(self._eval_rows))

  def mark_diverged(self, global_step: int, reason: str) -> None:
    write_json(self.trial_dir / DIVERGED_FILE, {'global_step': int(global_step), 'reason': reason})

  def mark_complete(self, summary: Dict[str, Any]) -> None:
    write_json(self.trial_dir / TRIAL_COMPLETE_FILE, summary)


def is_trial_complete(trial_dir: str | Path) -> bool:
  return (Path(trial_dir) / TRIAL_COMPLETE_FILE).is_file()
