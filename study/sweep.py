"""``python -m study.sweep``: every (condition, algorithm, workload, study) trial, resumable.

Layout (``bench_core.layout``; what ``scoring_ext`` reads, one tree per condition):
``<EXP>/<condition>/<algorithm>/study_<s>/<workload>_jax/trial_1/``. Study ``s`` (1-based)
uses seed ``seed_base + s`` for every algorithm and workload, so algorithms are compared on
the same seeds; the plan is recorded in ``<EXP>/sweep.json``.

Each trial runs ``TrialSpec.command()`` (from its run configuration file) in its own process (local runner for embedded
workloads, the official runner otherwise), for its whole budget (no stop at the targets).
A trial is done when its completion record exists, for either runner: rerunning the same
command skips finished trials and reruns an interrupted one from scratch. Budgets files,
submissions and search spaces are checked for every trial before the first one starts, a
finished trial is compared with the request (a different budget, prompt or search space is
named), and a trial that another process still runs (say, after ``kill -9`` of only the
sweep) is refused; one sweep at a time runs in an experiment folder (``sweep.lock``).
``--jobs N`` runs N trials at once. ``--slurm FILE`` writes a SLURM array job instead
(``study.slurm``).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import queue
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import List, Optional, Set

from bench_core import arguments, catalogue, layout
from bench_core.cli import run_main
from bench_core.errors import BenchError
from local_runner.search_space import load_search_space
from study import budgets, locate, slurm
from study import cores as study_cores
from study.trial import TrialSpec


def plan(
  algorithms, workloads, studies: int, conditions, seed_base: int, root, **options
) -> List[TrialSpec]:
  """All trials, conditions outermost and studies innermost; ``options`` go to every
  :class:`TrialSpec`."""
  for condition in conditions:
    catalogue.check_condition(condition, '--conditions')
  for workload in workloads:
    catalogue.check_workload(workload, '--workloads')
  if studies < 1:
    raise BenchError(f'--studies must be at least 1, got {studies}')
  return [
    TrialSpec(a, w, c, s, seed_base + s, root, **options)
    for c in conditions
    for a in algorithms
    for w in workloads
    for s in range(1, studies + 1)
  ]


def check_plan(trials: List[TrialSpec], compare_finished: bool = True) -> None:
  """Everything a trial needs, checked for all before any starts: submission (and the VeLO
  checkpoint of a VeLO one), search space (loaded: its values must be plausible; placeholder
  prompts refused unless allowed), budgets files and their entries (also a file the condition
  does not use: ``study.budgets``), an interpreter for each runner, finished trials against
  the request (unless ``compare_finished`` is off: they are to be replaced) and trials that
  another process runs now."""
  for t in {(t.algorithm, t.workload, t.condition): t for t in trials}.values():
    t.command()
    load_search_space(t.search_space())
    t.run_config()
  for algorithm in dict.fromkeys(t.algorithm for t in trials):
    locate.check_velo_checkpoint(algorithm)
  budgets.check_all(trials)
  if compare_finished:
    check_finished(trials)
  check_not_running(trials)


def check_finished(trials: List[TrialSpec]) -> None:
  """A finished trial that ran under another budget, prompt or search space than requested
  is named, with how it differs: it is not "already complete" for this request."""
  differing = [(t, t.mismatches()) for t in trials if t.is_complete()]
  differing = [(t, m) for t, m in differing if m]
  if differing:
    lines = [f'  {t.trial_dir}: ' + '; '.join(m) for t, m in differing[:10]]
    more = len(differing) - len(lines)
    raise BenchError(
      f'{len(differing)} finished trial(s) ran under another request than this one:\n'
      + '\n'.join(lines)
      + (f'\n  ... and {more} more' if more else '')
      + '\nchoose another experiment folder (EXP=), or remove those trial folders to rerun them'
    )


def check_not_running(trials: List[TrialSpec]) -> None:
  """A trial that another process is running now (its run lock is held) is named."""
  for t in trials:
    holder = layout.lock_holder(layout.run_lock_path(t.run_dir))
    if holder is not None:
      raise BenchError(
        f'{t.label} is being run by process {holder or "(unknown)"} '
        f'({layout.run_lock_path(t.run_dir)}): wait for it to end, or stop it, then rerun'
      )


class Progress:
  """Prints done/total, the trial starting or ending, elapsed time and an ETA."""

  def __init__(self, total: int, already_done: int, jobs: int, out=print, clock=time.monotonic):
    self.total, self.done, self.jobs, self.out, self.clock = total, already_done, jobs, out, clock
    self.start = clock()
    self.durations: List[float] = []
    self.lock = threading.Lock()

  def _eta(self) -> str:
    if not self.durations:
      return '?'
    remaining = (self.total - self.done) * (sum(self.durations) / len(self.durations)) / self.jobs
    return f'{remaining / 60:.1f} min'

  def _elapsed(self) -> str:
    return f'{(self.clock() - self.start) / 60:.1f} min'

  def started(self, trial: TrialSpec) -> None:
    with self.lock:
      self.out(
        f'[{self.done}/{self.total}] start {trial.label} (seed {trial.seed})  '
        f'elapsed {self._elapsed()}  ETA {self._eta()}'
      )

  def finished(self, trial: TrialSpec, seconds: float, ok: bool) -> None:
    with self.lock:
      self.done += 1
      self.durations.append(seconds)
      status = 'done' if ok else 'FAILED'
      self.out(
        f'[{self.done}/{self.total}] {status} {trial.label} in {seconds:.0f}s  '
        f'elapsed {self._elapsed()}  ETA {self._eta()}'
      )


def run_trial(trial: TrialSpec, progress: Progress, cores: Optional[Set[int]] = None) -> bool:
  """Run one trial in a subprocess from its run configuration (written now), its output in
  ``<run dir>/../sweep.log``, confined to ``cores`` when given (``study.cores``); True on
  success."""
  trial.write_run_config()
  command = trial.command()
  log_path = trial.run_dir.parent / 'sweep.log'
  log_path.parent.mkdir(parents=True, exist_ok=True)
  progress.started(trial)
  start = progress.clock()
  with open(log_path, 'a', encoding='utf-8') as log:
    log.write(f'$ {shlex.join(command)}\n')
    log.flush()
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    if cores:
      # Set right after the start, long before the interpreter imports JAX and sizes its
      # thread pools; processes the trial starts inherit it.
      study_cores.pin(process.pid, cores)
    code = process.wait()
  ok = code == 0 and trial.is_complete()
  progress.finished(trial, progress.clock() - start, ok)
  if not ok:
    progress.out(f'    see {log_path} (exit code {code})')
  return ok


def run_sweep(trials: List[TrialSpec], jobs: int = 1, out=print) -> List[TrialSpec]:
  """Runs the trials not yet complete, ``jobs`` at a time, each job on cores of its own
  (``study.cores``); returns those that failed."""
  todo = [t for t in trials if not t.is_complete()]
  slots = study_cores.core_slots(jobs, study_cores.usable_cores())
  out(
    f'sweep: {len(trials)} trials, {len(trials) - len(todo)} already complete, '
    f'{len(todo)} to run with {jobs} job(s)' + (f', {study_cores.describe(slots)}' if slots else '')
  )
  free = queue.SimpleQueue()
  for slot in slots or [None] * jobs:
    free.put(slot)

  def run_on_a_free_slot(trial: TrialSpec) -> bool:
    slot = free.get()
    try:
      return run_trial(trial, progress, slot)
    finally:
      free.put(slot)

  progress = Progress(len(trials), len(trials) - len(todo), jobs, out)
  with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
    results = list(pool.map(run_on_a_free_slot, todo))
  return [t for t, ok in zip(todo, results) if not ok]


def sweep_lock(root: Path):
  """Held while a sweep runs in ``root``: a second sweep there refuses (``layout``)."""
  return layout.exclusive_lock(Path(root) / layout.SWEEP_LOCK, f'the experiment folder {root}')


def write_manifest(root: Path, trials: List[TrialSpec], arguments: dict) -> None:
  layout.write_json(
    Path(root) / 'sweep.json',
    {
      'arguments': arguments,
      'trials': [{k: v for k, v in dataclasses.asdict(t).items() if k != 'root'} for t in trials],
    },
  )


def parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(
    prog='python -m study.sweep',
    description=__doc__,
    formatter_class=argparse.RawDescriptionHelpFormatter,
  )
  p.add_argument('--algorithms', nargs='+', required=True, help='submission folder names')
  p.add_argument('--workloads', nargs='+', required=True, help='embedded or official names')
  p.add_argument(
    '--studies', type=arguments.count(1), default=3, help='studies (seeds) per trial (>= 1)'
  )
  p.add_argument('--conditions', nargs='+', default=list(catalogue.CONDITIONS))
  p.add_argument('--experiment_dir', default='experiments', help='root of the trial folders')
  p.add_argument(
    '--seed_base', type=arguments.count(0), default=0, help='study s gets seed seed_base + s'
  )
  p.add_argument(
    '--jobs',
    type=arguments.count(1),
    default=1,
    help='trials run at once (>= 1; keep 1 for time control on a shared machine)',
  )
  p.add_argument(
    '--budgets',
    default=None,
    help="transferred time budgets (budgets.json); default: the workloads' own",
  )
  p.add_argument(
    '--step_budgets',
    default=None,
    help='step budgets JSON {workload: steps} (default: built-in / step_hint)',
  )
  p.add_argument('--data_dir', default=None, help="the official runner's --data_dir")
  p.add_argument(
    '--allow_placeholder_prompts',
    action='store_true',
    help='let VeLO run on the placeholder time-control prompts of official workloads',
  )
  slurm.add_arguments(p)
  return p


def main(argv: Optional[List[str]] = None) -> int:
  args = parser().parse_args(argv)
  root = Path(args.experiment_dir).expanduser().resolve()
  arguments.check_writable(root, '--experiment_dir', kind='folder')
  if args.slurm:
    arguments.check_writable(args.slurm, '--slurm')
    if args.report_dir:
      arguments.check_writable(args.report_dir, '--report_dir', kind='folder')
    slurm.check_resource_arguments(args)
  trials = plan(
    args.algorithms,
    args.workloads,
    args.studies,
    args.conditions,
    args.seed_base,
    root,
    budgets=args.budgets,
    step_budgets=args.step_budgets,
    data_dir=args.data_dir,
    allow_placeholder_prompts=args.allow_placeholder_prompts,
  )
  check_plan(trials)
  if args.slurm:
    return slurm.main_from_args(args, trials, root)
  with sweep_lock(root):
    write_manifest(root, trials, vars(args))
    failed = run_sweep(trials, args.jobs, out=lambda m: print(m, flush=True))
  if failed:
    print(
      f'sweep: {len(failed)} trial(s) failed: ' + ', '.join(t.label for t in failed),
      file=sys.stderr,
    )
    return 1
  print('sweep: all trials complete')
  return 0


if __name__ == '__main__':
  sys.exit(run_main(main))
