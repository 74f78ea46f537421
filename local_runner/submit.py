"""``make submit``: run one optimizer on one workload with the right runner.

Embedded workloads (``*_mini``) go through the local runner; official AlgoPerf
workload names go through the official ``submission_runner.py`` when the
``algoperf`` package is importable, otherwise this stops with instructions.
A transferred time budget (``--budgets``) or the step condition goes through
``hardware_transfer.launch``, which sets the budget for either runner.
Logs land in ``<experiment_dir>/<condition>/<opt>/study_<seed>/<workload>_jax/``,
the layout ``scoring_ext`` reads.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
from pathlib import Path

from local_runner.errors import RunnerError
from local_runner.runner import RunConfig, run
from local_runner.workloads import EMBEDDED_WORKLOADS, OFFICIAL_TO_EMBEDDED

REPO = Path(__file__).resolve().parents[1]

INSTALL_HINT = (
  'the official runner is needed for workload {w!r} but the `algoperf` package is not '
  'installed. Install it from a checkout of github.com/mlcommons/algorithmic-efficiency '
  "(pip install -e '.[jax_gpu,full]'), then rerun; or use the embedded stand-in: "
  'make submit OPT={opt} WORKLOAD={mini}')


def search_space_path(opt: str, workload: str, condition: str) -> Path:
  """The first that exists of ``tuning_search_spaces/<condition>/<opt>/<workload>.json``
  (condition-specific, e.g. VeLO's step-control prompts under ``step/``),
  ``tuning_search_spaces/<opt>/<workload>.json`` and ``tuning_search_spaces/<opt>.json``."""
  spaces = REPO / 'tuning_search_spaces'
  candidates = [spaces / condition / opt / f'{workload}.json', spaces / opt / f'{workload}.json',
                spaces / f'{opt}.json']
  for path in candidates:
    if path.is_file():
      return path
  raise RunnerError(f'no tuning search space for OPT={opt} WORKLOAD={workload}: looked for '
                    + ', '.join(str(p.relative_to(REPO)) for p in candidates))


def runner_flags(workload: str, submission: Path, space: Path, experiment_dir, experiment_name: str,
                 seed: int, overwrite: bool = False, data_dir: str | None = None) -> list:
  """Flags shared by the official and the local runner for one run (plus ``--framework=jax``
  and ``--data_dir`` for the official one)."""
  flags = [f'--workload={workload}', f'--submission_path={submission}',
           f'--tuning_search_space={space}', f'--experiment_dir={experiment_dir}',
           f'--experiment_name={experiment_name}', f'--rng_seed={seed}',
           '--overwrite' if overwrite else '--resume_last_run']
  if workload not in EMBEDDED_WORKLOADS:
    flags.append('--framework=jax')
    if data_dir:
      flags.append(f'--data_dir={data_dir}')
  return flags


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument('--opt', required=True, help='submission folder name, e.g. nadamw')
  parser.add_argument('--workload', required=True)
  parser.add_argument('--experiment_dir', default='experiments')
  parser.add_argument('--experiment_name', default=None,
                      help='default: <condition>/<opt>/study_<seed>')
  parser.add_argument('--condition', choices=('time', 'step'), default='time')
  parser.add_argument('--seed', type=int, default=1)
  parser.add_argument('--budgets', default=None, help='budgets.json from hardware_transfer')
  parser.add_argument('--data_dir', default='~/data')
  parser.add_argument('--overwrite', action='store_true')
  args = parser.parse_args(argv)
  submission = REPO / 'submissions' / args.opt / 'submission.py'
  args.experiment_name = args.experiment_name or f'{args.condition}/{args.opt}/study_{args.seed}'
  try:
    if not submission.is_file():
      known = sorted(p.parent.name for p in (REPO / 'submissions').glob('*/submission.py'))
      raise RunnerError(f'no submission {submission} (OPT={args.opt}); known: {", ".join(known)}')
    space = search_space_path(args.opt, args.workload, args.condition)
    embedded = args.workload in EMBEDDED_WORKLOADS
    if not embedded and importlib.util.find_spec('algoperf') is None:
      mini = OFFICIAL_TO_EMBEDDED.get(args.workload, next(iter(EMBEDDED_WORKLOADS)))
      raise RunnerError(INSTALL_HINT.format(w=args.workload, opt=args.opt, mini=mini))
    flags = runner_flags(args.workload, submission, space, args.experiment_dir,
                         args.experiment_name, args.seed, args.overwrite, args.data_dir)
    if args.budgets or args.condition == 'step':
      from hardware_transfer import launch

      budget = ['--budgets', args.budgets] if args.condition == 'time' else ['--condition', 'step']
      return launch.main([*budget, '--', *flags])
    if embedded:
      run(RunConfig(workload=args.workload, submission_path=str(submission),
                    tuning_search_space=str(space), experiment_dir=args.experiment_dir,
                    experiment_name=args.experiment_name, rng_seed=args.seed,
                    overwrite=args.overwrite, resume_last_run=not args.overwrite),
          progress=lambda m: print(m, flush=True))
      return 0
    return subprocess.call([sys.executable, '-m', 'submission_runner', *flags])
  except RunnerError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2


if __name__ == '__main__':
  sys.exit(main())
