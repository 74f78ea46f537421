"""AlgoPerf's own ``submission_runner``, run in this process the way a study needs it.

What the study adds around ``submission_runner.main`` (nothing of AlgoPerf is changed):

* **Budget.** ``algoperf.workloads.workloads.import_workload`` is wrapped so that the
  workload it returns reports the transferred ``max_allowed_runtime_sec`` (and, when asked,
  another ``eval_period_time_sec``); with ``stop_on_targets=False`` it also never reports a
  target as reached, so the run uses its whole budget, as the study's runs do.
* **Submission path.** The official runner imports the submission as a module named after
  its path relative to the working directory (an absolute path fails with "the 'package'
  argument is required"). A submission inside this repository is imported as
  ``submissions.<name>.submission`` from the repository root; one elsewhere from its own
  folder. The other path flags are made absolute first.
* **Resumption.** Upstream ``--resume_last_run`` crashes at the supported commit, so it is
  never passed on: a run whose trials all have a completion record is skipped; any other
  existing run folder is removed and the run starts from scratch (``--overwrite``).
* **Completion record.** Once ``submission_runner.main`` returned without an error, every
  trial folder of the run gets ``trial_complete.json`` (``bench_core.layout``).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Callable, List, Optional, Tuple

import pandas as pd

from bench_core import catalogue, file_formats, layout
from bench_core.errors import BenchError
from study import runners

PATH_FLAGS = (
  'experiment_dir',
  'tuning_search_space',
  'data_dir',
  'imagenet_v2_data_dir',
  'librispeech_tokenizer_vocab_path',
)


def with_overrides(
  workload_class: type,
  max_runtime_sec: Optional[float] = None,
  stop_on_targets: bool = True,
  eval_period_time_sec: Optional[float] = None,
) -> type:
  """A subclass of ``workload_class`` with the given budget and evaluation period, and
  (``stop_on_targets=False``) whose targets are never reported as reached."""
  attributes = {'__module__': workload_class.__module__, '__doc__': workload_class.__doc__}
  if max_runtime_sec is not None:
    attributes['max_allowed_runtime_sec'] = property(lambda self: max_runtime_sec)
  if eval_period_time_sec is not None:
    attributes['eval_period_time_sec'] = property(lambda self: eval_period_time_sec)
  if not stop_on_targets:
    attributes['has_reached_validation_target'] = lambda self, eval_result: False
    attributes['has_reached_test_target'] = lambda self, eval_result: False
  return type(workload_class.__name__, (workload_class,), attributes)


def overriding_import_workload(import_workload: Callable, **overrides) -> Callable:
  """``import_workload`` whose result (class or instance) carries :func:`with_overrides`."""

  def wrapped(*args, **kwargs):
    result = import_workload(*args, **kwargs)
    if isinstance(result, type):
      return with_overrides(result, **overrides)
    result.__class__ = with_overrides(type(result), **overrides)
    return result

  wrapped.__wrapped__ = import_workload
  return wrapped


def submission_location(path: str | Path) -> Tuple[Path, str]:
  """(working directory, relative path) under which the official runner imports the file."""
  path = Path(path).expanduser().resolve()
  if not path.is_file():
    raise BenchError(f'--submission_path: no such file {path}')
  if path.suffix != '.py':
    raise BenchError(f'--submission_path must be a .py file, got {path}')
  if path.is_relative_to(runners.REPO):
    return runners.REPO, str(path.relative_to(runners.REPO))
  return path.parent, path.name


def expected_trials(flags: List[str]) -> List[int]:
  """The ``trial_<k>`` numbers the run writes (hparam index range of the flags)."""
  if runners.flag_value(flags, 'tuning_ruleset') == 'self':
    return [1]
  count = int(runners.flag_value(flags, 'num_tuning_trials') or 1)
  start = runners.flag_value(flags, 'hparam_start_index')
  end = runners.flag_value(flags, 'hparam_end_index')
  indices = range(count)[int(start) if start else None : int(end) if end else None]
  return [k + 1 for k in indices]


def run_is_complete(run_dir: Path, trial_numbers: List[int]) -> bool:
  return bool(trial_numbers) and all(
    layout.is_complete(run_dir / layout.trial_dir_name(k)) for k in trial_numbers
  )


def prepared_flags(flags: List[str]) -> Tuple[Path, List[str]]:
  """(working directory, flags for ``submission_runner``): see the module docstring."""
  submission = runners.flag_value(flags, 'submission_path')
  if not submission:
    raise BenchError('the runner flags lack --submission_path')
  workdir, relative = submission_location(submission)
  out = runners.without_flags(
    flags, ['submission_path', 'resume_last_run', 'overwrite', 'stop_on_targets', *PATH_FLAGS]
  )
  for name in PATH_FLAGS:
    value = runners.flag_value(flags, name)
    if value:
      out.append(f'--{name}={Path(value).expanduser().resolve()}')
  if not runners.has_flag(out, 'framework'):
    out.append('--framework=jax')
  return workdir, [*out, f'--submission_path={relative}', '--overwrite']


def completion_record(
  trial_dir: Path, max_runtime_sec: Optional[float] = None, max_global_steps: Optional[int] = None
) -> file_formats.TrialComplete:
  """What the completion record of an official trial says (from its evaluations), with the
  budget it ran under where the launcher set one (``file_formats.BUDGET_FIELDS``) and the
  condition its budgets make it (:func:`bench_core.catalogue.condition_of_run`)."""
  record = {'runner': 'official'}
  if max_runtime_sec is not None:
    record['max_allowed_runtime_sec'] = max_runtime_sec
  if max_global_steps is not None:
    record['max_global_steps'] = max_global_steps
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


def run(
  flags: List[str],
  max_runtime_sec: Optional[float] = None,
  eval_period_time_sec: Optional[float] = None,
  progress=print,
) -> int:
  """Run ``submission_runner.main`` with ``flags`` (see the module docstring); its exit status.

  The run folder is locked meanwhile (``bench_core.layout.run_lock``)."""
  workload = runners.flag_value(flags, 'workload')
  experiment_dir = runners.flag_value(flags, 'experiment_dir')
  if not workload or not experiment_dir:
    raise BenchError('the runner flags need --workload and --experiment_dir')
  run_dir = layout.run_dir(experiment_dir, runners.flag_value(flags, 'experiment_name'), workload)
  numbers = expected_trials(flags)
  steps_flag = runners.flag_value(flags, 'max_global_steps')
  max_steps = int(steps_flag) if steps_flag else None
  with layout.run_lock(run_dir):
    return _run_locked(
      flags, run_dir, numbers, max_runtime_sec, max_steps, eval_period_time_sec, progress
    )


def _run_locked(
  flags, run_dir, numbers, max_runtime_sec, max_steps, eval_period_time_sec, progress
):
  """:func:`run` once the run folder's lock is held."""
  # Imported here, not at the top: algoperf is optional, and importing submission_runner
  # loads TensorFlow and torch, which no local run should pay for.
  import submission_runner
  from absl import app
  from algoperf.workloads import workloads

  if runners.has_flag(flags, 'resume_last_run') and run_is_complete(run_dir, numbers):
    progress(f'{run_dir}: every trial has its completion record; nothing to run')
    return 0
  if run_dir.exists():
    progress(f'{run_dir}: unfinished run removed; it is rerun from scratch')
    shutil.rmtree(run_dir)
  stop_on_targets = '--nostop_on_targets' not in flags
  workdir, official_flags = prepared_flags(flags)
  workloads.import_workload = overriding_import_workload(
    workloads.import_workload,
    max_runtime_sec=max_runtime_sec,
    stop_on_targets=stop_on_targets,
    eval_period_time_sec=eval_period_time_sec,
  )
  os.chdir(workdir)
  sys.path.insert(0, str(workdir))
  try:
    app.run(submission_runner.main, argv=['submission_runner', *official_flags])
    status = 0
  except SystemExit as e:
    status = 0 if e.code in (None, 0) else (e.code if isinstance(e.code, int) else 1)
  if status == 0:
    for k in numbers:
      trial_dir = run_dir / layout.trial_dir_name(k)
      if trial_dir.is_dir():
        file_formats.mark_complete(
          trial_dir, completion_record(trial_dir, max_runtime_sec, max_steps)
        )
  return status
