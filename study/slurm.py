"""``python -m study.sweep ... --slurm FILE``: the sweep as a SLURM array job.

One array task per trial; task ``i`` runs line ``i + 1`` of ``<FILE stem>.commands``, which is
``TrialSpec.command()`` of trial ``i``: the same command the sweep runs. Idempotent on requeue:
a trial with its completion record is skipped, an interrupted one is rerun from scratch.

Defaults that work on a CPU partition and on a GPU one: no GPU request unless
``--gpus_per_task`` asks for one; each task runs the interpreter that generated the script
(the project's for embedded workloads, AlgoPerf's for official ones) unless ``--python`` or
``--setup`` say otherwise; the log folder is created before submission.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import List, Optional

from bench_core.errors import BenchError
from study.runners import REPO
from study.trial import TrialSpec

SBATCH_TEMPLATE = """#!/bin/bash
#SBATCH --job-name={job_name}
#SBATCH --array=0-{last}
#SBATCH --time={time_limit}
#SBATCH --output={log_dir}/%A_%a.out
{resource_lines}
# One array task per trial; task i runs line i+1 of {commands}.
# Idempotent on requeue: a finished trial (trial_complete.json) is skipped, an interrupted
# one is rerun from scratch.
set -euo pipefail
cd {repo}
{setup}
line=$(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" {commands})
echo "trial $SLURM_ARRAY_TASK_ID: $line"
eval "$line"
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
  g = p.add_argument_group('SLURM (with --slurm FILE: write an array job instead of running)')
  g.add_argument('--slurm', default=None, help='write a SLURM array job here instead of running')
  g.add_argument('--partition', default=None)
  g.add_argument('--gpus_per_task', type=int, default=0,
                 help='GPUs per array task (default 0: no GPU request)')
  g.add_argument('--cpus_per_task', type=int, default=None)
  g.add_argument('--mem', default=None, help='memory per task, e.g. 32G')
  g.add_argument('--time_limit', default='24:00:00')
  g.add_argument('--sbatch_line', action='append', default=[],
                 help='an extra "#SBATCH ..." option, e.g. --sbatch_line=--account=abc (repeatable)')
  g.add_argument('--setup', default='', help='shell line run first in each task, e.g. '
                 '"source /path/to/venv/bin/activate" or a container entry')
  g.add_argument('--python', default=None,
                 help='python of the tasks (default: the interpreter that wrote the script; '
                      '"python" when --setup is given)')


def resource_lines(partition: Optional[str], gpus: int, cpus: Optional[int], mem: Optional[str],
                   extra: List[str]) -> str:
  lines = []
  if partition:
    lines.append(f'#SBATCH --partition={partition}')
  if gpus:
    lines.append(f'#SBATCH --gpus-per-task={gpus}')
  if cpus:
    lines.append(f'#SBATCH --cpus-per-task={cpus}')
  if mem:
    lines.append(f'#SBATCH --mem={mem}')
  lines += [f'#SBATCH {e}' for e in extra]
  return '\n'.join(lines)


def write_slurm(path: Path, trials: List[TrialSpec], log_dir: Path, *, partition: Optional[str],
                gpus: int = 0, cpus: Optional[int] = None, mem: Optional[str] = None,
                time_limit: str = '24:00:00', setup: str = '', python: Optional[str] = None,
                extra: List[str] = ()) -> Path:
  """The sbatch script and, beside it, ``<name>.commands`` (one trial command per line)."""
  if not trials:
    raise BenchError('no trials to put in the SLURM array')
  if gpus < 0:
    raise BenchError(f'--gpus_per_task must be >= 0, got {gpus}')
  python = python or ('python' if setup else None)
  path = Path(path).resolve()
  commands = path.with_suffix('.commands')
  lines = [shlex.join(t.command(python)) for t in trials]
  commands.write_text('\n'.join(lines) + '\n')
  log_dir.mkdir(parents=True, exist_ok=True)
  path.write_text(SBATCH_TEMPLATE.format(
    job_name='velo-bench-sweep', last=len(trials) - 1, time_limit=time_limit, log_dir=log_dir,
    resource_lines=resource_lines(partition, gpus, cpus, mem, list(extra)), commands=commands,
    repo=REPO, setup=setup or ''))
  return commands


def main_from_args(args, trials: List[TrialSpec], root: Path) -> int:
  commands = write_slurm(Path(args.slurm), trials, root / 'slurm_logs', partition=args.partition,
                         gpus=args.gpus_per_task, cpus=args.cpus_per_task, mem=args.mem,
                         time_limit=args.time_limit, setup=args.setup, python=args.python,
                         extra=args.sbatch_line)
  print(f'wrote {args.slurm} ({len(trials)} array tasks) and {commands}; '
        f'submit with: sbatch {args.slurm}')
  return 0
