"""``python -m study.sweep ... --slurm FILE``: the sweep as a SLURM array job and its report job.

Four files are written, next to ``FILE``:

* ``FILE``: the array job, one task per trial. Task ``i`` runs line ``i + 1`` of
  ``<stem>.commands`` (``TrialSpec.command()`` of trial ``i``: the command the sweep runs,
  ``python -m study.launch --config <its run configuration>``, the file written beside each
  run folder with the script) for the trial folder on line ``i + 1`` of ``<stem>.trials``.
* ``<stem>.report.sbatch``: the report job, ``python -m study.slurm_report``: once every
  trial has its completion record, ``scoring_ext.report`` for each condition into
  ``<report dir>/<condition>``.

Requeues and resubmissions are safe: a trial with its completion record is skipped (the task
only checks the file), an interrupted one is rerun from scratch by its runner, and two tasks
of one trial (a resubmission while the first array still runs) take turns on the lock file
``<run folder>.lock``. The first task of each array job to start submits the report job with
``--dependency=afterany:<array job>``, under a lock and at most once per array job (the file
``<log dir>/report_job.<array job id>`` records it), so a requeued task never submits a
second one, and one ``sbatch FILE`` yields the report. The report job refuses, naming them,
while trials are unfinished (a cancelled or failed task): resubmitting the array, or only the
unfinished tasks with ``sbatch --array=<i,j> FILE``, brings a new report job with it.

Defaults that work on a CPU partition and on a GPU one: no GPU request unless
``--gpus_per_task`` asks for one (embedded workloads need none; official ones get a note);
each task runs the interpreter that generated the script (the project's for embedded
workloads, AlgoPerf's for official ones) unless ``--python`` or ``--setup`` say otherwise;
the log folder is created before submission; a missing budgets file is refused by
``sweep.check_plan`` and a partition that ``sinfo`` does not list by :func:`check_partition`.

Every resource option is checked (:func:`check_resources`) before a file is written:
``--partition`` is a comma-separated list of names (letters, digits, ``_ . -``),
``--mem`` a positive size with an optional ``K/M/G/T`` unit, ``--time_limit`` one of
SLURM's forms (``minutes``, ``m:s``, ``h:m:s``, ``d-h``, ``d-h:m``, ``d-h:m:s``,
``UNLIMITED``), each ``--sbatch_line`` one option (``--name`` or ``--name=value``,
``-x value``) on one line, ``--gpus_per_task`` >= 0 and ``--cpus_per_task`` >= 1.
"""

from __future__ import annotations

import argparse
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import List, NamedTuple, Optional, Sequence

from bench_core import arguments, catalogue, layout
from bench_core.errors import BenchError
from study.runners import REPO
from study.trial import TrialSpec

ARRAY_JOB_NAME = 'velo-bench-sweep'
REPORT_JOB_NAME = 'velo-bench-report'
REPORT_TIME_LIMIT = '02:00:00'

ARRAY_TEMPLATE = """#!/bin/bash
#SBATCH --job-name={job_name}
#SBATCH --array=0-{last}
#SBATCH --time={time_limit}
#SBATCH --output={log_dir}/%A_%a.out
#SBATCH --open-mode=append
#SBATCH --requeue
{resource_lines}
# Written by python -m study.sweep --slurm (see study/slurm.py). One array task per trial:
# task i runs line i+1 of {commands} for the trial folder on line i+1 of {trials}.
# A finished trial (trial_complete.json) is skipped, an interrupted one rerun from scratch;
# two tasks of one trial take turns on <run folder>.lock. The first task of each array job
# submits the report job (once: report_job.<array job id> in the log folder records it).
set -euo pipefail
cd {repo}
{setup}
line=$((SLURM_ARRAY_TASK_ID + 1))
trial_dir=$(sed -n "${{line}}p" {trials})
command=$(sed -n "${{line}}p" {commands})
if [ -z "$trial_dir" ] || [ -z "$command" ]; then
  echo "error: no line $line in {trials} or {commands}: resubmit the script written with them" >&2
  exit 2
fi
echo "task $SLURM_ARRAY_TASK_ID of array job $SLURM_ARRAY_JOB_ID" \\
  "(restart ${{SLURM_RESTART_COUNT:-0}}) on $(hostname): $trial_dir"

(
  flock 9
  marker={log_dir_q}/report_job.$SLURM_ARRAY_JOB_ID
  if [ ! -s "$marker" ]; then
    if report_job=$(sbatch --parsable --dependency=afterany:$SLURM_ARRAY_JOB_ID {report_script})
    then
      echo "$report_job" > "$marker"
      echo "report job $report_job submitted; it runs once array job $SLURM_ARRAY_JOB_ID ended"
    else
      echo "warning: no report job submitted; run sbatch {report_script} after the array" >&2
    fi
  fi
) 9>>{log_dir_q}/report_job.lock

mkdir -p "${{trial_dir%/*/*}}"
exec 8>>"${{trial_dir%/*}}.lock"
flock 8
if [ -e "$trial_dir/{complete_file}" ]; then
  echo "trial already complete, skipped: $trial_dir"
  exit 0
fi
echo "$command"
eval "$command"
"""

REPORT_TEMPLATE = """#!/bin/bash
#SBATCH --job-name={job_name}
#SBATCH --time={time_limit}
#SBATCH --output={log_dir}/report_%j.out
{resource_lines}
# The report of the array job {array_script}: submitted by its first task with
# --dependency=afterany:<array job>. Refuses while a trial of {trials} is unfinished.
set -euo pipefail
cd {repo}
{setup}
{command}
"""


class SlurmFiles(NamedTuple):
  """What :func:`write_slurm` wrote."""

  script: Path  # the array job
  commands: Path  # line i + 1: the command of task i
  trials: Path  # line i + 1: the trial folder of task i
  report_script: Path  # the report job the first task submits


def add_arguments(p: argparse.ArgumentParser) -> None:
  g = p.add_argument_group('SLURM (with --slurm FILE: write an array job instead of running)')
  g.add_argument('--slurm', default=None, help='write a SLURM array job here instead of running')
  g.add_argument('--partition', default=None, help='checked with sinfo when that is installed here')
  g.add_argument(
    '--gpus_per_task',
    type=arguments.count(0),
    default=0,
    help='GPUs per array task (default 0: no GPU request)',
  )
  g.add_argument('--cpus_per_task', type=arguments.count(1), default=None, help='CPUs per task')
  g.add_argument('--mem', default=None, help='memory per task, e.g. 32G')
  g.add_argument('--time_limit', default='24:00:00', help='per task, e.g. 24:00:00 or 1-12')
  g.add_argument(
    '--sbatch_line',
    action='append',
    default=[],
    help='an extra "#SBATCH ..." option for the array and the report job, e.g. '
    '--sbatch_line=--account=abc (repeatable)',
  )
  g.add_argument(
    '--setup',
    default='',
    help='shell line run first in each task, e.g. '
    '"source /path/to/venv/bin/activate" or a container entry',
  )
  g.add_argument(
    '--python',
    default=None,
    help='python of the tasks (default: the interpreter that wrote the script; '
    '"python" when --setup is given)',
  )
  g.add_argument(
    '--report_dir',
    default=None,
    help='where the report job writes <condition>/report.md (default: <experiment_dir>/report)',
  )


_PARTITION = re.compile(r'^[A-Za-z0-9_.-]+(,[A-Za-z0-9_.-]+)*$')
_MEM = re.compile(r'^[1-9][0-9]*[KMGTkmgt]?$')
_TIME_LIMIT = re.compile(
  r'^([0-9]+|[0-9]+:[0-9]{1,2}|[0-9]+:[0-9]{1,2}:[0-9]{1,2}'
  r'|[0-9]+-[0-9]+(:[0-9]{1,2}){0,2})$|^(UNLIMITED|INFINITE)$'
)
_SBATCH_OPTION = re.compile(r'^(--[A-Za-z][A-Za-z0-9-]*(=\S.*)?|-[A-Za-z]( ?\S.*)?)$')


def check_resources(
  partition: Optional[str] = None,
  gpus: int = 0,
  cpus: Optional[int] = None,
  mem: Optional[str] = None,
  time_limit: str = '24:00:00',
  extra: Sequence[str] = (),
) -> None:
  """Refuse a resource option that ``sbatch`` would not take (module docstring), naming it."""
  if partition is not None and not _PARTITION.match(partition):
    raise BenchError(
      f'--partition {partition!r}: expected partition names (letters, digits, _ . -), '
      'comma-separated'
    )
  arguments.check_count(gpus, '--gpus_per_task', 0)
  if cpus is not None:
    arguments.check_count(cpus, '--cpus_per_task', 1)
  if mem is not None and not _MEM.match(mem):
    raise BenchError(f'--mem {mem!r}: expected a positive size, e.g. 32G, 4096M or 4096')
  if not _TIME_LIMIT.match(time_limit):
    raise BenchError(
      f'--time_limit {time_limit!r}: expected minutes, m:s, h:m:s, d-h, d-h:m, d-h:m:s '
      'or UNLIMITED (e.g. 24:00:00)'
    )
  for line in extra:
    if '\n' in line or '\r' in line or not _SBATCH_OPTION.match(line.strip()):
      raise BenchError(
        f'--sbatch_line {line!r}: expected one sbatch option on one line, e.g. '
        '--account=abc or --qos=high'
      )


def check_resource_arguments(args) -> None:
  """:func:`check_resources` of the parsed ``--slurm`` options."""
  check_resources(
    args.partition,
    args.gpus_per_task,
    args.cpus_per_task,
    args.mem,
    args.time_limit,
    args.sbatch_line,
  )


def resource_lines(
  partition: Optional[str], gpus: int, cpus: Optional[int], mem: Optional[str], extra: Sequence[str]
) -> str:
  lines = []
  if partition:
    lines.append(f'#SBATCH --partition={partition}')
  if gpus:
    lines.append(f'#SBATCH --gpus-per-task={gpus}')
  if cpus is not None:
    lines.append(f'#SBATCH --cpus-per-task={cpus}')
  if mem:
    lines.append(f'#SBATCH --mem={mem}')
  lines += [f'#SBATCH {e}' for e in extra]
  return '\n'.join(lines)


def check_partition(partition: str, timeout: float = 60.0) -> str:
  """Raises :class:`BenchError` for a partition that ``sinfo`` does not list; otherwise a note
  saying whether it was checked (no ``sinfo`` here, or ``sinfo`` failing, leaves the check to
  ``sbatch`` at submission). ``--partition a,b`` checks each."""
  sinfo = shutil.which('sinfo')
  if sinfo is None:
    return (
      f'--partition {partition} not checked: no sinfo on this machine '
      '(sbatch refuses an unknown partition at submission)'
    )
  try:
    result = subprocess.run(
      [sinfo, '--noheader', '--format=%R'], capture_output=True, text=True, timeout=timeout
    )
  except subprocess.TimeoutExpired:
    return f'--partition {partition} not checked: sinfo did not answer within {timeout:.0f} s'
  if result.returncode != 0:
    reason = (result.stderr.strip().splitlines() or [f'exit code {result.returncode}'])[-1]
    return f'--partition {partition} not checked: sinfo failed ({reason})'
  known = sorted(set(result.stdout.split()))
  unknown = [p for p in partition.split(',') if p not in known]
  if unknown:
    raise BenchError(
      f'--partition {",".join(unknown)}: no such partition on this cluster '
      f'(sinfo lists: {", ".join(known) or "none"})'
    )
  return f'--partition {partition}: found by sinfo'


def report_command(
  python: str, trials: Path, root: Path, conditions: Sequence[str], report_dir: Path
) -> List[str]:
  return [
    python,
    '-m',
    'study.slurm_report',
    '--trials',
    str(trials),
    '--experiment_dir',
    str(root),
    '--conditions',
    *conditions,
    '--out',
    str(report_dir),
  ]


def write_slurm(
  path: Path,
  trials: List[TrialSpec],
  log_dir: Path,
  *,
  partition: Optional[str],
  gpus: int = 0,
  cpus: Optional[int] = None,
  mem: Optional[str] = None,
  time_limit: str = '24:00:00',
  setup: str = '',
  python: Optional[str] = None,
  extra: Sequence[str] = (),
  report_dir: Optional[Path] = None,
) -> SlurmFiles:
  """The array job, its commands and trial folders, and the report job (module docstring).

  ``report_dir`` defaults to ``<root of the trials>/report``."""
  if not trials:
    raise BenchError('no trials to put in the SLURM array')
  check_resources(partition, gpus, cpus, mem, time_limit, extra)
  roots = {t.root for t in trials}
  if len(roots) != 1:
    raise BenchError('the trials of one SLURM array must share one experiment folder')
  root = roots.pop()
  python = python or ('python' if setup else None)
  path = Path(path).resolve()
  log_dir = Path(log_dir).resolve()
  if any(c.isspace() for c in str(log_dir)):
    raise BenchError(
      f'the SLURM log folder {log_dir} has white space in its path, which '
      '#SBATCH --output cannot take: choose an --experiment_dir without it'
    )
  report_dir = Path(report_dir).resolve() if report_dir else root / 'report'
  files = SlurmFiles(
    path,
    path.with_suffix('.commands'),
    path.with_suffix('.trials'),
    path.with_suffix('.report.sbatch'),
  )
  path.parent.mkdir(parents=True, exist_ok=True)
  for t in trials:
    t.write_run_config()
  files.commands.write_text('\n'.join(shlex.join(t.command(python)) for t in trials) + '\n')
  files.trials.write_text('\n'.join(str(t.trial_dir) for t in trials) + '\n')
  log_dir.mkdir(parents=True, exist_ok=True)
  q = shlex.quote
  conditions = list(dict.fromkeys(t.condition for t in trials))
  files.report_script.write_text(
    REPORT_TEMPLATE.format(
      job_name=REPORT_JOB_NAME,
      time_limit=REPORT_TIME_LIMIT,
      log_dir=log_dir,
      resource_lines=resource_lines(partition, 0, None, None, extra),
      array_script=path,
      trials=files.trials,
      repo=q(str(REPO)),
      setup=setup or '',
      command=shlex.join(
        report_command(python or sys.executable, files.trials, root, conditions, report_dir)
      ),
    )
  )
  path.write_text(
    ARRAY_TEMPLATE.format(
      job_name=ARRAY_JOB_NAME,
      last=len(trials) - 1,
      time_limit=time_limit,
      log_dir=log_dir,
      log_dir_q=q(str(log_dir)),
      resource_lines=resource_lines(partition, gpus, cpus, mem, extra),
      commands=q(str(files.commands)),
      trials=q(str(files.trials)),
      report_script=q(str(files.report_script)),
      repo=q(str(REPO)),
      setup=setup or '',
      complete_file=layout.TRIAL_COMPLETE,
    )
  )
  return files


def main_from_args(args, trials: List[TrialSpec], root: Path) -> int:
  notes = [check_partition(args.partition)] if args.partition else []
  official = sorted({t.workload for t in trials if not catalogue.is_embedded(t.workload)})
  if official and not args.gpus_per_task:
    notes.append(
      f'no GPU requested for {", ".join(official)}: pass --gpus_per_task N to run them on GPUs'
    )
  report_dir = Path(args.report_dir).resolve() if args.report_dir else root / 'report'
  files = write_slurm(
    Path(args.slurm),
    trials,
    root / 'slurm_logs',
    partition=args.partition,
    gpus=args.gpus_per_task,
    cpus=args.cpus_per_task,
    mem=args.mem,
    time_limit=args.time_limit,
    setup=args.setup,
    python=args.python,
    extra=args.sbatch_line,
    report_dir=report_dir,
  )
  for note in notes:
    print(f'note: {note}')
  print(
    f'wrote {files.script} ({len(trials)} array tasks), {files.commands.name}, '
    f'{files.trials.name} and {files.report_script.name}\n'
    f'submit with: sbatch {files.script}\n'
    f'logs: {root / "slurm_logs"}; the report job writes {report_dir}/<condition>/ '
    'once the array has ended'
  )
  return 0
