"""The run configuration of one trial: everything a runner needs, resolved once, as one file.

The study layer (``study.trial.TrialSpec.run_config``) resolves a trial into a
:class:`TrialConfig` (the budget of its condition, the evaluation rule, the paths, the seed,
the data location, the search space and its hyperparameter overrides) and writes it as JSON
beside the run folder (:func:`bench_core.layout.run_config_file`; the run folder itself is
removed by a rerun). Whichever runner runs the trial reads that file: the local runner
(``python -m local_runner --run_config=FILE``) and the official ``submission_runner``, whose
flags ``study.runner_flags`` builds from it. The file also documents the run.

Budget, one mechanism for both runners: :func:`budgeted` returns a subclass of the workload
class that reports the configured ``max_allowed_runtime_sec`` (None: the workload's own) and
``eval_period_time_sec``; the local runner instantiates it, the official path hands it to
``submission_runner`` in place of the class AlgoPerf imports.

Evaluation rule: ``eval_every_steps`` None is AlgoPerf's time rule (after step 1, then every
``eval_period_time_sec`` of wall time); a number evaluates every that many steps (the local
runner under step control).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from bench_core import catalogue, layout
from bench_core.errors import BenchError

RUNNERS = ('local', 'official')

#: The kind a run configuration file declares (``"kind"``), so that another JSON is refused.
KIND = 'run_config'


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
    """The budget fields (``layout.BUDGET_FIELDS``) of the run; None where not set here."""
    return {
      'max_allowed_runtime_sec': self.max_allowed_runtime_sec,
      'max_global_steps': self.max_global_steps,
    }

  def to_json(self) -> Dict[str, Any]:
    return {
      'kind': KIND,
      **dataclasses.asdict(self),
      'extra_runner_flags': list(self.extra_runner_flags),
    }


def write(config: TrialConfig, path: str | Path | None = None) -> Path:
  """Write ``config`` (default: beside its run folder); the path written."""
  path = Path(path) if path else layout.run_config_file(config.run_dir)
  path.parent.mkdir(parents=True, exist_ok=True)
  layout.write_json(path, config.to_json())
  return path


def load(path: str | Path) -> TrialConfig:
  """The configuration in ``path``; a file of another kind, or with unknown or missing
  fields, is refused naming the file and the field."""
  data = layout.read_json_object(Path(path), 'a run configuration')
  if data.pop('kind', None) != KIND:
    raise BenchError(f'{path}: not a run configuration (expected "kind": "{KIND}")')
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


def budgeted(
  workload_class: type,
  max_allowed_runtime_sec: Optional[float] = None,
  eval_period_time_sec: Optional[float] = None,
) -> type:
  """``workload_class``, or a subclass of it reporting the given budget and evaluation
  period (None: the class's own)."""
  attributes = {}
  if max_allowed_runtime_sec is not None:
    attributes['max_allowed_runtime_sec'] = property(lambda self: max_allowed_runtime_sec)
  if eval_period_time_sec is not None:
    attributes['eval_period_time_sec'] = property(lambda self: eval_period_time_sec)
  if not attributes:
    return workload_class
  attributes.update(__module__=workload_class.__module__, __doc__=workload_class.__doc__)
  return type(workload_class.__name__, (workload_class,), attributes)
