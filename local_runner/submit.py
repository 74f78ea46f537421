"""``make submit``: run one optimizer on one workload with the right runner.

Embedded workloads (``*_mini``) go through the local runner; official AlgoPerf
workload names go through the official ``submission_runner.py`` when the
``algoperf`` package is importable, otherwise this stops with instructions.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
from pathlib import Path

from local_runner.conditions import CONDITIONS, runner_limits
from local_runner.errors import RunnerError
from local_runner.runner import RunConfig, run
from local_runner.workloads import EMBEDDED_WORKLOADS, OFFICIAL_TO_EMBEDDED

INSTALL_HINT = (
  'the official runner is needed for workload {w!r} but the `algoperf` package is not '
  'installed. Install it from a checkout of github.com/mlcommons/algorithmic-efficiency '
  "(pip install -e '.[jax_gpu,full]'), then rerun; or try the embedded stand-in: "
  'make submit OPT={opt} WORKLOAD={mini}')


def search_space_path(root: Path, opt: str, workload: str) -> Path:
  """``tuning_search_spaces/<opt>.json``, or ``tuning_search_spaces/<opt>/<workload>.json``."""
  per_workload = root / 'tuning_search_spaces' / opt / f'{workload}.json'
  return per_workload if per_workload.is_file() else root / 'tuning_search_spaces' / f'{opt}.json'


def official_command(args, submission: Path, space: Path, limits: dict) -> list:
  cmd = [sys.executable, '-m', 'submission_runner', '--framework=jax',
         f'--workload={args.workload}', f'--submission_path={submission}',
         f'--tuning_search_space={space}', f'--experiment_dir={args.experiment_dir}',
         f'--experiment_name={args.experiment_name}', f'--rng_seed={args.seed}',
         f'--data_dir={args.data_dir}', '--overwrite' if args.overwrite else '--resume_last_run']
  if limits['max_global_steps']:
    cmd.append(f'--max_global_steps={limits["max_global_steps"]}')
  if args.budgets or args.condition == 'step':
    budget_args = ['--budgets', args.budgets] if args.budgets else ['--condition', 'step']
    return [sys.executable, '-m', 'hardware_transfer.launch', *budget_args, '--', *cmd[1:]]
  return cmd


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument('--opt', required=True, help='submission folder name, e.g. nadamw')
  parser.add_argument('--workload', required=True)
  parser.add_argument('--experiment_dir', default='experiments')
  parser.add_argument('--experiment_name', default=None)
  parser.add_argument('--condition', choices=CONDITIONS, default='time')
  parser.add_argument('--seed', type=int, default=1)
  parser.add_argument('--budgets', default=None, help='budgets.json from hardware_transfer')
  parser.add_argument('--data_dir', default='~/data')
  parser.add_argument('--overwrite', action='store_true')
  args = parser.parse_args(argv)
  root = Path(__file__).resolve().parents[1]
  submission = root / 'submissions' / args.opt / 'submission.py'
  args.experiment_name = args.experiment_name or f'{args.condition}/{args.opt}/study_{args.seed}'
  try:
    if not submission.is_file():
      known = sorted(p.parent.name for p in (root / 'submissions').glob('*/submission.py'))
      raise RunnerError(f'no submission {submission} (OPT={args.opt}); known: {", ".join(known)}')
    space = search_space_path(root, args.opt, args.workload)
    if not space.is_file():
      raise RunnerError(f'no tuning search space {space} for OPT={args.opt} WORKLOAD={args.workload}')
    time_budget = None
    if args.budgets:
      from hardware_transfer.budgets import budget_for_workload  # noqa: PLC0415

      time_budget = budget_for_workload(args.budgets, args.workload)
    limits = runner_limits(args.condition, args.workload, time_budget)
    if args.workload in EMBEDDED_WORKLOADS:
      run(RunConfig(workload=args.workload, submission_path=str(submission),
                    tuning_search_space=str(space), experiment_dir=args.experiment_dir,
                    experiment_name=args.experiment_name, rng_seed=args.seed,
                    overwrite=args.overwrite, resume_last_run=not args.overwrite, **limits),
          progress=lambda m: print(m, flush=True))
      return 0
    if importlib.util.find_spec('algoperf') is None:
      mini = OFFICIAL_TO_EMBEDDED.get(args.workload, next(iter(EMBEDDED_WORKLOADS)))
      raise RunnerError(INSTALL_HINT.format(w=args.workload, opt=args.opt, mini=mini))
    return subprocess.call(official_command(args, submission, space, limits))
  except RunnerError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2


if __name__ == '__main__':
  sys.exit(main())
