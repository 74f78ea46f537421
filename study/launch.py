"""``python -m study.launch``: run one trial from its run configuration, on its runner.

    python -m study.launch --config <run folder>_run_config.json
    python -m study.launch --condition time [--budgets budgets.json] -- \\
        --workload=criteo1tb --submission_path=... --experiment_dir=... <runner flags>
    python -m study.launch --condition step [--step_budgets steps.json] -- <runner flags>

``--config`` names a file ``study.trial`` wrote (``bench_core.run_config``): what ``make
submit``, the sweep, the probe and the SLURM scripts run. The second form is for commands
typed by hand: everything after ``--`` is the official ``submission_runner.py`` flags, read
once (``study.runner_flags.parse``) and resolved like any trial (``study.trial.resolve``:
the budget of the condition, the evaluation rule, ``step_budget`` for ``velo_time``); the
configuration is written beside the run folder and run the same way. The launcher sets the
budget: ``--max_allowed_runtime_sec`` (and, under step control, ``--max_global_steps``) in
the runner flags are refused.

Evaluations: under time control both runners follow AlgoPerf's time rule (after step 1, then
every ``eval_period_time_sec`` of wall time). Under step control the local runner evaluates
every ``local_runner.evaluation_rule.default_eval_every_steps`` of the step budget (at most
2 % of it, unless the runner flags give ``--eval_every_steps``), so its evaluations fall at
the same steps on any machine. The official runner has no such flag and still evaluates on
wall time under step control: its steps-to-target are quantised by the evaluation period and
vary with the machine and its load.

* Local runner (embedded workloads): ``python -m local_runner --run_config=FILE`` in a
  subprocess; it writes each trial's completion record itself.
* Official runner: ``submission_runner.main`` in this process, as ``study.official``
  describes (budget, submission path, clean rerun of an unfinished run, completion record).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import List, Optional

from bench_core import arguments, catalogue, file_formats
from bench_core.cli import run_main
from bench_core.errors import BenchError
from bench_core.file_formats import TrialConfig
from hardware_transfer import files
from study import official, runner_flags, runners, trial


def config_from_runner_flags(args, flags: List[str]) -> TrialConfig:
  """The run configuration of ``python -m study.launch [options] -- <runner flags>``."""
  given, extra = runner_flags.parse(flags)
  if 'max_allowed_runtime_sec' in given:
    raise BenchError(
      'the launcher sets max_allowed_runtime_sec from the budgets: remove '
      '--max_allowed_runtime_sec from the runner flags'
    )
  if 'workload' not in given:
    raise BenchError('the runner flags after "--" lack --workload')
  runners.choose_runner(args.runner, given['workload'])  # a runner that lacks it: said first
  for name in ('submission_path', 'experiment_dir', 'tuning_search_space'):
    if name not in given:
      raise BenchError(f'the runner flags after "--" lack --{name}')
  return trial.resolve(
    algorithm=Path(given['submission_path']).resolve().parent.name,
    workload=given['workload'],
    condition=args.condition,
    submission_path=given['submission_path'],
    search_space=given['tuning_search_space'],
    experiment_dir=given['experiment_dir'],
    experiment_name=given.get('experiment_name'),
    rng_seed=given.get('rng_seed', 0),
    runner=args.runner,
    budgets_file=args.budgets,
    step_budgets_file=args.step_budgets,
    max_global_steps=given.get('max_global_steps'),
    eval_every_steps=given.get('eval_every_steps'),
    eval_period_time_sec=args.eval_period_time_sec,
    stop_on_targets=given.get('stop_on_targets', True),
    overwrite=given.get('overwrite', False),
    data_dir=given.get('data_dir'),
    extra_runner_flags=extra,
  )


def describe(config: TrialConfig) -> str:
  budget = (
    f'{config.max_global_steps} steps'
    if config.condition == 'step'
    else (
      f'{config.max_allowed_runtime_sec:g} s'
      if config.max_allowed_runtime_sec is not None
      else "the workload's own budget"
    )
  )
  return f'{config.workload} on the {config.runner} runner, {config.condition} control ({budget})'


def run(config_file: Path) -> int:
  """Run the trial whose configuration ``config_file`` holds; the runner's exit status."""
  config = file_formats.load_run_config(config_file)
  print(f'launch: {describe(config)}', flush=True)
  if config.runner == 'local':
    return subprocess.call(runner_flags.local_command(config_file, config.extra_runner_flags))
  if not runners.official_runner_importable():
    raise BenchError(runners.install_hint(config.workload))
  return official.run(config, progress=lambda m: print(m, flush=True))


def parse_args(argv: Optional[List[str]]):
  """(the launcher's options, the runner flags after ``--``)."""
  argv = list(sys.argv[1:] if argv is None else argv)
  split = argv.index('--') if '--' in argv else len(argv)
  asks_help_or_config = any(a in ('-h', '--help') or a.startswith('--config') for a in argv)
  if split == len(argv) and not asks_help_or_config:
    raise BenchError(
      'give --config FILE, or the runner flags after "--", e.g. '
      '--budgets budgets.json -- --workload=criteo1tb --submission_path=...'
    )
  p = argparse.ArgumentParser(
    prog='python -m study.launch',
    description=__doc__,
    formatter_class=argparse.RawDescriptionHelpFormatter,
  )
  p.add_argument('--config', default=None, help='a run configuration file (study.trial)')
  p.add_argument('--condition', choices=catalogue.CONDITIONS, default='time')
  p.add_argument(
    '--budgets',
    help='time control: budgets JSON written by hardware_transfer.transfer '
    "(default: the workload's own budget)",
  )
  p.add_argument(
    '--step_budgets',
    default=None,
    help='step control: step budgets JSON (default: the built-in '
    f'{files.BUILTIN_STEP_BUDGETS.name})',
  )
  p.add_argument('--runner', choices=runners.RUNNER_CHOICES, default='auto')
  p.add_argument(
    '--eval_period_time_sec',
    type=arguments.positive_float,
    default=None,
    help="evaluate every this many seconds instead of the workload's own period "
    '(e.g. short smoke runs)',
  )
  args = p.parse_args(argv[:split])
  flags = argv[split + 1 :]
  if args.config and '--' in argv:
    raise BenchError('give --config or the runner flags after "--", not both')
  return args, flags


def main(argv: Optional[List[str]] = None) -> int:
  args, flags = parse_args(argv)
  if args.config:
    return run(Path(args.config))
  return run(trial.write_run_config(config_from_runner_flags(args, flags)))


if __name__ == '__main__':
  sys.exit(run_main(main))
