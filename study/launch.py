"""``python -m study.launch``: one runner run under a condition's budget, on the right runner.

    python -m study.launch --condition time [--budgets budgets.json] -- \\
        --workload=criteo1tb --submission_path=... --experiment_dir=... <runner flags>
    python -m study.launch --condition step [--step_budgets steps.json] -- <runner flags>

Everything after ``--`` is the official ``submission_runner.py`` flags. The budget of the
condition comes from ``study.budgets`` (time: the workload's entry of ``--budgets``, else its
own; step: ``--max_global_steps`` from the step budgets and no time limit). Under step
control a search space with a ``step_budget`` hyperparameter (``velo_time``) is replaced by a
copy holding the step budget, written beside the run folder
(``bench_core.layout.step_search_space_file``).

Evaluations: under time control both runners follow AlgoPerf's time rule (after step 1, then
every ``eval_period_time_sec`` of wall time). Under step control the local runner also gets
``--eval_every_steps`` (``local_runner.evaluation_rule.default_eval_every_steps`` of the step
budget: at most 2 % of it, unless the runner flags already give one), so its evaluations fall
at the same steps on any machine. The official runner has no such flag and still evaluates on
wall time under step control: its steps-to-target are quantised by the evaluation period and
vary with the machine and its load.

* Embedded workloads (``--runner local``, or ``auto``): ``python -m local_runner <flags>``
  with ``--max_allowed_runtime_sec`` / ``--max_global_steps`` in a subprocess; the local
  runner writes each trial's completion record itself.
* Official workloads: ``submission_runner.main`` in this process, as ``study.official``
  describes (budget override, submission path, clean rerun of an unfinished run,
  completion record once it returned successfully).

"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import List, Optional

from bench_core import catalogue, layout
from bench_core.cli import run_main
from bench_core.errors import BenchError
from hardware_transfer import files
from local_runner.evaluation_rule import default_eval_every_steps
from study import budgets, official, runners


def local_command(runner_flags: List[str], condition_flags: List[str]) -> List[str]:
  return [sys.executable, '-m', 'local_runner', *runner_flags, *condition_flags]


def condition_flags(args, workload: str, runner_flags: List[str], runner: str) -> List[str]:
  """The runner flags that set the condition's budget (and, on the local runner under step
  control, the step cadence of the evaluations)."""
  if runners.has_flag(runner_flags, 'max_allowed_runtime_sec'):
    raise BenchError(
      'the launcher sets max_allowed_runtime_sec from the budgets: remove '
      '--max_allowed_runtime_sec from the runner flags'
    )
  cadence_given = runners.has_flag(runner_flags, 'eval_every_steps')
  if cadence_given and runner != 'local':
    raise BenchError(
      '--eval_every_steps is a flag of the local runner only: the official runner '
      'evaluates every eval_period_time_sec of wall time; remove it'
    )
  if args.condition == 'time':
    if cadence_given:
      raise BenchError(
        "--condition time evaluates by AlgoPerf's time rule: remove "
        '--eval_every_steps from the runner flags (it is for step control)'
      )
    budget = budgets.time_budget(workload, args.budgets)
    return [] if budget is None else [f'--max_allowed_runtime_sec={budget}']
  if runners.has_flag(runner_flags, 'max_global_steps'):
    raise BenchError(
      '--condition step sets --max_global_steps from the step budgets: '
      'remove it from the runner flags'
    )
  steps = budgets.step_budget(workload, args.step_budgets)
  flags = [f'--max_global_steps={steps}', f'--max_allowed_runtime_sec={budgets.NO_TIME_LIMIT_SEC}']
  if runner == 'local' and not cadence_given:
    flags.append(f'--eval_every_steps={default_eval_every_steps(steps)}')
  return flags


def with_step_budget_search_space(runner_flags: List[str], steps: int) -> List[str]:
  """``runner_flags`` whose ``--tuning_search_space`` holds ``steps`` as ``step_budget``, when
  the search space names that hyperparameter (else unchanged)."""
  source = runners.flag_value(runner_flags, 'tuning_search_space')
  if not source:
    return runner_flags
  space = layout.read_json_object(Path(source).expanduser(), 'a tuning search space')
  derived = budgets.search_space_with_step_budget(space, steps)
  if derived is None:
    return runner_flags
  experiment_dir = runners.flag_value(runner_flags, 'experiment_dir')
  if not experiment_dir:
    raise BenchError('the runner flags after "--" lack --experiment_dir')
  run_dir = layout.run_dir(
    experiment_dir,
    runners.flag_value(runner_flags, 'experiment_name'),
    runners.flag_value(runner_flags, 'workload'),
  )
  target = layout.step_search_space_file(run_dir).resolve()
  target.parent.mkdir(parents=True, exist_ok=True)
  layout.write_json(target, derived)
  flags = runners.without_flags(runner_flags, ['tuning_search_space'])
  return [*flags, f'--tuning_search_space={target}']


def parse_args(argv: Optional[List[str]]):
  argv = list(sys.argv[1:] if argv is None else argv)
  if '--' not in argv and not {'-h', '--help'} & set(argv):
    raise BenchError(
      'give the runner flags after "--", e.g. '
      '--budgets budgets.json -- --workload=criteo1tb --submission_path=...'
    )
  split = argv.index('--') if '--' in argv else len(argv)
  p = argparse.ArgumentParser(
    prog='python -m study.launch',
    description=__doc__,
    formatter_class=argparse.RawDescriptionHelpFormatter,
  )
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
    type=float,
    default=None,
    help='official runner only: evaluate every this many seconds instead of the '
    "workload's own period (e.g. short smoke runs)",
  )
  return p.parse_args(argv[:split]), argv[split + 1 :]


def main(argv: Optional[List[str]] = None) -> int:
  args, runner_flags = parse_args(argv)
  workload = runners.flag_value(runner_flags, 'workload')
  if not workload:
    raise BenchError('the runner flags after "--" lack --workload')
  runner = runners.choose_runner(args.runner, workload)
  extra = condition_flags(args, workload, runner_flags, runner)
  if args.condition == 'step':
    steps = int(runners.flag_value(extra, 'max_global_steps'))
    runner_flags = with_step_budget_search_space(runner_flags, steps)
  print(
    f'launch: {workload} on the {runner} runner, {args.condition} control'
    + (f' ({" ".join(extra)})' if extra else " (the workload's own budget)"),
    flush=True,
  )
  if runner == 'local':
    if args.eval_period_time_sec is not None:
      raise BenchError('--eval_period_time_sec is for the official runner only')
    return subprocess.call(local_command(runner_flags, extra))
  if not runners.official_runner_importable():
    raise BenchError(runners.install_hint(workload))
  max_runtime = runners.flag_value(extra, 'max_allowed_runtime_sec')
  flags = runner_flags + [f for f in extra if f.startswith('--max_global_steps=')]
  return official.run(
    flags,
    float(max_runtime) if max_runtime else None,
    args.eval_period_time_sec,
    progress=lambda m: print(m, flush=True),
  )


if __name__ == '__main__':
  sys.exit(run_main(main))
