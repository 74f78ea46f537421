"""Reading and validating the JSON files of the transfer, and writing them back.

Formats (one object per file, keyed by workload name):

* reference (built in: ``reference_budgets.json``):
  ``{"criteo1tb": {"algorithm": "nadamw", "steps": 10667, "runtime_sec": 7703}, ...}``
  (other keys, such as the built-in table's ``source`` that says where each number comes
  from, are ignored)
* measured: ``{"criteo1tb": {"steps": 534, "runtime_sec": 401.2, "num_gpus": 8}, ...}``
* budgets (written by ``transfer``): ``{"criteo1tb": {"max_allowed_runtime_sec": 7703,
  "factor": 1.0, "local_time_per_step": ..., "reference_time_per_step": ..., "num_gpus": 8}}``
* probes: ``{"criteo1tb": [{"steps": 100, "runtime_sec": 75.0}, ...], ...}``
* actual steps: ``{"criteo1tb": 10321, ...}``
* step budgets (built in: ``step_budgets.json``): ``{"criteo1tb": 7000, ...}``, or an entry
  ``{"steps": 7000, "source": "..."}`` (the built-in file's form: the rule behind each number)

A variant (``wmt_post_ln``) without an entry of its own in a file takes its base workload's
(:func:`budget_for`, by ``catalogue.lookup_names``).

Budgets and step counts must also be plausible (``bench_core.arguments.TIME_BUDGET_SEC``,
``STEPS``): a budget of 1e30 s or a step count of 1e12 is refused.

Every error names the file and the field (``criteo1tb.steps``) and what was expected.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict, List

from bench_core import arguments, catalogue, layout
from bench_core.errors import BenchError
from hardware_transfer.arithmetic import Measurement

PACKAGE_DIR = Path(__file__).resolve().parent
BUILTIN_REFERENCE = PACKAGE_DIR / 'reference_budgets.json'
BUILTIN_STEP_BUDGETS = PACKAGE_DIR / 'step_budgets.json'


def read_json_object(path: str | Path) -> Dict[str, Any]:
  """The top-level JSON object of ``path``, keyed by workload name."""
  return layout.read_json_object(path, 'a JSON object keyed by workload name')


def write_json(path: str | Path, data: Any) -> None:
  """Write ``data`` as indented JSON, atomically (never a torn file)."""
  layout.write_json(path, data)


# ---- field checks ------------------------------------------------------------------


def positive_int(value: Any, path: str | Path, field: str) -> int:
  """``value`` as an int > 0 (an integral float such as 100.0 is accepted)."""
  if isinstance(value, bool) or not isinstance(value, (int, float)):
    raise BenchError(f'{path}: field {field!r} must be a positive integer, got {value!r}')
  if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
    raise BenchError(f'{path}: field {field!r} must be a positive integer, got {value!r}')
  if value <= 0:
    raise BenchError(f'{path}: field {field!r} must be a positive integer, got {value!r}')
  return int(value)


def positive_number(value: Any, path: str | Path, field: str) -> float | int:
  """``value`` as a finite number > 0."""
  if (
    isinstance(value, bool)
    or not isinstance(value, (int, float))
    or not math.isfinite(value)
    or value <= 0
  ):
    raise BenchError(f'{path}: field {field!r} must be a positive number of seconds, got {value!r}')
  return value


def _entry(data: Dict[str, Any], workload: str, path, required: List[str]) -> Dict[str, Any]:
  entry = data[workload]
  if not isinstance(entry, dict):
    raise BenchError(
      f'{path}: field {workload!r} must be an object with {", ".join(required)}, got {entry!r}'
    )
  missing = [k for k in required if k not in entry]
  if missing:
    raise BenchError(f'{path}: field {workload!r} lacks {", ".join(repr(k) for k in missing)}')
  return entry


def _measurement(entry: Dict[str, Any], path, field: str) -> Measurement:
  steps = positive_int(entry['steps'], path, f'{field}.steps')
  runtime_sec = positive_number(entry['runtime_sec'], path, f'{field}.runtime_sec')
  return Measurement(steps=steps, runtime_sec=runtime_sec)


def _nonempty(data: Dict[str, Any], path, what: str) -> Dict[str, Any]:
  if not data:
    raise BenchError(f'{path}: no workloads in the {what} file')
  return data


# ---- the files -----------------------------------------------------------------------


def load_reference(path: str | Path | None = None) -> Dict[str, Dict[str, Any]]:
  """workload -> ``{"algorithm": str, "measurement": Measurement}`` (built-in table if no path)."""
  path = BUILTIN_REFERENCE if path is None else Path(path)
  data = _nonempty(read_json_object(path), path, 'reference')
  out = {}
  for workload in data:
    entry = _entry(data, workload, path, ['algorithm', 'steps', 'runtime_sec'])
    if not isinstance(entry['algorithm'], str) or not entry['algorithm']:
      raise BenchError(f'{path}: field {workload + ".algorithm"!r} must be a non-empty string')
    out[workload] = {
      'algorithm': entry['algorithm'],
      'measurement': _measurement(entry, path, workload),
    }
  return out


def load_measured(path: str | Path) -> Dict[str, Dict[str, Any]]:
  """workload -> ``{"measurement": Measurement, "num_gpus": int}``."""
  data = _nonempty(read_json_object(path), path, 'measured')
  out = {}
  for workload in data:
    entry = _entry(data, workload, path, ['steps', 'runtime_sec', 'num_gpus'])
    out[workload] = {
      'measurement': _measurement(entry, path, workload),
      'num_gpus': positive_int(entry['num_gpus'], path, f'{workload}.num_gpus'),
    }
  return out


def load_budgets(path: str | Path) -> Dict[str, int]:
  """workload -> ``max_allowed_runtime_sec`` from a budgets file written by ``transfer``."""
  data = _nonempty(read_json_object(path), path, 'budgets')
  out = {}
  for w in data:
    field = f'{w}.max_allowed_runtime_sec'
    entry = _entry(data, w, path, ['max_allowed_runtime_sec'])
    budget = positive_int(entry['max_allowed_runtime_sec'], path, field)
    out[w] = arguments.check_plausible(
      budget, f'{path}: field {field!r}', arguments.TIME_BUDGET_SEC
    )
  return out


def budget_for(budgets: Dict[str, Any], workload: str, path: str | Path, what: str = 'budget'):
  """The entry of ``workload`` (a variant's own, else its base's; ``catalogue.lookup_names``),
  or an error naming the file and the workloads it has."""
  for name in catalogue.lookup_names(workload):
    if name in budgets:
      return budgets[name]
  tried = ' or '.join(repr(n) for n in catalogue.lookup_names(workload))
  raise BenchError(
    f'{path}: no {what} for workload {tried} (the file has: {", ".join(sorted(budgets)) or "none"})'
  )


def load_probes(path: str | Path) -> Dict[str, List[Measurement]]:
  """workload -> the probe measurements (a non-empty list of ``{"steps", "runtime_sec"}``)."""
  data = _nonempty(read_json_object(path), path, 'probes')
  out = {}
  for workload, probes in data.items():
    if isinstance(probes, dict):
      probes = [probes]
    if not isinstance(probes, list) or not probes:
      raise BenchError(
        f'{path}: field {workload!r} must be a non-empty list of '
        f'{{"steps", "runtime_sec"}} objects, got {probes!r}'
      )
    measurements = []
    for i, probe in enumerate(probes):
      field = f'{workload}[{i}]'
      if not isinstance(probe, dict) or not {'steps', 'runtime_sec'} <= set(probe):
        raise BenchError(
          f'{path}: field {field!r} must be an object with "steps" and "runtime_sec", got {probe!r}'
        )
      measurements.append(_measurement(probe, path, field))
    out[workload] = measurements
  return out


def load_step_counts(path: str | Path | None, what: str) -> Dict[str, int]:
  """workload -> a positive step count (actual steps of a full trial, or step budgets); an
  entry is the count or ``{"steps": count, ...}``."""
  if path is None:
    path = BUILTIN_STEP_BUDGETS
  data = _nonempty(read_json_object(path), path, what)
  return {
    w: arguments.check_plausible(
      positive_int(v['steps'], path, f'{w}.steps')
      if isinstance(v, dict) and 'steps' in v
      else positive_int(v, path, w),
      f'{path}: field {w!r}',
      arguments.STEPS,
    )
    for w, v in data.items()
  }


def merge_into_json(path: str | Path, updates: Dict[str, Any]) -> Dict[str, Any]:
  """Set ``updates``' keys in the JSON object at ``path`` (created if absent), keep the others."""
  path = Path(path)
  data = read_json_object(path) if path.exists() else {}
  data.update(updates)
  write_json(path, data)
  return data
