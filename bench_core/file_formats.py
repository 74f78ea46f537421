"""The project's own JSON files: one schema per kind, each with a typed load and dump.

Every file the project writes (other than AlgoPerf's own: search spaces, ``hparams.json``,
``meta_data_0.json``, ``flags_0.json``) is one of these kinds, and every reader and writer
goes through the ``load_*`` / ``dump_*`` pair of its kind here:

==================  =========================================================================
kind                the file, and its entry per workload
==================  =========================================================================
time_budgets        ``out/budgets.json`` (``hardware_transfer.transfer``, ``--budgets``):
                    ``{"max_allowed_runtime_sec": s, "factor": f, "local_time_per_step": s,
                    "reference_time_per_step": s, "num_gpus": n}``, or the seconds alone
step_budgets        ``hardware_transfer/step_budgets.json``, ``--step_budgets``: the steps,
                    or ``{"steps": n, "source": "the rule behind n"}``
condition_budgets   the scorer's ``--budgets`` with both conditions:
                    ``{"time": {<time_budgets entries>}, "step": {<step_budgets entries>}}``
reference_budgets   ``hardware_transfer/reference_budgets.json``: ``{"algorithm": name,
                    "steps": n, "runtime_sec": s}`` (+ ``source`` / ``measured_on``)
measurements        ``measured.json`` (``study.probe``): ``{"steps", "runtime_sec", "num_gpus"}``
velo_probes         ``probes.json`` (``study.probe --as_probe``): ``[{"steps", "runtime_sec"}, ...]``
actual_steps        ``--actual_steps``: the steps a full first trial completed (as step_budgets)
hardware            ``--reference_hardware``: ``{"local_time_per_step": s,
                    "reference_time_per_step": s}``; a time_budgets file that has both fields
                    (the transfer's output) is a hardware file too
trial_complete      ``trial_complete.json``, the completion record of one trial (below)
diverged            ``diverged.json``: ``{"global_step", "reason"}``, the trial diverged
run_config          ``<run folder>_run_config.json`` (``layout.run_config_file``): one trial
                    as a runner runs it, :class:`TrialConfig` (``bench_core.run_config``)
==================  =========================================================================

**Kind.** Every dump writes ``"kind": "<kind>"`` at the top of the object. A file without it
(written by an older version, or by hand) is recognised by its shape: per-workload objects
with ``algorithm`` are a reference table, with ``max_allowed_runtime_sec`` time budgets, with
``local_time_per_step`` a hardware file, with ``num_gpus`` measurements, lists (or objects of
``steps`` and ``runtime_sec``) probes, objects of ``steps`` alone step counts, top-level
``time``/``step`` sections condition budgets, top-level ``runner``/``num_evals``/``stop_reason``
a completion record. A file whose kind (stated or recognised) is not the one expected is
refused with a :class:`BenchError` naming the file, the kind it is and the kind expected; a
file of bare numbers per workload is taken as the kind expected (it is the older form of
time budgets, step budgets and actual steps alike).

**Fields.** Budgets and step counts must be plausible (``bench_core.arguments.TIME_BUDGET_SEC``,
``STEPS``), hardware factors within ``arguments.PLAUSIBLE_FACTOR``. Every error names the
file, the field (``criteo1tb.steps``) and what was expected. Other keys of an entry are
ignored. A variant (``wmt_post_ln``) without an entry of its own takes its base workload's
(:func:`entry_for`, by ``catalogue.lookup_names``).

**The completion record** ``trial_complete.json`` says a trial ended (normally or diverged):
the local runner writes it at the end of each trial, the study layer for an official trial
once ``submission_runner`` returned successfully; a trial folder without it was interrupted
and is rerun from scratch. Its fields (:class:`TrialComplete`; all but ``runner`` absent from
some records of older versions): ``num_evals``, ``global_step``, ``stop_reason`` and
``is_time_remaining`` (local runner), ``condition`` (``time`` or ``step``; see
:func:`trial_condition` for records without it), and the budget the trial ran under
(:data:`BUDGET_FIELDS`), so that a request for the same trial under another budget, prompt or
search space is named (:func:`request_mismatches`) rather than taken as already done.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Dict, FrozenSet, List, Mapping, Optional, Tuple, Union

from bench_core import arguments, catalogue, layout
from bench_core.errors import BenchError

PathLike = Union[str, Path]

#: The top-level field that states a file's kind.
KIND_FIELD = 'kind'

TIME_BUDGETS = 'time_budgets'
STEP_BUDGETS = 'step_budgets'
CONDITION_BUDGETS = 'condition_budgets'
REFERENCE_BUDGETS = 'reference_budgets'
MEASUREMENTS = 'measurements'
VELO_PROBES = 'velo_probes'
ACTUAL_STEPS = 'actual_steps'
HARDWARE = 'hardware'
TRIAL_COMPLETE = 'trial_complete'
DIVERGED = 'diverged'
RUN_CONFIG = 'run_config'

#: Each kind as an error message names it.
KINDS = {
  TIME_BUDGETS: 'time budgets file (workload -> seconds or {"max_allowed_runtime_sec": ...}, '
  'as hardware_transfer.transfer writes)',
  STEP_BUDGETS: 'step budgets file (workload -> steps or {"steps": ...})',
  CONDITION_BUDGETS: 'budgets file of both conditions ({"time": {...}, "step": {...}})',
  REFERENCE_BUDGETS: 'reference budgets table (workload -> {"algorithm", "steps", "runtime_sec"})',
  MEASUREMENTS: 'measurements file (workload -> {"steps", "runtime_sec", "num_gpus"})',
  VELO_PROBES: 'VeLO probes file (workload -> [{"steps", "runtime_sec"}, ...])',
  ACTUAL_STEPS: 'actual steps file (workload -> steps a full trial completed)',
  HARDWARE: 'hardware file (workload -> {"local_time_per_step", "reference_time_per_step"})',
  TRIAL_COMPLETE: 'trial completion record (trial_complete.json)',
  DIVERGED: 'divergence record (diverged.json)',
  RUN_CONFIG: 'run configuration of a trial (<run folder>_run_config.json)',
}

_CONDITIONS = catalogue.CONDITIONS
_RECORD_KEYS = ('runner', 'num_evals', 'stop_reason')


# ---- the kind of a file ------------------------------------------------------------------------


def _shape_kind(data: Mapping[str, Any]) -> Optional[str]:
  """The kind an unmarked file's shape shows (module docstring), or None for bare numbers."""
  if any(k in data for k in _RECORD_KEYS):
    return TRIAL_COMPLETE
  sections = [k for k in _CONDITIONS if k in data]
  if sections and all(isinstance(data[k], dict) for k in sections):
    return CONDITION_BUDGETS
  keys = set()
  for value in data.values():
    if isinstance(value, list):
      return VELO_PROBES
    if isinstance(value, dict):
      keys |= set(value)
  for key, kind in (
    ('algorithm', REFERENCE_BUDGETS),
    ('max_allowed_runtime_sec', TIME_BUDGETS),
    ('local_time_per_step', HARDWARE),
    ('reference_time_per_step', HARDWARE),
    ('num_gpus', MEASUREMENTS),
    ('runtime_sec', VELO_PROBES),
    ('steps', STEP_BUDGETS),
  ):
    if key in keys:
      return kind
  return None


def read_kind(path: PathLike, expected: str, also: Tuple[str, ...] = ()) -> Dict[str, Any]:
  """The JSON object of ``path`` without its kind field, once its kind (stated, or shown by
  its shape) is ``expected`` or one of ``also``; a :class:`BenchError` naming the file, its
  kind and ``expected`` otherwise."""
  accepted = (expected, *also)
  data = layout.read_json_object(path, f'a JSON object (a {KINDS[expected]})')
  if KIND_FIELD in data:
    stated = data.pop(KIND_FIELD)
    if stated not in KINDS:
      raise BenchError(
        f'{path}: field {KIND_FIELD!r} is {stated!r}, not a known kind; expected a '
        f'{KINDS[expected]}'
      )
    found = stated
  else:
    found = _shape_kind(data)
    if found == STEP_BUDGETS and ACTUAL_STEPS in accepted:
      found = ACTUAL_STEPS
  if found is not None and found not in accepted:
    raise BenchError(f'{path}: this is a {KINDS[found]}; expected a {KINDS[expected]}')
  data[KIND_FIELD] = found or expected
  return data


def _dump(path: PathLike, kind: str, data: Mapping[str, Any]) -> None:
  layout.write_json(path, {KIND_FIELD: kind, **data})


def _entries(data: Dict[str, Any], path: PathLike) -> Dict[str, Any]:
  """The per-workload entries of a :func:`read_kind` object (at least one)."""
  kind = data.pop(KIND_FIELD)
  if not data:
    raise BenchError(f'{path}: no workloads in the {KINDS[kind]}')
  return data


# ---- field checks ------------------------------------------------------------------------------


def positive_int(value: Any, path: PathLike, field: str) -> int:
  """``value`` as an int > 0 (an integral float such as 100.0 is accepted)."""
  if (
    isinstance(value, bool)
    or not isinstance(value, (int, float))
    or (isinstance(value, float) and not (math.isfinite(value) and value.is_integer()))
    or value <= 0
  ):
    raise BenchError(f'{path}: field {field!r} must be a positive integer, got {value!r}')
  return int(value)


def positive_number(value: Any, path: PathLike, field: str) -> float | int:
  """``value`` as a finite number > 0 (an int stays an int)."""
  if (
    isinstance(value, bool)
    or not isinstance(value, (int, float))
    or not math.isfinite(value)
    or value <= 0
  ):
    raise BenchError(f'{path}: field {field!r} must be a positive number of seconds, got {value!r}')
  return value


def _seconds_budget(value: Any, path: PathLike, field: str) -> float | int:
  """A plausible time budget (``arguments.TIME_BUDGET_SEC``); an integral float as an int."""
  value = positive_number(value, path, field)
  if isinstance(value, float) and value.is_integer():
    value = int(value)
  return arguments.check_plausible(value, f'{path}: field {field!r}', arguments.TIME_BUDGET_SEC)


def _step_count(value: Any, path: PathLike, field: str) -> int:
  return arguments.check_plausible(
    positive_int(value, path, field), f'{path}: field {field!r}', arguments.STEPS
  )


def _optional(entry: Mapping[str, Any], key: str, check, path: PathLike, field: str):
  value = entry.get(key)
  return None if value is None else check(value, path, f'{field}.{key}')


def _text(value: Any, path: PathLike, field: str) -> str:
  if not isinstance(value, str):
    raise BenchError(f'{path}: field {field!r} must be a string, got {value!r}')
  return value


def _object(entry: Any, path: PathLike, field: str, required: List[str]) -> Dict[str, Any]:
  """``entry`` as an object holding ``required``."""
  if not isinstance(entry, dict):
    raise BenchError(
      f'{path}: field {field!r} must be an object with {", ".join(required)}, got {entry!r}'
    )
  missing = [k for k in required if k not in entry]
  if missing:
    raise BenchError(f'{path}: field {field!r} lacks {", ".join(repr(k) for k in missing)}')
  return entry


def _drop_none(entry: Mapping[str, Any]) -> Dict[str, Any]:
  return {k: v for k, v in entry.items() if v is not None}


def entry_for(entries: Mapping[str, Any], workload: str, path: PathLike, what: str = 'budget'):
  """The entry of ``workload`` (a variant's own, else its base's; ``catalogue.lookup_names``),
  or an error naming the file and the workloads it has."""
  for name in catalogue.lookup_names(workload):
    if name in entries:
      return entries[name]
  tried = ' or '.join(repr(n) for n in catalogue.lookup_names(workload))
  raise BenchError(
    f'{path}: no {what} for workload {tried} (the file has: {", ".join(sorted(entries)) or "none"})'
  )


# ---- measurements ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Measurement:
  """``steps`` training steps took ``runtime_sec`` seconds of submission time."""

  steps: int
  runtime_sec: float

  def __post_init__(self):
    if self.steps <= 0 or not self.runtime_sec > 0 or not math.isfinite(self.runtime_sec):
      raise ValueError(f'a measurement needs steps > 0 and a finite runtime_sec > 0, got {self}')


def _measurement(entry: Mapping[str, Any], path: PathLike, field: str) -> Measurement:
  return Measurement(
    steps=positive_int(entry['steps'], path, f'{field}.steps'),
    runtime_sec=positive_number(entry['runtime_sec'], path, f'{field}.runtime_sec'),
  )


def _measurement_json(m: Measurement) -> Dict[str, Any]:
  return {'steps': m.steps, 'runtime_sec': m.runtime_sec}


@dataclasses.dataclass(frozen=True)
class Measured:
  """One workload of a measurements file: a short run on this hardware."""

  measurement: Measurement
  num_gpus: int


def load_measurements(path: PathLike) -> Dict[str, Measured]:
  """workload -> :class:`Measured` of a measurements file."""
  out = {}
  for w, entry in _entries(read_kind(path, MEASUREMENTS), path).items():
    entry = _object(entry, path, w, ['steps', 'runtime_sec', 'num_gpus'])
    out[w] = Measured(
      _measurement(entry, path, w), positive_int(entry['num_gpus'], path, f'{w}.num_gpus')
    )
  return out


def dump_measurements(path: PathLike, measured: Mapping[str, Measured]) -> None:
  _dump(
    path,
    MEASUREMENTS,
    {w: {**_measurement_json(m.measurement), 'num_gpus': m.num_gpus} for w, m in measured.items()},
  )


def load_velo_probes(path: PathLike) -> Dict[str, List[Measurement]]:
  """workload -> its probes (a non-empty list; a single object is a list of one)."""
  out = {}
  for w, probes in _entries(read_kind(path, VELO_PROBES), path).items():
    if isinstance(probes, dict):
      probes = [probes]
    if not isinstance(probes, list) or not probes:
      raise BenchError(
        f'{path}: field {w!r} must be a non-empty list of '
        f'{{"steps", "runtime_sec"}} objects, got {probes!r}'
      )
    out[w] = [
      _measurement(_object(p, path, f'{w}[{i}]', ['steps', 'runtime_sec']), path, f'{w}[{i}]')
      for i, p in enumerate(probes)
    ]
  return out


def dump_velo_probes(path: PathLike, probes: Mapping[str, List[Measurement]]) -> None:
  _dump(path, VELO_PROBES, {w: [_measurement_json(m) for m in ms] for w, ms in probes.items()})


# ---- the reference table -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ReferenceBudget:
  """One workload of the reference table: its budget on the reference hardware, the algorithm
  that set its target, and where the numbers come from."""

  algorithm: str
  measurement: Measurement
  source: Optional[str] = None
  measured_on: Optional[str] = None


def load_reference_budgets(path: PathLike) -> Dict[str, ReferenceBudget]:
  """workload -> :class:`ReferenceBudget` of a reference table."""
  out = {}
  for w, entry in _entries(read_kind(path, REFERENCE_BUDGETS), path).items():
    entry = _object(entry, path, w, ['algorithm', 'steps', 'runtime_sec'])
    if not isinstance(entry['algorithm'], str) or not entry['algorithm']:
      raise BenchError(
        f'{path}: field {w + ".algorithm"!r} must be a non-empty string, got {entry["algorithm"]!r}'
      )
    out[w] = ReferenceBudget(
      entry['algorithm'],
      _measurement(entry, path, w),
      _optional(entry, 'source', _text, path, w),
      _optional(entry, 'measured_on', _text, path, w),
    )
  return out


def dump_reference_budgets(path: PathLike, table: Mapping[str, ReferenceBudget]) -> None:
  _dump(
    path,
    REFERENCE_BUDGETS,
    {
      w: _drop_none(
        {
          'algorithm': r.algorithm,
          **_measurement_json(r.measurement),
          'source': r.source,
          'measured_on': r.measured_on,
        }
      )
      for w, r in table.items()
    },
  )


# ---- time budgets and hardware files -----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TimeBudget:
  """One workload of a time budgets file: the budget, and (from the transfer) how it came."""

  max_allowed_runtime_sec: float | int
  factor: Optional[float] = None
  local_time_per_step: Optional[float] = None
  reference_time_per_step: Optional[float] = None
  num_gpus: Optional[int] = None


def _time_budgets(
  entries: Mapping[str, Any], path: PathLike, prefix: str = ''
) -> Dict[str, TimeBudget]:
  out = {}
  for w, entry in entries.items():
    field = prefix + w
    if not isinstance(entry, dict):
      out[w] = TimeBudget(_seconds_budget(entry, path, field))
      continue
    entry = _object(entry, path, field, ['max_allowed_runtime_sec'])
    out[w] = TimeBudget(
      _seconds_budget(entry['max_allowed_runtime_sec'], path, f'{field}.max_allowed_runtime_sec'),
      _optional(entry, 'factor', positive_number, path, field),
      _optional(entry, 'local_time_per_step', positive_number, path, field),
      _optional(entry, 'reference_time_per_step', positive_number, path, field),
      _optional(entry, 'num_gpus', positive_int, path, field),
    )
  return out


def load_time_budgets(path: PathLike) -> Dict[str, TimeBudget]:
  """workload -> :class:`TimeBudget` of a time budgets file."""
  return _time_budgets(_entries(read_kind(path, TIME_BUDGETS), path), path)


def _entries_json(entries: Mapping[str, Any]) -> Dict[str, Any]:
  """workload -> the JSON object of its typed entry, unset fields left out."""
  return {w: _drop_none(dataclasses.asdict(e)) for w, e in entries.items()}


def dump_time_budgets(path: PathLike, budgets: Mapping[str, TimeBudget]) -> None:
  _dump(path, TIME_BUDGETS, _entries_json(budgets))


@dataclasses.dataclass(frozen=True)
class HardwareEntry:
  """One workload of a hardware file: its time per step here and on the reference hardware."""

  local_time_per_step: float
  reference_time_per_step: float

  @property
  def factor(self) -> float:
    """``local_time_per_step / reference_time_per_step``."""
    return self.local_time_per_step / self.reference_time_per_step


def load_hardware(path: PathLike) -> Dict[str, HardwareEntry]:
  """workload -> :class:`HardwareEntry` of a hardware file (or of the transfer's time budgets);
  a factor outside ``arguments.PLAUSIBLE_FACTOR`` is refused, naming the workload."""
  out = {}
  for w, entry in _entries(read_kind(path, HARDWARE, also=(TIME_BUDGETS,)), path).items():
    values = [
      positive_number(entry.get(k) if isinstance(entry, dict) else None, path, f'{w}.{k}')
      for k in ('local_time_per_step', 'reference_time_per_step')
    ]
    out[w] = HardwareEntry(float(values[0]), float(values[1]))
    if arguments.implausible_factor(out[w].factor):
      low, high = arguments.PLAUSIBLE_FACTOR
      raise BenchError(
        f'{path}: workload {w!r}: local_time_per_step / reference_time_per_step = '
        f'{values[0]:g} / {values[1]:g} = {out[w].factor:.3g}, outside the plausible '
        f'range [{low:g}, {high:g}] of a hardware factor: check the measurement'
      )
  return out


def dump_hardware(path: PathLike, hardware: Mapping[str, HardwareEntry]) -> None:
  _dump(path, HARDWARE, {w: dataclasses.asdict(h) for w, h in hardware.items()})


# ---- step budgets and actual steps -------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class StepBudget:
  """One workload of a step budgets file: the steps, and the rule behind them."""

  steps: int
  source: Optional[str] = None


def _step_budgets(
  entries: Mapping[str, Any], path: PathLike, prefix: str = ''
) -> Dict[str, StepBudget]:
  out = {}
  for w, entry in entries.items():
    field = prefix + w
    if isinstance(entry, dict):
      entry = _object(entry, path, field, ['steps'])
      out[w] = StepBudget(
        _step_count(entry['steps'], path, f'{field}.steps'),
        _optional(entry, 'source', _text, path, field),
      )
    else:
      out[w] = StepBudget(_step_count(entry, path, field))
  return out


def load_step_budgets(path: PathLike) -> Dict[str, StepBudget]:
  """workload -> :class:`StepBudget` of a step budgets file."""
  return _step_budgets(_entries(read_kind(path, STEP_BUDGETS), path), path)


def dump_step_budgets(path: PathLike, budgets: Mapping[str, StepBudget]) -> None:
  _dump(path, STEP_BUDGETS, _entries_json(budgets))


def load_actual_steps(path: PathLike) -> Dict[str, int]:
  """workload -> the steps a full first trial completed."""
  entries = _entries(read_kind(path, ACTUAL_STEPS), path)
  return {w: b.steps for w, b in _step_budgets(entries, path).items()}


def dump_actual_steps(path: PathLike, steps: Mapping[str, int]) -> None:
  _dump(path, ACTUAL_STEPS, {w: int(s) for w, s in steps.items()})


# ---- the scorer's budgets: one condition's, or both ---------------------------------------------


@dataclasses.dataclass(frozen=True)
class ConditionBudgets:
  """The budgets of both conditions in one file (either section may be empty)."""

  time: Dict[str, TimeBudget]
  step: Dict[str, StepBudget]


def _condition_budgets(data: Dict[str, Any], path: PathLike) -> ConditionBudgets:
  """The two sections of a condition budgets file's object (its kind field removed)."""
  unknown = sorted(set(data) - set(_CONDITIONS))
  if unknown:
    raise BenchError(f'{path}: fields {unknown} are not conditions; expected "time" and "step"')
  sections = {}
  for condition in _CONDITIONS:
    section = data.get(condition, {})
    if not isinstance(section, dict):
      raise BenchError(f'{path}: field {condition!r} must be an object, got {section!r}')
    sections[condition] = section
  if not any(sections.values()):
    raise BenchError(f'{path}: no workloads in the {KINDS[CONDITION_BUDGETS]}')
  return ConditionBudgets(
    _time_budgets(sections['time'], path, 'time.'), _step_budgets(sections['step'], path, 'step.')
  )


def load_condition_budgets(path: PathLike) -> ConditionBudgets:
  """Both sections of a condition budgets file."""
  data = read_kind(path, CONDITION_BUDGETS)
  data.pop(KIND_FIELD)
  return _condition_budgets(data, path)


def dump_condition_budgets(path: PathLike, budgets: ConditionBudgets) -> None:
  _dump(
    path,
    CONDITION_BUDGETS,
    {'time': _entries_json(budgets.time), 'step': _entries_json(budgets.step)},
  )


def load_budgets_of_condition(path: PathLike, condition: str) -> Dict[str, float]:
  """workload -> the budget under ``condition`` (seconds under time, steps under step) from a
  time budgets file (time), a step budgets file (step) or a condition budgets file (either)."""
  catalogue.check_condition(condition)
  own = TIME_BUDGETS if condition == 'time' else STEP_BUDGETS
  data = read_kind(path, own, also=(CONDITION_BUDGETS,))
  if data[KIND_FIELD] == CONDITION_BUDGETS:
    data.pop(KIND_FIELD)
    both = _condition_budgets(data, path)
    time, step = both.time, both.step
  elif condition == 'time':
    time, step = _time_budgets(_entries(data, path), path), {}
  else:
    time, step = {}, _step_budgets(_entries(data, path), path)
  if condition == 'time':
    return {w: float(b.max_allowed_runtime_sec) for w, b in time.items()}
  return {w: float(b.steps) for w, b in step.items()}


# ---- the completion and divergence records ------------------------------------------------------

#: The budget fields of the completion record, compared with a new request for the trial.
BUDGET_FIELDS = ('max_allowed_runtime_sec', 'max_global_steps')


@dataclasses.dataclass(frozen=True)
class TrialComplete:
  """The completion record of one trial (module docstring); None: not recorded."""

  runner: str  # 'local' or 'official'
  num_evals: Optional[int] = None
  global_step: Optional[int] = None
  score: Optional[float] = None  # accumulated_submission_time at the end
  diverged: Optional[bool] = None
  validation_goal_reached: Optional[bool] = None
  test_goal_reached: Optional[bool] = None
  training_complete: Optional[bool] = None
  is_time_remaining: Optional[bool] = None
  stop_reason: Optional[str] = None
  condition: Optional[str] = None
  evaluation_rule: Optional[str] = None
  max_allowed_runtime_sec: Optional[float] = None
  max_global_steps: Optional[int] = None
  no_evaluation_reason: Optional[str] = None
  #: The fields the file holds (null included), set by :func:`load_trial_complete`: a field
  #: of an older record is absent, which is not the same as recorded as null.
  recorded: FrozenSet[str] = dataclasses.field(default=frozenset(), compare=False, repr=False)


def _record_field(name: str, value: Any, path: PathLike):
  """``value`` checked against the type of :class:`TrialComplete`'s field ``name``."""
  if value is None:
    return None
  kind = {
    'num_evals': int,
    'global_step': int,
    'max_global_steps': int,
    'score': float,
    'max_allowed_runtime_sec': float,
    'diverged': bool,
    'validation_goal_reached': bool,
    'test_goal_reached': bool,
    'training_complete': bool,
    'is_time_remaining': bool,
  }.get(name, str)
  ok = (
    isinstance(value, bool)
    if kind is bool
    else isinstance(value, str)
    if kind is str
    else not isinstance(value, bool)
    and (isinstance(value, int) if kind is int else isinstance(value, (int, float)))
  )
  if not ok or (name == 'condition' and value not in _CONDITIONS):
    expected = {int: 'an integer', float: 'a number', bool: 'true or false', str: 'a string'}[kind]
    if name == 'condition':
      expected = 'one of "time", "step"'
    raise BenchError(f'{path}: field {name!r} must be {expected} or null, got {value!r}')
  return value


def load_trial_complete(path: PathLike) -> TrialComplete:
  """The completion record at ``path`` (older records: missing fields are None)."""
  data = read_kind(path, TRIAL_COMPLETE)
  data.pop(KIND_FIELD)
  fields = {f.name for f in dataclasses.fields(TrialComplete)} - {'recorded'}
  values = {k: _record_field(k, v, path) for k, v in data.items() if k in fields}
  values.setdefault('runner', '')
  return TrialComplete(**values, recorded=frozenset(data) & fields)


def dump_trial_complete(path: PathLike, record: TrialComplete) -> None:
  """Write the completion record (every field, None as null)."""
  data = dataclasses.asdict(record)
  data.pop('recorded')
  _dump(path, TRIAL_COMPLETE, data)


def mark_complete(trial_dir: PathLike, record: TrialComplete) -> None:
  """:func:`dump_trial_complete` into the trial folder."""
  dump_trial_complete(Path(trial_dir) / layout.TRIAL_COMPLETE, record)


def trial_condition(
  record: Optional[TrialComplete], max_global_steps, max_allowed_runtime_sec
) -> tuple[str | None, str]:
  """The condition a trial ran under and how it is known, from its completion record (None:
  none) and the budgets its flags_0.json / meta_data_0.json give: ``(condition, 'recorded')``
  from the record's ``condition``; without it (older trees), ``('step', 'inferred')`` when the
  run had a step budget and no time limit (:func:`bench_core.catalogue.condition_of_run`);
  otherwise ``(None, '')``: a time budget alone does not tell, since any tree can be scored
  under step control against its ``step_hint``."""
  if record is not None and record.condition in catalogue.CONDITIONS:
    return record.condition, 'recorded'
  if catalogue.condition_of_run(max_global_steps, max_allowed_runtime_sec) == 'step':
    return 'step', 'inferred'
  return None, ''


def _same(a: Any, b: Any) -> bool:
  if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
    return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=0.0)
  return a == b


def request_mismatches(
  trial_dir: PathLike, budget: Dict[str, Any], hyperparameters: Optional[Dict[str, Any]]
) -> List[str]:
  """How a finished trial differs from a request: one line per budget field of ``budget``
  (None: not compared) that its completion record states otherwise, and per hyperparameter
  that ``hparams.json`` gives otherwise. Fields a record lacks are not compared."""
  trial_dir = Path(trial_dir)
  record = load_trial_complete(trial_dir / layout.TRIAL_COMPLETE)
  out = []
  for field in BUDGET_FIELDS:
    wanted, ran = budget.get(field), getattr(record, field)
    if wanted is not None and field in record.recorded and not _same(ran, wanted):
      out.append(f'{field}: ran with {ran}, requested {wanted}')
  hparams_file = trial_dir / layout.HPARAMS
  if hyperparameters is not None and hparams_file.is_file():
    ran = layout.read_json_object(hparams_file, 'the hyperparameters')
    for name in sorted(set(ran) | set(hyperparameters)):
      if (
        name not in ran
        or name not in hyperparameters
        or not _same(ran[name], hyperparameters[name])
      ):
        out.append(
          f'hyperparameter {name}: ran with {ran.get(name, "(none)")}, '
          f'requested {hyperparameters.get(name, "(none)")}'
        )
  return out


@dataclasses.dataclass(frozen=True)
class Diverged:
  """The divergence record: the trial stopped at ``global_step`` for ``reason``."""

  global_step: int
  reason: str


def load_diverged(path: PathLike) -> Diverged:
  data = read_kind(path, DIVERGED)
  data.pop(KIND_FIELD)
  _object(data, path, 'the record', ['global_step', 'reason'])
  step = data['global_step']
  if isinstance(step, bool) or not isinstance(step, int) or step < 0:
    raise BenchError(f"{path}: field 'global_step' must be an integer >= 0, got {step!r}")
  return Diverged(step, _text(data['reason'], path, 'reason'))


def dump_diverged(path: PathLike, record: Diverged) -> None:
  _dump(path, DIVERGED, dataclasses.asdict(record))


def mark_diverged(trial_dir: PathLike, global_step: int, reason: str) -> None:
  """:func:`dump_diverged` into the trial folder."""
  dump_diverged(Path(trial_dir) / layout.DIVERGED, Diverged(int(global_step), reason))


# ---- the run configuration of a trial (bench_core.run_config) ---------------------------------

RUNNERS = ('local', 'official')


@dataclasses.dataclass(frozen=True)
class TrialConfig:
  """One trial as a runner runs it (see the module docstring)."""

  algorithm: str
  workload: str
  condition: str
  runner: str  # 'local' or 'official'
  submission_path: str  # absolute
  tuning_search_space: str  # absolute: the file the runner reads (overrides already in it)
  experiment_dir: str  # the runner's experiment_dir (absolute)
  experiment_name: Optional[str]
  rng_seed: int
  max_allowed_runtime_sec: Optional[float] = None  # None: the workload's own budget
  max_global_steps: Optional[int] = None
  eval_every_steps: Optional[int] = None  # None: AlgoPerf's time rule
  eval_period_time_sec: Optional[float] = None  # None: the workload's own period
  stop_on_targets: bool = True  # False: the whole budget runs
  overwrite: bool = False  # False: a finished trial is kept, an interrupted one rerun
  data_dir: Optional[str] = None  # the official runner's --data_dir
  search_space_source: Optional[str] = None  # the search space before the overrides
  hyperparameter_overrides: Dict[str, Any] = dataclasses.field(default_factory=dict)
  extra_runner_flags: Tuple[str, ...] = ()  # passed to the runner unchanged, after the rest
  # the local runner's JAX compilation cache (step control only: layout.compilation_cache_dir)
  compilation_cache_dir: Optional[str] = None

  def __post_init__(self):
    catalogue.check_condition(self.condition, 'condition')
    catalogue.check_workload(self.workload, 'workload')
    if self.runner not in RUNNERS:
      raise BenchError(f'runner must be one of {", ".join(RUNNERS)}, got {self.runner!r}')
    object.__setattr__(self, 'extra_runner_flags', tuple(self.extra_runner_flags))

  @property
  def run_dir(self) -> Path:
    return layout.run_dir(self.experiment_dir, self.experiment_name, self.workload)

  @property
  def trial_dir(self) -> Path:
    return self.run_dir / layout.trial_dir_name(1)

  def budget(self) -> Dict[str, Any]:
    """The budget fields (``file_formats.BUDGET_FIELDS``) of the run; None where not set here."""
    return {
      'max_allowed_runtime_sec': self.max_allowed_runtime_sec,
      'max_global_steps': self.max_global_steps,
    }

  def to_json(self) -> Dict[str, Any]:
    return {**dataclasses.asdict(self), 'extra_runner_flags': list(self.extra_runner_flags)}


def dump_run_config(config: TrialConfig, path: PathLike | None = None) -> Path:
  """Write ``config`` (default: beside its run folder, ``layout.run_config_file``); the path
  written."""
  path = Path(path) if path else layout.run_config_file(config.run_dir)
  path.parent.mkdir(parents=True, exist_ok=True)
  _dump(path, RUN_CONFIG, config.to_json())
  return path


def load_run_config(path: PathLike) -> TrialConfig:
  """The configuration in ``path``; a file of another kind, or with unknown or missing
  fields, is refused naming the file and the field."""
  data = read_kind(path, RUN_CONFIG)
  if data.pop(KIND_FIELD) != RUN_CONFIG:
    raise BenchError(f'{path}: not a {KINDS[RUN_CONFIG]} (no "{KIND_FIELD}": "{RUN_CONFIG}")')
  names = {f.name for f in dataclasses.fields(TrialConfig)}
  unknown = sorted(set(data) - names)
  if unknown:
    raise BenchError(f'{path}: unknown field(s) {", ".join(unknown)} of a run configuration')
  try:
    return TrialConfig(**data)
  except TypeError as e:
    raise BenchError(f'{path}: incomplete run configuration ({e})') from None
  except BenchError as e:
    raise BenchError(f'{path}: {e}') from None
