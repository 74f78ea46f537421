"""AlgoPerf's ``submission_runner.py`` for the embedded workloads: flags, trials, log folders.

:func:`run` checks the flags, loads the submission and the search space, prepares the run
folder and runs one trial per hyperparameter point (``local_runner.trial_loop``), as the
official runner does. The rules the official runner follows are kept: submission time
(``local_runner.train_state``), the evaluation rule (``local_runner.evaluation_rule``), the
budget ``max_allowed_runtime_sec`` (x1.5 under the self-tuning ruleset) and the stop
conditions (time, ``max_global_steps``, both targets, ``TrainingCompleteError``).

Additions:

* ``max_allowed_runtime_sec`` (and ``eval_period_time_sec``) replace the workload's own,
  by the mechanism the official path uses too (``bench_core.run_config.budgeted``); a
  trial's run configuration file (``bench_core.run_config``) gives every field at once
  (:meth:`RunConfig.from_trial_config`);
  ``stop_on_targets=False`` runs the whole budget, as the study's runs do;
  ``eval_every_steps`` evaluates on a fixed step cadence instead of on wall time (step
  control, so that two runs of a trial evaluate at the same steps on any machine).
* Parameters that become non-finite (checked after every step) stop the trial as
  *diverged* (``diverged.json``; the next trial still runs); every trial that ended gets
  ``trial_complete.json``, so that ``resume_last_run`` keeps it and reruns an interrupted
  one from scratch.
* The run folder is locked while the trials run (``bench_core.layout.run_lock``): a second
  process on the same folder refuses, naming the first one's pid.
* Bad flags are refused before anything is written, and a run whose first trial cannot
  start (say, a hyperparameter the submission refuses) removes the folders it created, so
  that the next attempt is not blocked by an empty ``trial_1/``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import struct
from pathlib import Path
from typing import Any, Dict, List, Optional

import jax

from bench_core import arguments, file_formats, layout, run_config
from bench_core.errors import BenchError
from local_runner.evaluation_rule import rule_for
from local_runner.search_space import hyperparameter_points, load_search_space
from local_runner.submission_loader import load_submission
from local_runner.trial_loop import DEFAULT_CLOCK, Clock, train_once
from local_runner.workloads import workload_class

FRAMEWORK = layout.FRAMEWORK
#: The budget multiplier of the self-tuning ruleset.
SELF_TUNING_BUDGET_FACTOR = 1.5


class ExperimentExistsError(BenchError):
  pass


@dataclasses.dataclass
class RunConfig:
  """What one invocation of the runner does (the official runner's flags, and ours)."""

  workload: str
  submission_path: str
  experiment_dir: str
  experiment_name: Optional[str] = None
  tuning_ruleset: str = 'external'
  tuning_search_space: Optional[str] = None
  num_tuning_trials: int = 1
  max_global_steps: Optional[int] = None
  rng_seed: Optional[int] = None
  overwrite: bool = False
  resume_last_run: bool = False
  hparam_start_index: Optional[int] = None
  hparam_end_index: Optional[int] = None
  max_allowed_runtime_sec: Optional[float] = None  # override of the workload's budget
  stop_on_targets: bool = True  # False: run the whole budget even once both targets are reached
  eval_every_steps: Optional[int] = None  # None: AlgoPerf's time rule
  eval_period_time_sec: Optional[float] = None  # override of the workload's period
  compilation_cache_dir: Optional[str] = None  # step control: programs shared across trials
  log_every_steps: int = 100

  def as_flags(self) -> Dict[str, Any]:
    return dict(dataclasses.asdict(self), framework=FRAMEWORK)

  @classmethod
  def from_trial_config(cls, config: file_formats.TrialConfig) -> 'RunConfig':
    """The runner's configuration of one trial's run configuration (its own runner must be
    the local one)."""
    if config.runner != 'local':
      raise BenchError(
        f'the run configuration of {config.workload} names the {config.runner} runner, '
        'not the local one'
      )
    return cls(
      workload=config.workload,
      submission_path=config.submission_path,
      experiment_dir=config.experiment_dir,
      experiment_name=config.experiment_name,
      tuning_search_space=config.tuning_search_space,
      max_global_steps=config.max_global_steps,
      rng_seed=config.rng_seed,
      overwrite=config.overwrite,
      resume_last_run=not config.overwrite,
      max_allowed_runtime_sec=config.max_allowed_runtime_sec,
      stop_on_targets=config.stop_on_targets,
      eval_every_steps=config.eval_every_steps,
      eval_period_time_sec=config.eval_period_time_sec,
      compilation_cache_dir=config.compilation_cache_dir,
    )


def _positive_int(value, flag: str) -> None:
  if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
    raise BenchError(f'--{flag} must be a positive integer, got {value!r}')


def check_config(config: RunConfig) -> None:
  """Refuse flags that cannot describe a run, naming the flag and what it needs."""
  if config.tuning_ruleset not in ('external', 'self'):
    raise BenchError(
      f'--tuning_ruleset must be "external" or "self", got {config.tuning_ruleset!r}'
    )
  _positive_int(config.max_global_steps, 'max_global_steps')
  _positive_int(config.num_tuning_trials, 'num_tuning_trials')
  _positive_int(config.eval_every_steps, 'eval_every_steps')
  if config.eval_period_time_sec is not None and not config.eval_period_time_sec > 0:
    raise BenchError(
      f'--eval_period_time_sec must be positive, got {config.eval_period_time_sec!r}'
    )
  if config.max_allowed_runtime_sec is not None:
    if not config.max_allowed_runtime_sec > 0:
      raise BenchError(
        f'--max_allowed_runtime_sec must be positive, got {config.max_allowed_runtime_sec!r}'
      )
    arguments.check_plausible(
      config.max_allowed_runtime_sec, '--max_allowed_runtime_sec', arguments.TIME_LIMIT_SEC
    )
  if config.max_global_steps is not None:
    arguments.check_plausible(config.max_global_steps, '--max_global_steps', arguments.STEPS)
  if config.tuning_ruleset == 'external' and config.tuning_search_space is None:
    raise BenchError('--tuning_search_space is required under --tuning_ruleset=external')
  if config.tuning_ruleset == 'self' and config.tuning_search_space is not None:
    raise BenchError('--tuning_search_space cannot be given under --tuning_ruleset=self')


def trial_indices(config: RunConfig, num_points: int) -> List[int]:
  """The 0-based hyperparameter points to run: ``[hparam_start_index, hparam_end_index)``."""
  for flag in ('hparam_start_index', 'hparam_end_index'):
    value = getattr(config, flag)
    if value is not None and not 0 <= value <= num_points:
      raise BenchError(f'--{flag} must be in [0, {num_points}] (the number of trials), got {value}')
  indices = list(range(num_points))[config.hparam_start_index : config.hparam_end_index]
  if not indices:
    raise BenchError(
      f'--hparam_start_index={config.hparam_start_index} and --hparam_end_index='
      f'{config.hparam_end_index} select none of the {num_points} trial(s)'
    )
  return indices


def experiment_path(config: RunConfig) -> Path:
  return layout.run_dir(config.experiment_dir, config.experiment_name, config.workload)


def _trial_seed(config: RunConfig) -> int:
  """``--rng_seed`` if set (0 means unset, as in the official runner), else a fresh random one."""
  if config.rng_seed:
    return int(config.rng_seed)
  return struct.unpack('I', os.urandom(4))[0]


def prepare_experiment_dir(config: RunConfig) -> List[Path]:
  """Make the run folder ready; return the folders this call created (outermost first)."""
  path = experiment_path(config)
  if path.exists():
    if config.overwrite:
      shutil.rmtree(path)
    elif not config.resume_last_run:
      raise ExperimentExistsError(
        f'experiment directory {path} already exists: pass --overwrite to replace it or '
        f'--resume_last_run to keep its completed trials and rerun the others'
      )
  created = [p for p in reversed([path, *path.parents]) if not p.exists()]
  path.mkdir(parents=True, exist_ok=True)
  return created


def remove_if_empty(folders: List[Path]) -> None:
  """Remove those of ``folders`` (outermost first) that are empty, innermost first."""
  for folder in reversed(folders):
    try:
      folder.rmdir()
    except OSError:  # not empty, or already gone
      return


def use_compilation_cache(path: str) -> None:
  """Keep every program this process compiles in JAX's persistent cache at ``path`` and
  read it from there when another trial compiled it before (step control only:
  ``bench_core.layout.compilation_cache_dir``). Set before the first compilation."""
  jax.config.update('jax_compilation_cache_dir', str(path))
  jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.0)
  jax.config.update('jax_persistent_cache_min_entry_size_bytes', 0)


def run(config: RunConfig, progress=print, clock: Clock = DEFAULT_CLOCK) -> List[Dict[str, Any]]:
  """All trials of one workload, as ``submission_runner.py`` runs them; returns their summaries.

  ``clock`` is the time source of every trial (``local_runner.trial_loop``)."""
  check_config(config)
  if config.compilation_cache_dir:
    use_compilation_cache(config.compilation_cache_dir)
  workload = run_config.budgeted(
    workload_class(config.workload), config.max_allowed_runtime_sec, config.eval_period_time_sec
  )()
  submission = load_submission(config.submission_path)
  if config.tuning_ruleset == 'external':
    space = load_search_space(config.tuning_search_space)
    points = hyperparameter_points(space, config.num_tuning_trials, seed=config.rng_seed or 0)
  else:
    points = [None]
  indices = trial_indices(config, len(points))
  budget = workload.max_allowed_runtime_sec
  if config.tuning_ruleset == 'self':
    budget = SELF_TUNING_BUDGET_FACTOR * budget
  eval_rule = rule_for(workload.eval_period_time_sec, config.eval_every_steps)
  lock = layout.run_lock_path(experiment_path(config))
  created = [p for p in reversed([lock.parent, *lock.parent.parents]) if not p.exists()]
  with layout.run_lock(experiment_path(config)):
    try:
      return _run_trials(
        config, workload, submission, points, indices, budget, eval_rule, progress, clock
      )
    except BaseException:
      if not experiment_path(config).exists():  # nothing ran: leave no lock file or folder
        lock.unlink()
        remove_if_empty(created)
      raise


def _run_trials(config, workload, submission, points, indices, budget, eval_rule, progress, clock):
  """The trials of :func:`run`, in the prepared run folder (whose lock the caller holds)."""
  created = prepare_experiment_dir(config)
  root = experiment_path(config)
  seed = _trial_seed(config)
  if not config.rng_seed:
    logging.warning('--rng_seed unset or 0: using the random seed %d', seed)
  summaries = []
  try:
    for k in indices:
      trial_dir = root / layout.trial_dir_name(k + 1)
      if layout.is_complete(trial_dir):
        progress(
          f'{config.workload} trial {k + 1}/{len(points)}: complete, skipped (--resume_last_run)'
        )
        continue
      if trial_dir.exists():
        shutil.rmtree(trial_dir)  # an interrupted trial is rerun from scratch
      progress(
        f'{config.workload} trial {k + 1}/{len(points)} (seed {seed}, evaluations '
        f'{eval_rule.describe()}) -> {trial_dir}'
      )
      summary = train_once(
        workload,
        submission,
        points[k],
        seed,
        trial_dir=trial_dir,
        eval_rule=eval_rule,
        budget=budget,
        max_global_steps=config.max_global_steps,
        stop_on_targets=config.stop_on_targets,
        flags=config.as_flags(),
        submission_path=config.submission_path,
        clock=clock,
        progress=progress,
        hyperparameter_source=(
          f'{config.tuning_search_space} (point {k + 1})'
          if points[k] is not None
          else 'the submission (self-tuning)'
        ),
      )
      progress(
        f'{config.workload} trial {k + 1}: {summary["global_step"]} steps, '
        f'{summary["score"]:.1f}s submission time, {summary["num_evals"]} evaluations'
        + (', DIVERGED' if summary['diverged'] else '')
        + (', reached validation target' if summary['validation_goal_reached'] else '')
      )
      summaries.append(summary)
  except BaseException:
    remove_if_empty(created)
    raise
  return summaries
