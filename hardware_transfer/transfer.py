"""``python -m hardware_transfer.transfer``: reference budgets -> budgets on this hardware.

    python -m hardware_transfer.transfer --measured measured.json [--out out/budgets.json]
    python -m hardware_transfer.transfer --measured_logs experiments/probe --skip_steps 1 \\
        [--out out/budgets.json] [--reference my_reference.json] [--num_gpus 8]

``--measured_logs DIR`` is any folder holding runs' logs (``<workload>_jax/trial_<k>/``
folders at any depth), e.g. ``experiments/probe``, where ``study.probe`` runs by default.
``--out`` (default ``out/budgets.json``, where ``make transfer`` writes) is checked to be
writable before anything is read.

Per measured workload (formulas in ``hardware_transfer.arithmetic``):
``factor = local_time_per_step / reference_time_per_step`` and
``max_allowed_runtime_sec = floor(reference_runtime_sec * factor)``; a variant
(``wmt_post_ln``) without a reference of its own is measured against its base's. The output
keeps the budgets of workloads already in ``--out`` that were not measured now.

Results that cannot be a budget are refused before anything is written, naming the workload:
a factor outside ``arguments.PLAUSIBLE_FACTOR`` (1/1000 to 1000) or a budget below 1 s.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Dict, List, Optional

from bench_core import arguments, catalogue, file_formats
from bench_core.cli import run_main
from bench_core.errors import BenchError
from bench_core.file_formats import Measured, ReferenceBudget, TimeBudget
from hardware_transfer import arithmetic, files, log_measurements


def reference_entry(
  reference: Dict[str, ReferenceBudget], workload: str, measured_source: str, reference_source: str
) -> ReferenceBudget:
  """The reference of ``workload``: its own, else (a variant) its base workload's."""
  for name in catalogue.lookup_names(workload):
    if name in reference:
      return reference[name]
  raise BenchError(
    f'{measured_source}: unknown workload {workload!r}: the reference {reference_source} has '
    f'{", ".join(sorted(reference))} (give --reference with an entry for it)'
  )


def transfer_budgets(
  measured: Dict[str, Measured],
  reference: Dict[str, ReferenceBudget],
  measured_source: str,
  reference_source: str,
) -> Dict[str, TimeBudget]:
  """workload -> its time budget, for every measured workload (all must be in reference)."""
  out = {}
  for workload, entry in measured.items():
    ref_entry = reference_entry(reference, workload, measured_source, reference_source)
    local, ref = entry.measurement, ref_entry.measurement
    check_result(workload, local, ref, measured_source)
    out[workload] = TimeBudget(
      max_allowed_runtime_sec=arithmetic.transferred_max_runtime(local, ref),
      factor=arithmetic.transfer_factor(local, ref),
      local_time_per_step=arithmetic.time_per_step(local),
      reference_time_per_step=arithmetic.time_per_step(ref),
      num_gpus=entry.num_gpus,
    )
  return out


def check_result(workload: str, local, reference, measured_source: str) -> None:
  """Refuse a transfer that gives an implausible factor or a budget below 1 s (BenchError
  naming the workload, the measurement and the result)."""
  factor = arithmetic.transfer_factor(local, reference)
  budget = arithmetic.transferred_max_runtime(local, reference)
  measured = f'{local.steps} steps in {local.runtime_sec:g} s'
  if arguments.implausible_factor(factor):
    low, high = arguments.PLAUSIBLE_FACTOR
    raise BenchError(
      f'{measured_source}: workload {workload!r}: the measurement ({measured}) gives a '
      f'hardware factor of {factor:.3g}, outside the plausible range [{low:g}, {high:g}]: '
      'check it (units, workload, a probe cut short); nothing written'
    )
  if budget < 1:
    raise BenchError(
      f'{measured_source}: workload {workload!r}: the measurement ({measured}) gives a budget '
      f'of {budget} s; nothing written'
    )


def format_table(budgets: Dict[str, TimeBudget], reference: Dict[str, ReferenceBudget]) -> str:
  header = (
    f'{"workload":<22}{"ref steps":>10}{"ref s":>10}{"ref s/step":>13}'
    f'{"local s/step":>14}{"factor":>10}{"gpus":>6}{"budget s":>10}'
  )
  lines = [header]
  for w, b in sorted(budgets.items()):
    ref = reference_entry(reference, w, '', '').measurement
    lines.append(
      f'{w:<22}{ref.steps:>10}{ref.runtime_sec:>10}{b.reference_time_per_step:>13.6f}'
      f'{b.local_time_per_step:>14.6f}{b.factor:>10.4f}{b.num_gpus:>6}'
      f'{b.max_allowed_runtime_sec:>10}'
    )
  return '\n'.join(lines)


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
  p = argparse.ArgumentParser(
    prog='python -m hardware_transfer.transfer',
    description=__doc__,
    formatter_class=argparse.RawDescriptionHelpFormatter,
  )
  src = p.add_mutually_exclusive_group(required=True)
  src.add_argument('--measured', help='JSON: workload -> {"steps", "runtime_sec", "num_gpus"}')
  src.add_argument(
    '--measured_logs',
    help='folder holding probe runs (<workload>_jax/trial_<k>/ at any depth), '
    'e.g. experiments/probe',
  )
  p.add_argument(
    '--skip_steps',
    type=int,
    default=0,
    help='with --measured_logs: measure between the first evaluation at or after '
    'this step and the last one (default 0: from the start)',
  )
  p.add_argument(
    '--num_gpus',
    type=int,
    default=None,
    help='with --measured_logs: accelerators used (default: from the meta data, else 1)',
  )
  p.add_argument(
    '--reference',
    default=None,
    help='JSON: workload -> {"algorithm", "steps", "runtime_sec"} '
    f'(default: the built-in {files.BUILTIN_REFERENCE.name})',
  )
  p.add_argument(
    '--out',
    default='out/budgets.json',
    help='budgets JSON to write (other workloads kept; default %(default)s)',
  )
  return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
  args = parse_args(argv)
  arguments.check_writable(args.out, '--out')
  if args.skip_steps < 0:
    raise BenchError(f'--skip_steps must be >= 0, got {args.skip_steps}')
  if args.num_gpus is not None and args.num_gpus <= 0:
    raise BenchError(f'--num_gpus must be positive, got {args.num_gpus}')
  reference_source = args.reference or str(files.BUILTIN_REFERENCE)
  reference = files.load_reference(args.reference)
  out = Path(args.out)
  kept = file_formats.load_time_budgets(out) if out.exists() else {}
  if args.measured:
    measured_source = args.measured
    measured = file_formats.load_measurements(args.measured)
  else:
    measured_source = args.measured_logs
    measured = log_measurements.measured_from_logs(
      args.measured_logs, args.skip_steps, args.num_gpus
    )
  budgets = transfer_budgets(measured, reference, measured_source, reference_source)
  print(format_table(budgets, reference))
  file_formats.dump_time_budgets(out, {**kept, **budgets})
  print(f'wrote {Path(args.out)}')
  return 0


if __name__ == '__main__':
  sys.exit(run_main(main))
