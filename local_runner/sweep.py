"""``python -m local_runner.sweep``: every (condition, algorithm, workload, study) trial, resumable.

Layout (what ``scoring_ext`` reads, one tree per condition):
``<EXP>/<condition>/<algorithm>/study_<s>/<workload>_jax/trial_1/``.
Study ``s`` (1-based) uses seed ``seed_base + s`` for every algorithm and
workload, so algorithms are compared on the same seeds; the plan and seeds are
recorded in ``<EXP>/sweep.json``.

Each trial runs in its own process (the local runner for embedded workloads,
``hardware_transfer.launch`` + the official runner otherwise) with
``--resume_last_run`` and without target stopping (the study runs whole budgets). A trial is
done when its ``trial_complete.json`` exists: rerunning the same command skips
finished trials, and reruns an interrupted one from scratch. ``--jobs N`` runs
N trials at once. ``--slurm FILE`` writes a SLURM array job instead (one array
task per trial, same commands, idempotent on requeue).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import List, Optional

from local_runner.errors import RunnerError
from local_runner.logs import is_trial_complete, write_json
from local_runner.submit import REPO, runner_flags, search_space_path
from local_runner.workloads import EMBEDDED_WORKLOADS

CONDITIONS = ('time', 'step')


@dataclasses.dataclass(frozen=True)
class Trial:
  condition: str
  algorithm: str
  workload: str
  study: int
  seed: int

  def trial_dir(self, exp: Path) -> Path:
    return (exp / self.condition / self.algorithm / f'study_{self.study}'
            / f'{self.workload}_jax' / 'trial_1')

  @property
  def label(self) -> str:
    return f'{self.condition}/{self.algorithm}/study_{self.study}/{self.workload}'


def plan(algorithms, workloads, studies: int, conditions, seed_base: int) -> List[Trial]:
  """All trials, conditions outermost and studies innermost."""
  for condition in conditions:
    if condition not in CONDITIONS:
      raise RunnerError(f'unknown condition {condition!r} (--conditions); expected time or step')
  if studies < 1:
    raise RunnerError(f'--studies must be at least 1, got {studies}')
  return [Trial(c, a, w, s, seed_base + s) for c in conditions for a in algorithms
          for w in workloads for s in range(1, studies + 1)]


def trial_command(trial: Trial, exp: Path, budgets: Optional[str] = None,
                  python: str = sys.executable, step_budgets: Optional[str] = None) -> List[str]:
  """The command that runs one trial into its place in the layout."""
  submission = REPO / 'submissions' / trial.algorithm / 'submission.py'
  if not submission.is_file():
    raise RunnerError(f'no submission {submission} (algorithm {trial.algorithm!r})')
  space = search_space_path(trial.algorithm, trial.workload, trial.condition)
  flags = runner_flags(trial.workload, submission, space, exp / trial.condition / trial.algorithm,
                       f'study_{trial.study}', trial.seed)
  embedded = trial.workload in EMBEDDED_WORKLOADS
  if embedded:
    flags.append('--nostop_on_targets')
  if trial.condition == 'step':
    override = ['--step_budgets', step_budgets] if step_budgets else []
    return [python, '-m', 'hardware_transfer.launch', '--condition', 'step', *override, '--',
            *flags]
  if budgets:
    return [python, '-m', 'hardware_transfer.launch', '--budgets', budgets, '--', *flags]
  return [python, '-m', 'local_runner' if embedded else 'submission_runner', *flags]


class Progress:
  """Prints done/total, the trial starting or ending, elapsed time and an ETA."""

  def __init__(self, total: int, already_done: int, jobs: int, out=print):
    self.total, self.done, self.jobs, self.out = total, already_done, jobs, out
    self.start = time.monotonic()
    self.durations: List[float] = []
    self.lock = threading.Lock()

  def _eta(self) -> str:
    if not self.durations:
      return '?'
    remaining = (self.total - self.done) * (sum(self.durations) / len(self.durations)) / self.jobs
    return f'{remaining / 60:.1f} min'

  def started(self, trial: Trial) -> None:
    with self.lock:
      self.out(f'[{self.done}/{self.total}] start {trial.label} (seed {trial.seed})  '
               f'elapsed {(time.monotonic() - self.start) / 60:.1f} min  ETA {self._eta()}')

  def finished(self, trial: Trial, seconds: float, ok: bool) -> None:
    with self.lock:
      self.done += 1
      self.durations.append(seconds)
      status = 'done' if ok else 'FAILED'
      self.out(f'[{self.done}/{self.total}] {status} {trial.label} in {seconds:.0f}s  '
               f'elapsed {(time.monotonic() - self.start) / 60:.1f} min  ETA {self._eta()}')


def run_trial(trial: Trial, exp: Path, budgets: Optional[str], progress: Progress,
              step_budgets: Optional[str] = None) -> bool:
  """Run one trial in a subprocess, its output in ``<trial parent>/sweep.log``; True on success."""
  command = trial_command(trial, exp, budgets, step_budgets=step_budgets)
  log_path = trial.trial_dir(exp).parent / 'sweep.log'
  log_path.parent.mkdir(parents=True, exist_ok=True)
  progress.started(trial)
  start = time.monotonic()
  with open(log_path, 'a', encoding='utf-8') as log:
    log.write(f'$ {shlex.join(command)}\n')
    log.flush()
    code = subprocess.call(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
  ok = code == 0 and is_trial_complete(trial.trial_dir(exp))
  progress.finished(trial, time.monotonic() - start, ok)
  if not ok:
    progress.out(f'    see {log_path} (exit code {code})')
  return ok


def run_sweep(trials: List[Trial], exp: Path, jobs: int = 1, budgets: Optional[str] = None,
              out=print, step_budgets: Optional[str] = None) -> List[Trial]:
  """Runs the trials not yet complete; returns those that failed."""
  todo = [t for t in trials if not is_trial_complete(t.trial_dir(exp))]
  out(f'sweep: {len(trials)} trials, {len(trials) - len(todo)} already complete, '
      f'{len(todo)} to run with {jobs} job(s) -> {exp}')
  progress = Progress(len(trials), len(trials) - len(todo), jobs, out)
  with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
    results = list(pool.map(lambda t: run_trial(t, exp, budgets, progress, step_budgets), todo))
  return [t for t, ok in zip(todo, results) if not ok]


def write_manifest(exp: Path, trials: List[Trial], args: dict) -> None:
  exp.mkdir(parents=True, exist_ok=True)
  write_json(exp / 'sweep.json', {'arguments': args,
                                  'trials': [dataclasses.asdict(t) for t in trials]})


SBATCH_TEMPLATE = """#!/bin/bash
#SBATCH --job-name={job_name}
#SBATCH --array=0-{last}
#SBATCH --time={time_limit}
#SBATCH --gpus-per-task={gpus}
#SBATCH --output={log_dir}/%A_%a.out
{partition_line}
# One array task per trial; task i runs line i+1 of {commands}.
# Idempotent on requeue: a finished trial (trial_complete.json) is skipped by the
# runner's --resume_last_run, an interrupted one is rerun from scratch.
set -euo pipefail
cd {repo}
{setup}
line=$(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" {commands})
echo "trial $SLURM_ARRAY_TASK_ID: $line"
eval "$line"
"""


def write_slurm(path: Path, trials: List[Trial], exp: Path, budgets: Optional[str], *,
                partition: Optional[str], gpus: int, time_limit: str, setup: str,
                python: str = 'python', step_budgets: Optional[str] = None) -> Path:
  """The sbatch script and, beside it, ``<name>.commands`` (one trial command per line)."""
  if not trials:
    raise RunnerError('no trials to put in the SLURM array')
  path = Path(path)
  commands = path.with_suffix('.commands')
  lines = [shlex.join(trial_command(t, exp, budgets, python, step_budgets)) for t in trials]
  commands.write_text('\n'.join(lines) + '\n')
  log_dir = exp / 'slurm_logs'
  path.write_text(SBATCH_TEMPLATE.format(
    job_name='velo-bench-sweep', last=len(trials) - 1, time_limit=time_limit, gpus=gpus,
    log_dir=log_dir, partition_line=f'#SBATCH --partition={partition}' if partition else '',
    commands=commands.resolve(), repo=REPO, setup=setup or ''))
  log_dir.mkdir(parents=True, exist_ok=True)
  return commands


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--algorithms', nargs='+', required=True)
  parser.add_argument('--workloads', nargs='+', required=True)
  parser.add_argument('--studies', type=int, default=3)
  parser.add_argument('--conditions', nargs='+', default=list(CONDITIONS))
  parser.add_argument('--experiment_dir', default='experiments')
  parser.add_argument('--seed_base', type=int, default=0, help='study s gets seed seed_base + s')
  parser.add_argument('--jobs', type=int, default=1)
  parser.add_argument('--budgets', default=None, help='transferred time budgets (budgets.json)')
  parser.add_argument('--step_budgets', default=None,
                      help='step budgets JSON {workload: steps} (default: built-in / step_hint)')
  parser.add_argument('--slurm', default=None,
                      help='write a SLURM array job here instead of running')
  parser.add_argument('--partition', default=None)
  parser.add_argument('--gpus_per_task', type=int, default=1)
  parser.add_argument('--time_limit', default='24:00:00')
  parser.add_argument('--setup', default='', help='shell line run first in each task, e.g. '
                      '"source .venv/bin/activate" or a container entry')
  parser.add_argument('--python', default='python', help='python of the SLURM tasks')
  args = parser.parse_args(argv)
  exp = Path(args.experiment_dir).resolve()
  try:
    trials = plan(args.algorithms, args.workloads, args.studies, args.conditions, args.seed_base)
    for t in {(t.algorithm, t.workload, t.condition): t for t in trials}.values():
      trial_command(t, exp, args.budgets, step_budgets=args.step_budgets)  # fail fast on a missing submission or search space
    write_manifest(exp, trials, vars(args))
    if args.slurm:
      commands = write_slurm(Path(args.slurm), trials, exp, args.budgets, partition=args.partition,
                             gpus=args.gpus_per_task, time_limit=args.time_limit,
                             setup=args.setup, python=args.python,
                             step_budgets=args.step_budgets)
      print(f'wrote {args.slurm} ({len(trials)} array tasks) and {commands}; '
            f'submit with: sbatch {args.slurm}')
      return 0
    failed = run_sweep(trials, exp, args.jobs, args.budgets, out=lambda m: print(m, flush=True),
                       step_budgets=args.step_budgets)
  except RunnerError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  if failed:
    print(f'sweep: {len(failed)} trial(s) failed: ' + ', '.join(t.label for t in failed),
          file=sys.stderr)
    return 1
  print('sweep: all trials complete')
  return 0


if __name__ == '__main__':
  sys.exit(main())
