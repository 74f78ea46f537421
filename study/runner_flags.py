"""Runner flag strings: the one place in ``study/`` that reads or writes them.

* :func:`official_argv` builds the official ``submission_runner.py`` flags of a
  :class:`bench_core.file_formats.TrialConfig`: every path absolute except the submission,
  which the official runner imports as a module named after its path relative to the
  working directory (an absolute path fails with "the 'package' argument is required"): a
  submission inside this repository is given relative to the repository root, one elsewhere
  from its own folder. ``--overwrite`` is always passed (upstream ``--resume_last_run``
  crashes at the supported commit; ``study.official`` keeps finished runs itself).
* :func:`local_command` is the local runner's command line: ``--run_config=FILE`` (the
  runner reads the configuration itself) and the flags the configuration passes on.
* :func:`parse` reads the runner flags of ``python -m study.launch ... -- <runner flags>``
  (the official runner's flags, as users type them) into the fields of a configuration;
  flags a configuration does not model are kept, in order, as ``extra_runner_flags``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Dict, List, Tuple

from bench_core.errors import BenchError
from bench_core.file_formats import TrialConfig
from study import runners

#: The flags :func:`parse` turns into configuration fields (the rest are passed on).
_VALUE_FLAGS = {
  'workload': str,
  'framework': str,
  'submission_path': str,
  'tuning_search_space': str,
  'experiment_dir': str,
  'experiment_name': str,
  'rng_seed': int,
  'data_dir': str,
  'max_global_steps': int,
  'max_allowed_runtime_sec': float,
  'eval_every_steps': int,
}
_BOOLEAN_FLAGS = ('overwrite', 'resume_last_run', 'stop_on_targets')


def _parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(prog='runner flags', add_help=False, allow_abbrev=False)
  for name, kind in _VALUE_FLAGS.items():
    p.add_argument(f'--{name}', type=kind, default=None)
  for name in _BOOLEAN_FLAGS:
    p.add_argument(f'--{name}', dest=name, action='store_const', const=True, default=None)
    p.add_argument(f'--no{name}', dest=name, action='store_const', const=False)
  return p


def parse(flags: List[str]) -> Tuple[Dict[str, Any], Tuple[str, ...]]:
  """(the flags given, by name; the others, unchanged) for ``flags`` in absl's forms
  (``--name=v``, ``--name v``, ``--name``, ``--noname``)."""
  try:
    known, extra = _parser().parse_known_args(flags)
  except SystemExit:  # argparse has printed what it could not read
    raise BenchError(f'cannot read the runner flags {" ".join(flags)}') from None
  given = {k: v for k, v in vars(known).items() if v is not None}
  if given.get('framework', 'jax') != 'jax':
    raise BenchError(f'--framework={given["framework"]}: the study runs jax only')
  given.pop('framework', None)
  return given, tuple(extra)


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


def official_argv(config: TrialConfig) -> Tuple[Path, List[str]]:
  """(working directory, ``submission_runner`` argv without the program name) of ``config``."""
  workdir, relative = submission_location(config.submission_path)
  flags = [
    f'--workload={config.workload}',
    '--framework=jax',
    f'--submission_path={relative}',
    f'--tuning_search_space={Path(config.tuning_search_space).expanduser().resolve()}',
    f'--experiment_dir={Path(config.experiment_dir).expanduser().resolve()}',
    f'--rng_seed={config.rng_seed}',
    '--overwrite',
  ]
  if config.experiment_name:
    flags.append(f'--experiment_name={config.experiment_name}')
  if config.data_dir:
    flags.append(f'--data_dir={Path(config.data_dir).expanduser().resolve()}')
  if config.max_global_steps is not None:
    flags.append(f'--max_global_steps={config.max_global_steps}')
  return workdir, [*flags, *config.extra_runner_flags]


def expected_trials(config: TrialConfig) -> List[int]:
  """The ``trial_<k>`` numbers the official run writes (the hyperparameter index range that
  ``extra_runner_flags`` may give)."""
  given = _trial_range_parser().parse_known_args(list(config.extra_runner_flags))[0]
  if given.tuning_ruleset == 'self':
    return [1]
  indices = range(given.num_tuning_trials)[given.hparam_start_index : given.hparam_end_index]
  return [k + 1 for k in indices]


def _trial_range_parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
  p.add_argument('--tuning_ruleset', default='external')
  p.add_argument('--num_tuning_trials', type=int, default=1)
  p.add_argument('--hparam_start_index', type=int, default=None)
  p.add_argument('--hparam_end_index', type=int, default=None)
  return p


def local_command(
  config_file: Path, extra_runner_flags: Tuple[str, ...] = (), python: str = sys.executable
) -> List[str]:
  """The local runner's command line for the configuration in ``config_file`` (its
  ``extra_runner_flags`` after it)."""
  return [python, '-m', 'local_runner', f'--run_config={config_file}', *extra_runner_flags]
