"""One trial of a study, and the one command that runs it on the right runner.

A :class:`TrialSpec` names the algorithm, workload, condition, study (and its seed), the
experiment root, and where budgets and data come from. :meth:`TrialSpec.command` is the
command line used alike by ``make submit``, the sweep, the SLURM script and the probe::

    <python> -m study.launch --condition <c> [--budgets F] [--step_budgets F] -- <runner flags>

The runner flags are the official ``submission_runner.py`` flags (the local runner takes the
same ones); ``study.launch`` picks the runner, applies the condition's budget and writes the
completion record. The trial lands in ``layout.study_run_dir(root, condition, algorithm,
study, workload) / 'trial_1'``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import List, Optional

from bench_core import catalogue, file_formats, layout
from local_runner.search_space import hyperparameter_points, load_search_space
from local_runner.workloads import get_workload
from study import budgets, locate, runners


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

  def requested_budget(self) -> dict:
    """The budget fields (``file_formats.BUDGET_FIELDS``) this trial runs under; None where
    unknown here (an official workload's own time budget)."""
    if self.condition == 'step':
      return {
        'max_allowed_runtime_sec': budgets.NO_TIME_LIMIT_SEC,
        'max_global_steps': budgets.step_budget(self.workload, self.step_budgets),
      }
    seconds = budgets.time_budget(self.workload, self.budgets)
    if seconds is None and catalogue.is_embedded(self.workload):
      seconds = get_workload(self.workload).max_allowed_runtime_sec
    return {'max_allowed_runtime_sec': seconds, 'max_global_steps': self.max_global_steps}

  def requested_hyperparameters(self) -> dict:
    """The hyperparameter point trial 1 gets from the search space (prompts included)."""
    space = load_search_space(self.search_space())
    return dict(hyperparameter_points(space, 1, seed=self.seed)[0]._asdict())

  def mismatches(self) -> List[str]:
    """How the finished trial in :attr:`trial_dir` differs from this request (budget,
    prompt, search space; ``file_formats.request_mismatches``); empty when it matches."""
    return file_formats.request_mismatches(
      self.trial_dir, self.requested_budget(), self.requested_hyperparameters()
    )

  def search_space(self) -> Path:
    if self.search_space_path:
      return Path(self.search_space_path).expanduser().resolve()
    return locate.search_space_file(
      self.algorithm, self.workload, self.condition, self.allow_placeholder_prompts
    )

  def runner_flags(self, overwrite: bool = False) -> List[str]:
    """The runner flags: paths absolute, so that they hold from any working directory."""
    flags = [
      f'--workload={self.workload}',
      '--framework=jax',
      f'--submission_path={locate.submission_file(self.algorithm)}',
      f'--tuning_search_space={self.search_space()}',
      f'--experiment_dir={layout.study_runner_root(self.root, self.condition, self.algorithm)}',
      f'--experiment_name={layout.study_name(self.study)}',
      f'--rng_seed={self.seed}',
      '--overwrite' if overwrite else '--resume_last_run',
    ]
    if not self.stop_on_targets:
      flags.append('--nostop_on_targets')
    if self.data_dir and not catalogue.is_embedded(self.workload):
      data_dir = self.data_dir.replace('{workload}', self.workload)
      flags.append(f'--data_dir={Path(data_dir).expanduser().resolve()}')
    if self.max_global_steps is not None:
      flags.append(f'--max_global_steps={self.max_global_steps}')
    return flags

  def launch_args(self) -> List[str]:
    args = ['--condition', self.condition]
    if self.condition == 'time' and self.budgets:
      args += ['--budgets', str(Path(self.budgets).resolve())]
    if self.condition == 'step' and self.step_budgets:
      args += ['--step_budgets', str(Path(self.step_budgets).resolve())]
    return args

  def command(self, python: Optional[str] = None, overwrite: bool = False) -> List[str]:
    """The command line that runs this trial (``python``: default the workload's interpreter)."""
    python = python or runners.python_for(self.workload)
    return [python, '-m', 'study.launch', *self.launch_args(), '--', *self.runner_flags(overwrite)]
