"""``python -m study.probe``: a short run that measures time per step on this hardware.

    python -m study.probe --opt heavy_ball --workload imagenet_resnet_mini --fraction 0.05 \\
        --out measured.json
    python -m study.probe --opt velo --workload ogbg --tuning_search_space SPACE.json \\
        --as_probe --out probes.json --data_dir /data

Runs the submission for ``ceil(fraction * S)`` steps, where S is the workload's ``step_hint``
for an embedded workload and the reference steps (``--reference``, default the built-in
table) for an official one; ``--steps`` gives the count directly. The run is a
``TrialSpec`` like every other (``study.trial``): step control with that many steps as its
budget, so neither the time budget nor the targets end it, on the runner the workload
needs. Its logs are then read as ``hardware_transfer.log_measurements`` describes
(``--skip_steps``, default 1: step 1 and its compilation left out) and
``{workload: {"steps", "runtime_sec", "num_gpus"}}`` is merged into ``--out`` (other
workloads kept). With ``--as_probe`` the measurement is instead appended to the workload's
list in a probes file, the input of ``hardware_transfer.step_prompt``.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
from pathlib import Path
from typing import List, Optional

from bench_core import arguments, catalogue, file_formats
from bench_core.cli import run_main
from bench_core.errors import BenchError
from bench_core.file_formats import Measured, StepBudget
from hardware_transfer import files, log_measurements
from hardware_transfer.arithmetic import exact
from local_runner.workloads import get_workload
from study.trial import TrialSpec


def probe_steps(fraction: float, full_steps: int) -> int:
  """``ceil(fraction * full_steps)`` (the fraction taken as the decimal it prints as)."""
  return math.ceil(exact(fraction) * full_steps)


def full_steps_of(workload: str, reference_path: Optional[str]) -> int:
  """S of the module docstring: step_hint (embedded) or the reference steps (official)."""
  if catalogue.is_embedded(workload):
    return int(get_workload(workload).step_hint)
  reference = files.load_reference(reference_path)
  source = reference_path or files.BUILTIN_REFERENCE
  entry = file_formats.entry_for(reference, workload, source, what='reference steps')
  return entry.measurement.steps


def record(out: str, workload: str, measured: Measured, as_probe: bool) -> None:
  """Merge the measurement into ``out`` (a measurements file, or appended to the workload's
  list in a VeLO probes file); the other workloads of ``out`` are kept."""
  path = Path(out)
  if not as_probe:
    existing = file_formats.load_measurements(path) if path.exists() else {}
    file_formats.dump_measurements(path, {**existing, workload: measured})
    return
  existing = file_formats.load_velo_probes(path) if path.exists() else {}
  probes = existing.get(workload, []) + [measured.measurement]
  file_formats.dump_velo_probes(path, {**existing, workload: probes})


def probe_trial(args, steps: int) -> TrialSpec:
  """The probe run as a trial: step control whose step budget is the probe's length."""
  root = Path(args.experiment_dir).expanduser().resolve() / f'probe_{args.workload}'
  step_budgets = root / 'probe_steps.json'
  file_formats.dump_step_budgets(step_budgets, {args.workload: StepBudget(steps)})
  return TrialSpec(
    args.opt,
    args.workload,
    'step',
    1,
    args.rng_seed,
    root,
    step_budgets=str(step_budgets),
    data_dir=args.data_dir,
    search_space_path=args.tuning_search_space,
  )


def parse_args(argv: Optional[List[str]]):
  p = argparse.ArgumentParser(
    prog='python -m study.probe',
    description=__doc__,
    formatter_class=argparse.RawDescriptionHelpFormatter,
  )
  p.add_argument('--opt', required=True, help='submission folder name, e.g. heavy_ball')
  p.add_argument('--workload', required=True)
  p.add_argument(
    '--tuning_search_space',
    default=None,
    help='search space to use (default: the one make submit would use)',
  )
  p.add_argument(
    '--fraction',
    type=arguments.positive_float,
    default=0.05,
    help='fraction of the full steps to run (default 0.05)',
  )
  p.add_argument(
    '--steps', type=arguments.count(1), default=None, help='run exactly this many steps instead'
  )
  p.add_argument('--out', required=True, help='measured JSON to write or merge into')
  p.add_argument(
    '--as_probe', action='store_true', help='append to a probes file (step_prompt --probes) instead'
  )
  p.add_argument('--experiment_dir', default='experiments/probe')
  p.add_argument('--skip_steps', type=arguments.count(0), default=1)
  p.add_argument(
    '--num_gpus',
    type=arguments.count(1),
    default=None,
    help='accelerators used (default: from the meta data, else 1)',
  )
  p.add_argument('--reference', default=None, help='reference JSON for official step counts')
  p.add_argument('--rng_seed', type=arguments.count(1), default=1)
  p.add_argument('--data_dir', default=None, help="the official runner's --data_dir")
  return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
  args = parse_args(argv)
  catalogue.check_workload(args.workload)
  arguments.check_writable(args.out, '--out')
  if Path(args.out).exists():  # the file the measurement joins: its kind checked before the run
    (file_formats.load_velo_probes if args.as_probe else file_formats.load_measurements)(args.out)
  arguments.check_writable(args.experiment_dir, '--experiment_dir', kind='folder')
  if args.steps is None and not 0 < args.fraction <= 1:
    raise BenchError(f'--fraction must be in (0, 1], got {args.fraction}')
  if args.steps is not None and args.steps <= 0:
    raise BenchError(f'--steps must be positive, got {args.steps}')
  if args.skip_steps < 0:
    raise BenchError(f'--skip_steps must be >= 0, got {args.skip_steps}')
  steps = args.steps or probe_steps(args.fraction, full_steps_of(args.workload, args.reference))
  if steps <= args.skip_steps:
    raise BenchError(
      f'the probe runs {steps} steps, not more than --skip_steps='
      f'{args.skip_steps}: raise --fraction or --steps'
    )
  trial = probe_trial(args, steps)
  print(f'probe: {args.opt} on {args.workload} for {steps} steps -> {trial.run_dir}', flush=True)
  trial.write_run_config(overwrite=True)
  status = subprocess.call(trial.command())
  if status != 0:
    print(f'error: the probe run exited with status {status}', file=sys.stderr)
    return status
  measured = log_measurements.measured_from_logs(trial.run_dir, args.skip_steps, args.num_gpus)[
    args.workload
  ]
  record(args.out, args.workload, measured, args.as_probe)
  m = measured.measurement
  print(
    f'{args.workload}: {m.steps} steps in {m.runtime_sec:.3f} s '
    f'({m.runtime_sec / m.steps:.6f} s/step), {measured.num_gpus} '
    f'accelerator(s) -> {args.out}'
  )
  return 0


if __name__ == '__main__':
  sys.exit(run_main(main))
