"""The local runner's trial logger: AlgoPerf's log files, in the layout of ``bench_core.layout``.

CSV columns are sorted alphabetically, as the official logger writes them; every file is
rewritten atomically (``layout.atomic_write_text``), so a crash never leaves a torn file.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any, Dict, List

import jax
import pandas as pd

from bench_core import file_formats, layout


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
      layout.write_json(self.trial_dir / layout.HPARAMS, dict(hyperparameters._asdict()))
    layout.write_json(self.trial_dir / layout.META_DATA, meta_data)
    layout.write_json(self.trial_dir / layout.FLAGS, flags)

  def append_scalar_metrics(
    self,
    metrics: Dict[str, Any],
    global_step: int,
    preemption_count: int | None = 0,
    is_eval: bool = False,
  ) -> None:
    row = dict(metrics, global_step=int(global_step))
    if preemption_count is not None:
      row['preemption_count'] = preemption_count
    self._rows.append(row)
    layout.atomic_write_text(self.trial_dir / layout.MEASUREMENTS, _rows_to_csv(self._rows))
    if is_eval:
      self._eval_rows.append(row)
      layout.atomic_write_text(
        self.trial_dir / layout.EVAL_MEASUREMENTS, _rows_to_csv(self._eval_rows)
      )

  def mark_diverged(self, global_step: int, reason: str) -> None:
    file_formats.mark_diverged(self.trial_dir, global_step, reason)

  def mark_complete(self, summary: Dict[str, Any]) -> None:
    """The completion record of the trial whose summary (``trial_loop``) is ``summary``."""
    file_formats.mark_complete(self.trial_dir, file_formats.TrialComplete('local', **summary))
