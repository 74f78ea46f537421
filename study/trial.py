"""One trial of a study, resolved once into its run configuration, and the command that runs it.

A :class:`TrialSpec` names the algorithm, workload, condition, study (and its seed), the
experiment root, and where budgets and data come from. :meth:`TrialSpec.run_config` resolves
it, once, into a :class:`bench_core.file_formats.TrialConfig` (:func:`resolve`: the runner,
the budget of the condition, the evaluation rule, the search space and its overrides, the
paths); :meth:`TrialSpec.write_run_config` writes that file beside the run folder, and
:meth:`TrialSpec.command` is the command line that runs it, used alike by ``make submit``,
the sweep, the SLURM script and the probe::

    <python> -m study.launch --config <workload>_jax_run_config.json

``study.launch`` hands the file to the runner the configuration names. The trial lands in
``layout.study_run_dir(root, condition, algorithm, study, workload) / 'trial_1'``.

Resolution rules (:func:`resolve`):

* runner: embedded workloads on the local runner, official ones on ``submission_runner``
  (``study.runners.choose_runner``);
* time: the workload's entry of the transferred budgets file, else the workload's own
  budget (an embedded workload's is written out; an official one's stays None, AlgoPerf's);
  AlgoPerf's time rule for evaluations; a ``max_global_steps`` cap may be given;
* step: the step budget (``study.budgets.step_budget``) and no time limit; on the local
  runner an evaluation every ``default_eval_every_steps`` steps unless a cadence is given
  (the official runner has no such flag: it evaluates on wall time); a search space naming
  ``step_budget`` gets the step budget as an override, written into a copy beside the run
  folder (``bench_core.layout.step_search_space_file``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from bench_core import catalogue, file_formats, layout
from bench_core.errors import BenchError
from bench_core.file_formats import TrialConfig
from local_runner.evaluation_rule import default_eval_every_steps
from local_runner.search_space import hyperparameter_points, load_search_space
from local_runner.workloads import get_workload
from study import budgets, locate, runner_flags, runners


def resolve(
  *,
  algorithm: str,
  workload: str,
  condition: str,
  submission_path: str | Path,
  search_space: str | Path,
  experiment_dir: str | Path,
  experiment_name: Optional[str],
  rng_seed: int,
  runner: str = 'auto',
  budgets_file: Optional[str] = None,
  step_budgets_file: Optional[str] = None,
  max_global_steps: Optional[int] = None,
  eval_every_steps: Optional[int] = None,
  eval_period_time_sec: Optional[float] = None,
  stop_on_targets: bool = True,
  overwrite: bool = False,
  data_dir: Optional[str] = None,
  extra_runner_flags: Tuple[str, ...] = (),
) -> TrialConfig:
  """The run configuration of one trial (rules: module docstring); nothing is written."""
  catalogue.check_condition(condition)
  runner = runners.choose_runner(runner, workload)
  if eval_every_steps is not None and runner != 'local':
    raise BenchError(
      '--eval_every_steps is a flag of the local runner only: the official runner '
      'evaluates every eval_period_time_sec of wall time; remove it'
    )
  overrides: Dict[str, Any] = {}
  if condition == 'time':
    if eval_every_steps is not None:
      raise BenchError(
        "--condition time evaluates by AlgoPerf's time rule: remove "
        '--eval_every_steps from the runner flags (it is for step control)'
      )
    seconds = budgets.time_budget(workload, budgets_file)
    if seconds is None and catalogue.is_embedded(workload):
      seconds = get_workload(workload).max_allowed_runtime_sec
  else:
    if max_global_steps is not None:
      raise BenchError(
        '--condition step sets --max_global_steps from the step budgets: '
        'remove it from the runner flags'
      )
    max_global_steps = budgets.step_budget(workload, step_budgets_file)
    seconds = budgets.NO_TIME_LIMIT_SEC
    if runner == 'local' and eval_every_steps is None:
      eval_every_steps = default_eval_every_steps(max_global_steps)
    source = layout.read_json_object(Path(search_space), 'a tuning search space')
    if budgets.STEP_BUDGET_HYPERPARAMETER in source:
      overrides[budgets.STEP_BUDGET_HYPERPARAMETER] = max_global_steps
  run_dir = layout.run_dir(experiment_dir, experiment_name, workload)
  search_space = Path(search_space).expanduser().resolve()
  return TrialConfig(
    algorithm=algorithm,
    workload=workload,
    condition=condition,
    runner=runner,
    submission_path=str(Path(submission_path).expanduser().resolve()),
    tuning_search_space=str(
      layout.step_search_space_file(run_dir).resolve() if overrides else search_space
    ),
    experiment_dir=str(Path(experiment_dir).expanduser().resolve()),
    experiment_name=experiment_name,
    rng_seed=rng_seed,
    max_allowed_runtime_sec=seconds,
    max_global_steps=max_global_steps,
    eval_every_steps=eval_every_steps,
    eval_period_time_sec=eval_period_time_sec,
    stop_on_targets=stop_on_targets,
    overwrite=overwrite,
    data_dir=str(Path(data_dir).expanduser().resolve()) if data_dir else None,
    search_space_source=str(search_space),
    hyperparameter_overrides=overrides,
    extra_runner_flags=extra_runner_flags,
    compilation_cache_dir=(
      str(layout.compilation_cache_dir(Path(experiment_dir).expanduser().resolve()))
      if condition == 'step' and runner == 'local'
      else None
    ),
  )


def search_space_of(config: TrialConfig) -> Any:
  """The search space the runner of ``config`` reads: the source with the overrides fixed."""
  space = load_search_space(config.search_space_source or config.tuning_search_space)
  if not config.hyperparameter_overrides:
    return space
  fixed = {name: {'feasible_points': [v]} for name, v in config.hyperparameter_overrides.items()}
  return {**space, **fixed}


def write_run_config(config: TrialConfig) -> Path:
  """Write the configuration beside its run folder (and, when it has overrides, the search
  space it names); the configuration file."""
  if config.hyperparameter_overrides:
    target = Path(config.tuning_search_space)
    target.parent.mkdir(parents=True, exist_ok=True)
    layout.write_json(target, search_space_of(config))
  return file_formats.dump_run_config(config)


def requested_hyperparameters(config: TrialConfig, seed: int) -> dict:
  """The hyperparameter point trial 1 gets (overrides included)."""
  return dict(hyperparameter_points(search_space_of(config), 1, seed=seed)[0]._asdict())


@dataclasses.dataclass(frozen=True)
class TrialSpec:
  """Everything that decides what one trial runs and where its logs go."""

  algorithm: str
  workload: str
  condition: str
  study: int
  seed: int
  root: Path
  budgets: Optional[str] = None  # transferred time budgets (time control)
  step_budgets: Optional[str] = None  # step budgets (step control; default: built-in)
  data_dir: Optional[str] = None  # the official runner's --data_dir ({workload} expands)
  stop_on_targets: bool = False  # the study runs whole budgets; make submit stops
  allow_placeholder_prompts: bool = False
  max_global_steps: Optional[int] = None  # a cap under time control (tests, smoke runs)
  search_space_path: Optional[str] = None  # instead of the one ``study.locate`` finds
  eval_period_time_sec: Optional[float] = None  # instead of the workload's own (smoke runs)
  extra_runner_flags: Tuple[str, ...] = ()  # passed to the runner unchanged (e.g. --skip_evals)

  def __post_init__(self):
    catalogue.check_condition(self.condition)
    catalogue.check_workload(self.workload)
    object.__setattr__(self, 'root', Path(self.root).expanduser().resolve())

  @property
  def label(self) -> str:
    return f'{self.condition}/{self.algorithm}/{layout.study_name(self.study)}/{self.workload}'

  @property
  def run_dir(self) -> Path:
    return layout.study_run_dir(
      self.root, self.condition, self.algorithm, self.study, self.workload
    )

  @property
  def trial_dir(self) -> Path:
    return self.run_dir / layout.trial_dir_name(1)

  def is_complete(self) -> bool:
    return layout.is_complete(self.trial_dir)

  @property
  def runner(self) -> str:
    """The runner of this trial, ``local`` or ``official`` (``runners.choose_runner``)."""
    return runners.choose_runner('auto', self.workload)

  def run_config(self, overwrite: bool = False) -> TrialConfig:
    """This trial's run configuration (:func:`resolve`)."""
    return resolve(
      algorithm=self.algorithm,
      workload=self.workload,
      condition=self.condition,
      submission_path=locate.submission_file(self.algorithm),
      search_space=self.search_space(),
      experiment_dir=layout.study_runner_root(self.root, self.condition, self.algorithm),
      experiment_name=layout.study_name(self.study),
      rng_seed=self.seed,
      budgets_file=self.budgets if self.condition == 'time' else None,
      step_budgets_file=self.step_budgets if self.condition == 'step' else None,
      max_global_steps=self.max_global_steps,
      eval_period_time_sec=self.eval_period_time_sec,
      stop_on_targets=self.stop_on_targets,
      overwrite=overwrite,
      data_dir=(
        self.data_dir.replace('{workload}', self.workload)
        if self.data_dir and not catalogue.is_embedded(self.workload)
        else None
      ),
      runner=self.runner,
      extra_runner_flags=self.extra_runner_flags,
    )

  @property
  def config_file(self) -> Path:
    return layout.run_config_file(self.run_dir)

  def write_run_config(self, overwrite: bool = False) -> Path:
    """Resolve and write this trial's run configuration (:func:`write_run_config`)."""
    return write_run_config(self.run_config(overwrite))

  def requested_budget(self) -> dict:
    """The budget fields (``file_formats.BUDGET_FIELDS``) this trial runs under; None where
    unknown here (an official workload's own time budget)."""
    return self.run_config().budget()

  def requested_hyperparameters(self) -> dict:
    """The hyperparameter point trial 1 gets from the search space (overrides included)."""
    return requested_hyperparameters(self.run_config(), self.seed)

  def mismatches(self) -> List[str]:
    """How the finished trial in :attr:`trial_dir` differs from this request's run
    configuration (budget, prompt, search space; ``file_formats.request_mismatches``); empty
    when it matches."""
    config = self.run_config()
    return file_formats.request_mismatches(
      self.trial_dir, config.budget(), requested_hyperparameters(config, self.seed)
    )

  def search_space(self) -> Path:
    if self.search_space_path:
      return Path(self.search_space_path).expanduser().resolve()
    return locate.search_space_file(
      self.algorithm, self.workload, self.condition, self.allow_placeholder_prompts
    )

  def command(self, python: Optional[str] = None) -> List[str]:
    """The command line that runs this trial from :attr:`config_file` (``python``: default
    the workload's interpreter); :meth:`write_run_config` writes the file first. A local-runner
    trial runs ``python -m local_runner`` on the file directly (``study.launch`` would only
    pass it on, after importing the study layer: about 2 s of every trial); an official one
    ``python -m study.launch``."""
    python = python or runners.python_for(self.workload)
    if self.runner == 'local':
      return runner_flags.local_command(self.config_file, self.extra_runner_flags, python)
    return [python, '-m', 'study.launch', '--config', str(self.config_file)]
