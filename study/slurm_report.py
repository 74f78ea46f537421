"""``python -m study.slurm_report``: the report job of a SLURM array written by ``study.slurm``.

    python -m study.slurm_report --trials FILE.trials --experiment_dir EXP \\
        --conditions time step --out REPORT_DIR

``FILE.trials`` lists the array's trial folders, one a line. While any of them lacks its
completion record (a task was cancelled, failed or is still queued), nothing is written and
the unfinished trials are named (exit status 2); otherwise ``scoring_ext.report`` scores
``EXP/<condition>`` into ``REPORT_DIR/<condition>`` for each condition. A partial report is
never written: the report of a resubmitted array covers the whole study.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

from bench_core import catalogue, layout
from bench_core.cli import run_main
from bench_core.errors import BenchError
from scoring_ext import report


def trial_dirs(trials_file: Path) -> List[Path]:
  """The trial folders listed in ``trials_file`` (blank lines ignored)."""
  try:
    lines = Path(trials_file).read_text(encoding='utf-8').splitlines()
  except OSError as e:
    raise BenchError(
      f'{trials_file}: cannot read the list of trial folders ({e.strerror})'
    ) from None
  dirs = [Path(line.strip()) for line in lines if line.strip()]
  if not dirs:
    raise BenchError(f'{trials_file}: no trial folders listed')
  return dirs


def unfinished(dirs: List[Path]) -> List[Path]:
  """The trial folders without a completion record."""
  return [d for d in dirs if not layout.is_complete(d)]


def main(argv: Optional[List[str]] = None) -> int:
  p = argparse.ArgumentParser(
    prog='python -m study.slurm_report',
    description=__doc__,
    formatter_class=argparse.RawDescriptionHelpFormatter,
  )
  p.add_argument('--trials', required=True, help="the array's .trials file")
  p.add_argument('--experiment_dir', required=True)
  p.add_argument('--conditions', nargs='+', default=list(catalogue.CONDITIONS))
  p.add_argument('--out', required=True, help='the report of condition c goes to OUT/c')
  args = p.parse_args(argv)
  for condition in args.conditions:
    catalogue.check_condition(condition, '--conditions')
  dirs = trial_dirs(Path(args.trials))
  missing = unfinished(dirs)
  if missing:
    shown = '\n  '.join(str(d) for d in missing[:20])
    more = f'\n  ... and {len(missing) - 20} more' if len(missing) > 20 else ''
    raise BenchError(
      f'{len(missing)} of {len(dirs)} trials in {args.trials} have no completion record, so no '
      f'report is written (resubmit the array, or only its unfinished tasks with '
      f'sbatch --array=<indices>; a new report job comes with it):\n  {shown}{more}'
    )
  root, out = Path(args.experiment_dir), Path(args.out)
  for condition in args.conditions:
    report.main(
      [
        '--experiment_dir',
        str(root / condition),
        '--condition',
        condition,
        '--out',
        str(out / condition),
      ]
    )
  print(
    f'slurm_report: {len(dirs)} trials complete; reports in {out}/'
    + '{'
    + ','.join(args.conditions)
    + '}'
  )
  return 0


if __name__ == '__main__':
  sys.exit(run_main(main))
