"""AlgoPerf's own ``submission_runner``, run in this process from a trial's run configuration.

What the study adds around ``submission_runner.main`` (nothing of AlgoPerf is changed):

* **Flags.** ``study.runner_flags.official_argv`` builds them from the configuration
  (``bench_core.run_config``), with the working directory the submission is imported from.
* **Budget.** ``algoperf.workloads.workloads.import_workload`` is wrapped so that the
  workload class it returns is :func:`bench_core.run_config.budgeted` (the mechanism the
  local runner uses too): it reports the configured ``max_allowed_runtime_sec`` and
  ``eval_period_time_sec``. With ``stop_on_targets`` false it also never reports a target
  as reached, so the run uses its whole budget, as the study's runs do.
* **Resumption.** Upstream ``--resume_last_run`` crashes at the supported commit, so
  ``--overwrite`` is always passed: unless the configuration says ``overwrite``, a run whose
  trials all have a completion record is skipped; any other existing run folder is removed
  and the run starts from scratch.
* **Completion record.** Once ``submission_runner.main`` returned without an error, every
  trial folder of the run gets ``trial_complete.json`` (``bench_core.layout``).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Callable, List

import pandas as pd

from bench_core import catalogue, file_formats, layout, run_config
from bench_core.file_formats import TrialConfig
from study import runner_flags


def with_overrides(workload_class: type, config: TrialConfig) -> type:
  """``workload_class`` with the budget and evaluation period of ``config``
  (:func:`bench_core.run_config.budgeted`) and, when it does not stop on targets, targets
  that are never reported as reached."""
  budgeted = run_config.budgeted(
    workload_class, config.max_allowed_runtime_sec, config.eval_period_time_sec
  )
  if config.stop_on_targets:
    return budgeted
  attributes = {
    '__module__': workload_class.__module__,
    '__doc__': workload_class.__doc__,
    'has_reached_validation_target': lambda self, eval_result: False,
    'has_reached_test_target': lambda self, eval_result: False,
  }
  return type(workload_class.__name__, (budgeted,), attributes)


def overriding_import_workload(import_workload: Callable, config: TrialConfig) -> Callable:
  """``import_workload`` whose result (class or instance) carries :func:`with_overrides`."""

  def wrapped(*args, **kwargs):
    result = import_workload(*args, **kwargs)
    if isinstance(result, type):
      return with_overrides(result, config)
    result.__class__ = with_overrides(type(result), config)
    return result

  wrapped.__wrapped__ = import_workload
  return wrapped


def run_is_complete(run_dir: Path, trial_numbers: List[int]) -> bool:
  return bool(trial_numbers) and all(
    layout.is_complete(run_dir / layout.trial_dir_name(k)) for k in trial_numbers
  )


def completion_record(trial_dir: Path, config: TrialConfig) -> file_formats.TrialComplete:
  """What the completion record of an official trial says (from its evaluations), with the
  budget it ran under where the configuration sets one (``file_formats.BUDGET_FIELDS``) and the
  condition its budgets make it (:func:`bench_core.catalogue.condition_of_run`)."""
  record = {'runner': 'official'}
  for field, value in config.budget().items():
    if value is not None:
      record[field] = value
  files = [trial_dir / name for name in (layout.FLAGS, layout.META_DATA)]
  if all(f.is_file() for f in files):
    flags, meta = (layout.read_json_object(f) for f in files)
    condition = catalogue.condition_of_run(
      flags.get('max_global_steps'), meta.get('workload.max_allowed_runtime_sec')
    )
    if condition:
      record['condition'] = condition
  csv = trial_dir / layout.EVAL_MEASUREMENTS
  if csv.is_file():
    rows = pd.read_csv(csv)
    record['num_evals'] = len(rows)
    if len(rows):
      last = rows.iloc[-1]
      record['global_step'] = int(last['global_step'])
      record['score'] = float(last.get('accumulated_submission_time', float('nan')))
  return file_formats.TrialComplete(**record)


def run(config: TrialConfig, progress=print) -> int:
  """Run ``submission_runner.main`` for ``config`` (see the module docstring); its exit
  status. The run folder is locked meanwhile (``bench_core.layout.run_lock``)."""
  workdir, argv = runner_flags.official_argv(config)
  numbers = runner_flags.expected_trials(config)
  with layout.run_lock(config.run_dir):
    return _run_locked(config, workdir, argv, numbers, progress)


def _run_locked(config: TrialConfig, workdir: Path, argv, numbers, progress) -> int:
  """:func:`run` once the run folder's lock is held."""
  # Imported here, not at the top: algoperf is optional, and importing submission_runner
  # loads TensorFlow and torch, which no local run should pay for.
  import submission_runner
  from absl import app
  from algoperf.workloads import workloads

  run_dir = config.run_dir
  if not config.overwrite and run_is_complete(run_dir, numbers):
    progress(f'{run_dir}: every trial has its completion record; nothing to run')
    return 0
  if run_dir.exists():
    progress(f'{run_dir}: unfinished run removed; it is rerun from scratch')
    shutil.rmtree(run_dir)
  workloads.import_workload = overriding_import_workload(workloads.import_workload, config)
  os.chdir(workdir)
  sys.path.insert(0, str(workdir))
  try:
    app.run(submission_runner.main, argv=['submission_runner', *argv])
    status = 0
  except SystemExit as e:
    status = 0 if e.code in (None, 0) else (e.code if isinstance(e.code, int) else 1)
  if status == 0:
    for k in numbers:
      trial_dir = run_dir / layout.trial_dir_name(k)
      if trial_dir.is_dir():
        file_formats.mark_complete(trial_dir, completion_record(trial_dir, config))
  return status
