"""``make submit``: one optimizer on one workload, on the right runner.

    python -m study.submit --opt nadamw --workload imagenet_resnet_mini [--condition step]
        [--seed 1] [--budgets budgets.json] [--data_dir DIR] [--overwrite]

Embedded workloads (``*_mini``) run on the local runner, official AlgoPerf names on the
official ``submission_runner`` (``study.runners`` says which Python). Like the official
runner, the run stops as soon as both the validation and the test target are reached (the
sweep instead runs whole budgets). Logs land in
``<experiment_dir>/<condition>/<opt>/study_<seed>/<workload>_jax/trial_1/``, the layout
``scoring_ext`` reads. A finished trial is not rerun: ``--overwrite`` replaces it; one that
ran under another budget, prompt or search space than requested is named as such.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import List, Optional

from bench_core import arguments, catalogue
from bench_core.cli import run_main
from bench_core.errors import BenchError
from study import sweep
from study.trial import TrialSpec


def parse_args(argv: Optional[List[str]]):
  p = argparse.ArgumentParser(
    prog='python -m study.submit',
    description=__doc__,
    formatter_class=argparse.RawDescriptionHelpFormatter,
  )
  p.add_argument('--opt', required=True, help='submission folder name, e.g. nadamw')
  p.add_argument(
    '--workload', required=True, help='embedded (e.g. ogbg_mini) or official (e.g. ogbg) name'
  )
  p.add_argument('--experiment_dir', default='experiments', help='root of the trial folders')
  p.add_argument('--condition', choices=catalogue.CONDITIONS, default='time')
  p.add_argument(
    '--seed', type=arguments.count(1), default=1, help='the study number and its seed (>= 1)'
  )
  p.add_argument('--budgets', default=None, help='budgets.json from hardware_transfer (time)')
  p.add_argument('--step_budgets', default=None, help='step budgets JSON (step)')
  p.add_argument('--data_dir', default=None, help="the official runner's --data_dir")
  p.add_argument('--overwrite', action='store_true', help='replace a finished trial')
  p.add_argument(
    '--allow_placeholder_prompts',
    action='store_true',
    help='let VeLO run on the placeholder time-control prompt of an official workload',
  )
  p.add_argument(
    '--max_global_steps',
    type=arguments.count(1),
    default=None,
    help='stop after this many steps (time control; step control sets it)',
  )
  return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
  args = parse_args(argv)
  arguments.check_writable(args.experiment_dir, '--experiment_dir', kind='folder')
  trial = TrialSpec(
    args.opt,
    args.workload,
    args.condition,
    args.seed,
    args.seed,
    Path(args.experiment_dir),
    budgets=args.budgets,
    step_budgets=args.step_budgets,
    data_dir=args.data_dir,
    stop_on_targets=True,
    allow_placeholder_prompts=args.allow_placeholder_prompts,
    max_global_steps=args.max_global_steps,
  )
  sweep.check_plan([trial], compare_finished=False)
  if trial.is_complete() and not args.overwrite:
    differences = trial.mismatches()
    if differences:
      raise BenchError(
        f'{trial.trial_dir} is a finished trial that ran under another request: '
        + '; '.join(differences)
        + '. Pass OVERWRITE=1 (make) or --overwrite to rerun it with this one, or choose '
        'another EXP= or SEED='
      )
    print(
      f'submit: {trial.trial_dir} is already complete; nothing to run. To run it again, '
      'pass OVERWRITE=1 (make) or --overwrite, or choose another EXP= or SEED=.'
    )
    return 0
  print(
    f'submit: {args.opt} on {args.workload}, {args.condition} control, seed {args.seed}; '
    f'stops at the end of the budget or as soon as both targets are reached -> '
    f'{trial.trial_dir}',
    flush=True,
  )
  trial.write_run_config(overwrite=args.overwrite)
  return subprocess.call(trial.command())


if __name__ == '__main__':
  sys.exit(run_main(main))
