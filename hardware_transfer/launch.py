"""``python -m hardware_transfer.launch``: a runner run with the transferred budget.

    python -m hardware_transfer.launch --budgets budgets.json -- \\
        --workload=criteo1tb --framework=jax --submission_path=... --experiment_dir=... ...
    python -m hardware_transfer.launch --condition step [--step_budgets steps.json] -- <flags>

Everything after ``--`` is the runner's own flags. Time control: the run's time
budget (``max_allowed_runtime_sec``) is the workload's entry of ``--budgets``
instead of the workload's own. Step control: ``--max_global_steps`` is the workload's step budget (built-in
file, or ``step_hint`` for an embedded workload) and the time budget is
``NO_TIME_LIMIT_SEC`` (no limit in practice).

* local runner (``--runner local``, or ``auto`` with an embedded workload):
  ``python -m local_runner <flags> --max_allowed_runtime_sec=<budget>`` in a subprocess;
* official runner: in this process, ``algoperf.workloads.workloads.import_workload``
  is wrapped so that the workload it returns reports the budget as its
  ``max_allowed_runtime_sec``, then ``submission_runner.main`` runs under absl with
  the given flags.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from typing import Callable, List, Optional

from hardware_transfer import files, runners
from hardware_transfer.cli import run_main
from hardware_transfer.errors import TransferError

#: Time budget of a step-control run: about 31 years, i.e. no limit.
NO_TIME_LIMIT_SEC = 10**9


def with_max_runtime(workload_class: type, max_runtime_sec: float) -> type:
  """A subclass of ``workload_class`` whose ``max_allowed_runtime_sec`` is ``max_runtime_sec``."""
  return type(workload_class.__name__, (workload_class,), {
    'max_allowed_runtime_sec': property(lambda self: max_runtime_sec),
    '__module__': workload_class.__module__,
    '__doc__': workload_class.__doc__,
  })


def overriding_import_workload(import_workload: Callable, max_runtime_sec: float) -> Callable:
  """``import_workload`` whose result (class or instance) has the overridden budget."""

  def wrapped(*args, **kwargs):
    result = import_workload(*args, **kwargs)
    if isinstance(result, type):
      return with_max_runtime(result, max_runtime_sec)
    result.__class__ = with_max_runtime(type(result), max_runtime_sec)
    return result

  wrapped.__wrapped__ = import_workload
  return wrapped


def run_official(runner_flags: List[str], max_runtime_sec: float) -> None:
  """``submission_runner.main`` under absl, with ``import_workload`` patched (this process)."""
  from absl import app
  from algoperf.workloads import workloads

  import submission_runner

  workloads.import_workload = overriding_import_workload(workloads.import_workload,
                                                         max_runtime_sec)
  app.run(submission_runner.main, argv=['submission_runner', *runner_flags])


def local_command(runner_flags: List[str], max_runtime_sec: float) -> List[str]:
  return [sys.executable, '-m', 'local_runner', *runner_flags,
          f'--max_allowed_runtime_sec={max_runtime_sec}']


def resolve_budget(args, workload: str, runner_flags: List[str]):
  """(max_runtime_sec, extra runner flags) for the condition."""
  if args.condition == 'time':
    if not args.budgets:
      raise TransferError('--budgets is required for --condition time')
    budgets = files.load_budgets(args.budgets)
    return files.budget_for(budgets, workload, args.budgets, 'max_allowed_runtime_sec'), []
  if runners.has_flag(runner_flags, 'max_global_steps'):
    raise TransferError('--condition step sets --max_global_steps from the step budgets: '
                        'remove it from the runner flags')
  return NO_TIME_LIMIT_SEC, [f'--max_global_steps={step_budget(workload, args.step_budgets)}']


def step_budget(workload: str, step_budgets_path: Optional[str] = None) -> int:
  """The workload's entry of the step budgets file; an embedded workload not in the
  built-in file gets its ``step_hint``."""
  budgets = files.load_step_counts(step_budgets_path, 'step budgets')
  if workload not in budgets and step_budgets_path is None and runners.is_embedded(workload):
    from local_runner.workloads import get_workload

    return int(get_workload(workload).step_hint)
  return files.budget_for(budgets, workload, step_budgets_path or files.BUILTIN_STEP_BUDGETS,
                          'step budget')


def parse_args(argv: Optional[List[str]]):
  argv = list(sys.argv[1:] if argv is None else argv)
  if '--' not in argv and not {'-h', '--help'} & set(argv):
    raise TransferError('give the runner flags after "--", e.g. '
                        '--budgets budgets.json -- --workload=criteo1tb --submission_path=...')
  split = argv.index('--') if '--' in argv else len(argv)
  p = argparse.ArgumentParser(prog='python -m hardware_transfer.launch', description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--budgets', help='budgets JSON written by hardware_transfer.transfer')
  p.add_argument('--condition', choices=('time', 'step'), default='time')
  p.add_argument('--step_budgets', default=None,
                 help='step budgets JSON (default: the built-in '
                      f'{files.BUILTIN_STEP_BUDGETS.name})')
  p.add_argument('--runner', choices=runners.RUNNER_CHOICES, default='auto')
  return p.parse_args(argv[:split]), argv[split + 1:]


def main(argv: Optional[List[str]] = None) -> int:
  args, runner_flags = parse_args(argv)
  workload = runners.flag_value(runner_flags, 'workload')
  if not workload:
    raise TransferError('the runner flags after "--" lack --workload')
  if runners.has_flag(runner_flags, 'max_allowed_runtime_sec'):
    raise TransferError('the launcher sets max_allowed_runtime_sec from the budgets: remove '
                        '--max_allowed_runtime_sec from the runner flags')
  max_runtime_sec, condition_flags = resolve_budget(args, workload, runner_flags)
  runner_flags = runner_flags + condition_flags
  runner = runners.choose_runner(args.runner, workload)
  print(f'launch: {workload} on the {runner} runner, max_allowed_runtime_sec={max_runtime_sec}'
        + (f' {" ".join(condition_flags)}' if condition_flags else ''), flush=True)
  if runner == 'local':
    return subprocess.call(local_command(runner_flags, max_runtime_sec))
  runners.require_official_runner(workload)
  run_official(runner_flags, max_runtime_sec)
  return 0


if __name__ == '__main__':
  sys.exit(run_main(main))
