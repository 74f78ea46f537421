"""The trial-folder layout: where runs write, what the files are called, how to find them again.

One run of a runner (official or local) writes AlgoPerf's layout::

    <experiment_dir>/<experiment_name>/<workload>_<framework>/trial_<k>/
        eval_measurements.csv   one row per evaluation (columns sorted)
        measurements.csv        every logged scalar row (local runner)
        hparams.json  meta_data_0.json  flags_0.json
        diverged.json           the trial stopped on a non-finite loss or parameters
        trial_complete.json     the completion record (see below)
    <experiment_dir>/<experiment_name>/<workload>_<framework>/<workload>_<framework>_<stamp>.log
                                the official runner's absl text log, when its output was kept
                                (AlgoPerf's scripts name it with an ``MM-DD-YYYY-HH-MM-SS`` stamp);
                                one file holds every trial of the run

Beside each run folder (which a rerun removes) lie the files the study layer writes before
the run: ``<workload>_<framework>_run_config.json``, the trial's run configuration that the
runner reads (``bench_core.run_config``), and, under step control for a search space with a
``step_budget``, ``<workload>_<framework>_tuning_search_space.json``.

A study places one run per (condition, algorithm, study, workload): the runner's
``experiment_dir`` is ``<root>/<condition>/<algorithm>`` and its ``experiment_name``
``study_<s>``, so the trial lands in
``<root>/<condition>/<algorithm>/study_<s>/<workload>_jax/trial_1/`` and the scoring
reads each condition's tree ``<root>/<condition>`` as
``<algorithm>/<study>/<workload>_<framework>/trial_<k>``.

The completion record ``trial_complete.json`` says a trial ended (normally or diverged); its
fields, and how a finished trial is compared with a new request for it, are
``bench_core.file_formats``' (with every other file of the project's own).

The divergence record ``diverged.json`` (``bench_core.file_formats.Diverged``) says the trial stopped
early because it diverged. The local runner's rule (``local_runner.trial_loop``): parameters
that are not finite after a step, or a loss at an evaluation (``train/``, ``validation/``,
``test/loss``) that is not finite or above :data:`DIVERGED_LOSS`.

While a process runs a trial, it holds an exclusive ``flock`` on ``<run folder>.run.lock``
(:func:`run_lock`; beside the run folder, which a rerun removes and recreates, and apart from
the SLURM script's ``<run folder>.lock``, which its task holds while it runs the command).
A second process that would run the same trial refuses, naming the holder's pid; the lock
goes with the process that holds it, whatever ends it (``kill -9`` included), so a rerun
after a crash finds it free. A sweep holds :data:`SWEEP_LOCK` in its experiment folder the
same way, so that two sweeps never write one ``sweep.log``.

Every file is written through a temporary file and ``os.replace`` (:func:`atomic_write_text`),
with the permissions the umask gives a new file, so that a crash never leaves a torn file;
JSON is read through :func:`read_json_object`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

from bench_core.errors import BenchError

FRAMEWORK = 'jax'
FRAMEWORKS = ('jax', 'pytorch')

EVAL_MEASUREMENTS = 'eval_measurements.csv'
MEASUREMENTS = 'measurements.csv'
HPARAMS = 'hparams.json'
META_DATA = 'meta_data_0.json'
FLAGS = 'flags_0.json'
DIVERGED = 'diverged.json'
TRIAL_COMPLETE = 'trial_complete.json'

TEXT_LOG_SUFFIX = '.log'
RUN_LOCK_SUFFIX = '.run.lock'
SWEEP_LOCK = 'sweep.lock'

#: A loss above this at an evaluation counts as divergence. Every workload's loss is a mean
#: per-example loss of order 1 to 10 at initialisation (the cross-entropy of C classes starts
#: near ln C); 1e6 is far above anything a training run that still learns reports.
DIVERGED_LOSS = 1e6

_WORKLOAD_DIR = re.compile(r'^(?P<workload>.+)_(?P<framework>' + '|'.join(FRAMEWORKS) + r')$')
_TRIAL_DIR = re.compile(r'^trial_(?P<k>\d+)$')
_LOG_STAMP = re.compile(
  r'_(?P<M>\d{2})-(?P<D>\d{2})-(?P<Y>\d{4})-(?P<h>\d{2})-(?P<m>\d{2})-'
  r'(?P<s>\d{2})' + re.escape(TEXT_LOG_SUFFIX) + '$'
)


# ---- names and paths -------------------------------------------------------------------------


def workload_dir_name(workload: str, framework: str = FRAMEWORK) -> str:
  """``criteo1tb`` -> ``criteo1tb_jax``."""
  return f'{workload}_{framework}'


def split_workload_dir(name: str) -> tuple[str, str]:
  """``ogbg_mini_jax`` -> ``('ogbg_mini', 'jax')``; a name without a framework suffix keeps ''."""
  match = _WORKLOAD_DIR.match(name)
  if match is None:
    return name, ''
  return match['workload'], match['framework']


def trial_dir_name(k: int) -> str:
  """The folder of the k-th (1-based) hyperparameter point: ``trial_<k>``."""
  return f'trial_{k}'


def trial_number(name: str) -> int | None:
  """``trial_3`` -> 3; None for any other name."""
  match = _TRIAL_DIR.match(name)
  return int(match['k']) if match else None


def run_dir(
  experiment_dir: str | Path, experiment_name: str | None, workload: str, framework: str = FRAMEWORK
) -> Path:
  """``<experiment_dir>[/<experiment_name>]/<workload>_<framework>``: what one runner run owns."""
  root = Path(experiment_dir).expanduser()
  if experiment_name:
    root = root / experiment_name
  return root / workload_dir_name(workload, framework)


def step_search_space_file(run_dir: str | Path) -> Path:
  """Beside the run folder (which a rerun removes): the search space a step-control run was
  given, with its step budget filled in (``<workload>_<framework>_tuning_search_space.json``)."""
  run_dir = Path(run_dir)
  return run_dir.with_name(f'{run_dir.name}_tuning_search_space.json')


def run_config_file(run_dir: str | Path) -> Path:
  """Beside the run folder (which a rerun removes): the run configuration of its trial
  (``bench_core.run_config``; ``<workload>_<framework>_run_config.json``)."""
  run_dir = Path(run_dir)
  return run_dir.with_name(f'{run_dir.name}_run_config.json')


def study_name(study: int) -> str:
  """The runner's ``experiment_name`` of study ``s``: ``study_<s>``."""
  return f'study_{study}'


#: Name of the JAX compilation cache that step-control trials of the local runner share, in
#: their runner's ``experiment_dir`` (:func:`compilation_cache_dir`).
COMPILATION_CACHE = '.jax_compilation_cache'


def compilation_cache_dir(experiment_dir: str | Path) -> Path:
  """``<experiment_dir>/.jax_compilation_cache``: the compiled programs (model
  initialisation, train step, evaluation) that the step-control trials of one algorithm
  share. Under step control a result does not depend on time, so the studies after the
  first of an (algorithm, workload) read their programs instead of compiling them again;
  time-control trials never use it (their compilation is part of what they measure)."""
  return Path(experiment_dir) / COMPILATION_CACHE


def study_runner_root(root: str | Path, condition: str, algorithm: str) -> Path:
  """The runner's ``experiment_dir`` of one algorithm under one condition of a study tree."""
  return Path(root) / condition / algorithm


def study_run_dir(
  root: str | Path, condition: str, algorithm: str, study: int, workload: str
) -> Path:
  """``<root>/<condition>/<algorithm>/study_<s>/<workload>_jax``."""
  return run_dir(study_runner_root(root, condition, algorithm), study_name(study), workload)


# ---- finding trials ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class FoundTrial:
  """One ``trial_<k>`` folder of a scoring tree and the names its path gives it."""

  algorithm: str
  study: str
  workload: str
  framework: str
  trial: str
  path: str


def _subdirs(path: str | Path) -> List[str]:
  return sorted(e.name for e in os.scandir(path) if e.is_dir())


def find_scoring_trials(tree: str | Path) -> List[FoundTrial]:
  """Every ``<tree>/<algorithm>/<study>/<workload>_<framework>/trial_<k>/``, sorted by path."""
  found = []
  for algorithm in _subdirs(tree):
    algorithm_dir = os.path.join(tree, algorithm)
    for study in _subdirs(algorithm_dir):
      study_dir = os.path.join(algorithm_dir, study)
      for workload_dir in _subdirs(study_dir):
        workload, framework = split_workload_dir(workload_dir)
        for trial in _subdirs(os.path.join(study_dir, workload_dir)):
          if trial_number(trial) is not None:
            found.append(
              FoundTrial(
                algorithm,
                study,
                workload,
                framework,
                trial,
                os.path.join(study_dir, workload_dir, trial),
              )
            )
  return found


def find_trials_anywhere(
  root: str | Path, required_file: str = EVAL_MEASUREMENTS
) -> Dict[str, List[Path]]:
  """workload -> its ``<workload>_<framework>/trial_<k>`` folders holding ``required_file``,
  at any depth under ``root``, in trial order."""
  found: Dict[str, List[tuple]] = {}
  for file in Path(root).rglob(required_file):
    trial = file.parent
    k = trial_number(trial.name)
    workload, framework = split_workload_dir(trial.parent.name)
    if k is not None and framework:
      found.setdefault(workload, []).append((k, str(trial), trial))
  return {w: [p for _, _, p in sorted(trials)] for w, trials in sorted(found.items())}


def text_logs(run: str | Path) -> List[Path]:
  """The text logs (``*.log``) of one run folder ``<workload>_<framework>/``, oldest first.

  Age is the ``_MM-DD-YYYY-HH-MM-SS`` stamp at the end of the name; files without one come
  first, by name. A rerun of the same folder appends a newer log, whose trials replace the
  older one's.
  """
  run = Path(run)
  if not run.is_dir():
    return []

  def age(path: Path) -> tuple:
    match = _LOG_STAMP.search(path.name)
    if match is None:
      return (0, (), path.name)
    return (1, tuple(int(match[k]) for k in 'YMDhms'), path.name)

  logs = [p for p in run.iterdir() if p.is_file() and p.name.endswith(TEXT_LOG_SUFFIX)]
  return sorted(logs, key=age)


def trial_dirs(run: str | Path) -> Iterator[Path]:
  """The ``trial_<k>`` folders of one run folder, in trial order."""
  run = Path(run)
  if not run.is_dir():
    return iter(())
  numbered = [(trial_number(p.name), p) for p in run.iterdir() if p.is_dir()]
  return iter([p for k, p in sorted((k, p) for k, p in numbered if k is not None)])


# ---- the one reader and the one writer --------------------------------------------------------


def read_json_object(path: str | Path, what: str = 'a JSON object') -> Dict[str, Any]:
  """The top-level JSON object of ``path``; :class:`BenchError` naming the file otherwise."""
  path = Path(path)
  try:
    text = path.read_text(encoding='utf-8')
  except FileNotFoundError:
    raise BenchError(f'{path}: file not found') from None
  except OSError as e:
    raise BenchError(f'{path}: cannot read ({e.strerror})') from None
  try:
    data = json.loads(text)
  except json.JSONDecodeError as e:
    raise BenchError(f'{path}: not valid JSON ({e.msg} at line {e.lineno})') from None
  if not isinstance(data, dict):
    raise BenchError(f'{path}: expected {what}, got {type(data).__name__}')
  return data


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
  """Write ``data`` through a temporary file in the same folder and ``os.replace``."""
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.name}.', suffix='.tmp')
  try:
    os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0600, widened as open() would create it
    with os.fdopen(fd, 'wb') as f:
      f.write(data)
    os.replace(tmp, path)
  except BaseException:
    Path(tmp).unlink(missing_ok=True)
    raise


def _umask() -> int:
  mask = os.umask(0o022)
  os.umask(mask)
  return mask


def atomic_write_text(path: str | Path, text: str) -> None:
  """:func:`atomic_write_bytes` of ``text`` in UTF-8."""
  atomic_write_bytes(path, text.encode('utf-8'))


def write_json(path: str | Path, data: Any) -> None:
  """``data`` as indented JSON with sorted keys, atomically."""
  atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + '\n')


def update_json_object(path: str | Path, updates: Dict[str, Any]) -> Dict[str, Any]:
  """Set ``updates``' keys in the JSON object at ``path`` (created if absent), keep the others
  (for AlgoPerf's own files, such as a search space; the project's own kinds are
  ``bench_core.file_formats``')."""
  path = Path(path)
  data = read_json_object(path) if path.exists() else {}
  data.update(updates)
  write_json(path, data)
  return data


# ---- completion and divergence records --------------------------------------------------------


def is_complete(trial_dir: str | Path) -> bool:
  return (Path(trial_dir) / TRIAL_COMPLETE).is_file()


def is_diverged(trial_dir: str | Path) -> bool:
  return (Path(trial_dir) / DIVERGED).is_file()


def is_diverged_loss(value: float) -> bool:
  """The loss part of the divergence rule (module docstring): non-finite or above
  :data:`DIVERGED_LOSS`."""
  return not math.isfinite(value) or value > DIVERGED_LOSS


# ---- locks -------------------------------------------------------------------------------------


def run_lock_path(run: str | Path) -> Path:
  """``<run folder>.run.lock``: held while a process runs the run folder's trials."""
  run = Path(run)
  return run.with_name(run.name + RUN_LOCK_SUFFIX)


def lock_holder(lock_file: str | Path) -> Optional[int]:
  """The pid recorded by the process that holds ``lock_file`` now (0 if it wrote none), or
  None when nobody holds it. Creates nothing."""
  try:
    fd = os.open(lock_file, os.O_RDONLY)
  except FileNotFoundError:
    return None
  try:
    try:
      fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
      text = os.read(fd, 64).decode('ascii', 'replace').strip()
      return int(text) if text.isdigit() else 0
    return None
  finally:
    os.close(fd)


@contextlib.contextmanager
def exclusive_lock(lock_file: str | Path, what: str) -> Iterator[None]:
  """Hold an exclusive ``flock`` on ``lock_file`` (created, with this pid in it) for the
  block; a :class:`BenchError` naming ``what`` and the holder's pid if another process holds
  it. The lock is released when the block ends or the process does."""
  lock_file = Path(lock_file)
  lock_file.parent.mkdir(parents=True, exist_ok=True)
  fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o666)
  try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except BlockingIOError:
    text = os.read(fd, 64).decode('ascii', 'replace').strip()
    os.close(fd)
    holder = f'process {text}' if text.isdigit() else 'another process'
    raise BenchError(
      f'{what} is in use by {holder} (lock {lock_file}): wait for it to end, or stop it'
    ) from None
  try:
    os.ftruncate(fd, 0)
    os.write(fd, f'{os.getpid()}\n'.encode('ascii'))
    yield
  finally:
    os.close(fd)


def run_lock(run: str | Path):
  """:func:`exclusive_lock` of a run folder (:func:`run_lock_path`)."""
  return exclusive_lock(run_lock_path(run), f'the run folder {run}')
