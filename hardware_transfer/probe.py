"""``python -m hardware_transfer.probe``: a short run that measures time per step on this hardware.

    python -m hardware_transfer.probe --submission_path submissions/heavy_ball/submission.py \\
        --tuning_search_space tuning_search_spaces/heavy_ball.json \\
        --workload imagenet_resnet_mini --fraction 0.05 --out measured.json

Runs the submission for ``ceil(fraction * S)`` steps (``--max_global_steps``),
where S is the workload's ``step_hint`` for an embedded workload and the
reference steps (``--reference``, default the built-in table) for an official
one; ``--steps`` gives the count directly. Embedded workloads run on the local
runner in this process; official ones on ``python -m submission_runner`` (needs
algoperf). The logs are then read as ``hardware_transfer.log_measurements``
describes (``--skip_steps``, default 1: step 1 and its compilation left out) and
``{workload: {"steps", "runtime_sec", "num_gpus"}}`` is merged into ``--out``
(other workloads kept). With ``--as_probe`` the measurement is instead appended to
the workload's list in a probes file, the input of ``step_prompt``.
Flags after ``--`` go to the runner unchanged (e.g. ``-- --data_dir=/data``).
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

from hardware_transfer import files, log_measurements, runners
from hardware_transfer.arithmetic import exact
from hardware_transfer.cli import run_main
from hardware_transfer.errors import TransferError
from hardware_transfer.launch import NO_TIME_LIMIT_SEC

FRAMEWORK = 'jax'


def probe_steps(fraction: float, full_steps: int) -> int:
  """``ceil(fraction * full_steps)`` (the fraction taken as the decimal it prints as)."""
  return math.ceil(exact(fraction) * full_steps)


def full_steps_of(workload: str, runner: str, reference_path: Optional[str]) -> int:
  """S of the module docstring: step_hint (embedded) or the reference steps (official)."""
  if runner == 'local':
    from local_runner.workloads import get_workload

    try:
      return int(get_workload(workload).step_hint)
    except ValueError as e:  # the local runner's UnknownWorkloadError
      raise TransferError(str(e)) from None
  reference = files.load_reference(reference_path)
  source = reference_path or files.BUILTIN_REFERENCE
  entry = files.budget_for(reference, workload, source, what='reference steps')
  return entry['measurement'].steps


def run_local(workload: str, args, max_global_steps: int, log_root: Path) -> None:
  from local_runner.runner import RunConfig, run

  config = RunConfig(workload=workload, submission_path=args.submission_path,
                     experiment_dir=str(log_root.parent), experiment_name=log_root.name,
                     tuning_ruleset=args.tuning_ruleset,
                     tuning_search_space=args.tuning_search_space,
                     max_global_steps=max_global_steps, rng_seed=args.rng_seed, overwrite=True,
                     # A probe is step-limited only: neither the time budget (compilation
                     # can take longer than an embedded budget) nor the targets may end it.
                     max_allowed_runtime_sec=NO_TIME_LIMIT_SEC, stop_on_targets=False)
  try:
    run(config, progress=lambda msg: print(msg, flush=True))
  except ValueError as e:  # the local runner's input errors
    raise TransferError(str(e)) from None


def official_command(workload: str, args, max_global_steps: int, log_root: Path,
                     extra: List[str]) -> List[str]:
  """The ``submission_runner`` command line of an official probe run."""
  cmd = [sys.executable, '-m', 'submission_runner', f'--framework={FRAMEWORK}',
         f'--workload={workload}', f'--submission_path={args.submission_path}',
         f'--tuning_ruleset={args.tuning_ruleset}', f'--experiment_dir={log_root.parent}',
         f'--experiment_name={log_root.name}', f'--max_global_steps={max_global_steps}',
         f'--rng_seed={args.rng_seed}', '--overwrite']
  if args.tuning_search_space:
    cmd.append(f'--tuning_search_space={args.tuning_search_space}')
  return cmd + extra


def record(out: str, workload: str, measured: Dict[str, Any], as_probe: bool) -> None:
  """Merge the measurement into ``out`` (measured format, or appended to a probes list)."""
  if not as_probe:
    files.merge_into_json(out, {workload: measured})
    return
  path = Path(out)
  existing = files.read_json_object(path) if path.exists() else {}
  probes = existing.get(workload, [])
  if not isinstance(probes, list):
    raise TransferError(f'{out}: field {workload!r} must be a list of probes, got {probes!r}')
  probe = {'steps': measured['steps'], 'runtime_sec': measured['runtime_sec']}
  files.merge_into_json(path, {workload: probes + [probe]})


def parse_args(argv: Optional[List[str]]):
  argv = list(sys.argv[1:] if argv is None else argv)
  extra = argv[argv.index('--') + 1:] if '--' in argv else []
  own = argv[:argv.index('--')] if '--' in argv else argv
  p = argparse.ArgumentParser(prog='python -m hardware_transfer.probe', description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--submission_path', required=True)
  p.add_argument('--tuning_search_space', default=None)
  p.add_argument('--tuning_ruleset', choices=('external', 'self'), default='external')
  p.add_argument('--workload', required=True)
  p.add_argument('--fraction', type=float, default=0.05,
                 help='fraction of the full steps to run (default 0.05)')
  p.add_argument('--steps', type=int, default=None, help='run exactly this many steps instead')
  p.add_argument('--out', required=True, help='measured JSON to write or merge into')
  p.add_argument('--as_probe', action='store_true',
                 help='append to a probes file (step_prompt --probes) instead')
  p.add_argument('--experiment_dir', default='experiments/probe')
  p.add_argument('--experiment_name', default=None, help='default: probe_<workload>')
  p.add_argument('--runner', choices=runners.RUNNER_CHOICES, default='auto')
  p.add_argument('--skip_steps', type=int, default=1)
  p.add_argument('--num_gpus', type=int, default=None,
                 help='accelerators used (default: from the meta data, else 1)')
  p.add_argument('--reference', default=None, help='reference JSON for official step counts')
  p.add_argument('--rng_seed', type=int, default=1)
  return p.parse_args(own), extra


def main(argv: Optional[List[str]] = None) -> int:
  args, extra = parse_args(argv)
  if args.steps is None and not 0 < args.fraction <= 1:
    raise TransferError(f'--fraction must be in (0, 1], got {args.fraction}')
  if args.steps is not None and args.steps <= 0:
    raise TransferError(f'--steps must be positive, got {args.steps}')
  if args.skip_steps < 0:
    raise TransferError(f'--skip_steps must be >= 0, got {args.skip_steps}')
  runner = runners.choose_runner(args.runner, args.workload)
  if runner == 'official':
    runners.require_official_runner(args.workload)
  elif extra:
    raise TransferError(f'runner flags after -- are for the official runner only, got {extra}')
  steps = args.steps or probe_steps(args.fraction, full_steps_of(args.workload, runner,
                                                                  args.reference))
  if steps <= args.skip_steps:
    raise TransferError(f'the probe runs {steps} steps, not more than --skip_steps='
                        f'{args.skip_steps}: raise --fraction or --steps')
  log_root = Path(args.experiment_dir) / (args.experiment_name or f'probe_{args.workload}')
  print(f'probe: {args.workload} for {steps} steps on the {runner} runner -> {log_root}',
        flush=True)
  if runner == 'local':
    run_local(args.workload, args, steps, log_root)
  else:
    cmd = official_command(args.workload, args, steps, log_root, extra)
    print(' '.join(cmd), flush=True)
    rc = subprocess.call(cmd)
    if rc != 0:
      print(f'error: the official runner exited with status {rc}', file=sys.stderr)
      return rc
  workload_logs = log_root / f'{args.workload}_{FRAMEWORK}'
  measured = log_measurements.measured_from_logs(workload_logs, args.skip_steps,
                                                 args.num_gpus)[args.workload]
  record(args.out, args.workload, measured, args.as_probe)
  print(f'{args.workload}: {measured["steps"]} steps in {measured["runtime_sec"]:.3f} s '
        f'({measured["runtime_sec"] / measured["steps"]:.6f} s/step), {measured["num_gpus"]} '
        f'accelerator(s) -> {args.out}')
  return 0


if __name__ == '__main__':
  sys.exit(run_main(main))
