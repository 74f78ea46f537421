"""``python -m hardware_transfer.step_prompt``: VeLO's ``total_steps`` per workload.

    # time control: transferred budgets + short VeLO probe runs
    python -m hardware_transfer.step_prompt --budgets budgets.json --probes probes.json \\
        [--actual_steps actual.json] [--out_dir out/tuning_search_spaces]
    python -m hardware_transfer.step_prompt --budgets budgets.json \\
        --probe_logs experiments/velo_probe_1 experiments/velo_probe_2 --skip_steps 1
    # after a full first trial: the steps it completed are the prompt (no budget needed)
    python -m hardware_transfer.step_prompt --actual_steps actual.json
    # step control: the prompt is the step budget
    python -m hardware_transfer.step_prompt --condition step [--step_budgets steps.json] \\
        --out_dir out/tuning_search_spaces/step

Time control, per workload with probes: each probe gives
``estimate = floor(max_allowed_runtime_sec / (runtime_sec / steps))``; the
prompt is ``floor(mean(estimates))``, or the workload's entry of
``--actual_steps`` (steps a full first trial completed) when given: ``--budgets`` is
needed only for the workloads with probes. Step control: the prompt is the step budget.
Every prompt must be a plausible step count (``bench_core.arguments.STEPS``).
Writes ``<out_dir>/velo/<workload>.json``
with ``total_steps = prompt`` and ``<out_dir>/velo_short/<workload>.json`` with
``total_steps = floor(0.75 * prompt)``, both as AlgoPerf search spaces
(``{"total_steps": {"feasible_points": [N]}}``; other keys of an existing file are kept).
A prompt under which velo or velo_short would train 0 steps is refused before anything is
written.
The default ``--out_dir`` is ``out/tuning_search_spaces`` (untracked), which the study reads
before the project's ``tuning_search_spaces/`` (``study.locate``); ``--out_dir
tuning_search_spaces`` replaces the tracked prompts instead.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Dict, List, Optional

from bench_core import arguments, file_formats, layout
from bench_core.cli import run_main
from bench_core.errors import BenchError
from bench_core.file_formats import Measurement
from hardware_transfer import arithmetic, files, log_measurements

VELO_DIR, VELO_SHORT_DIR = 'velo', 'velo_short'
#: Where the prompts go unless ``--out_dir`` says otherwise (``study.locate`` reads it first).
DEFAULT_OUT_DIR = 'out/tuning_search_spaces'


@dataclasses.dataclass
class PromptDerivation:
  """Every number behind one workload's prompt (printed as a table)."""

  workload: str
  budget: Optional[int]  # seconds (time control; None with actual steps only) or steps
  probes: List[Measurement]
  estimates: List[int]
  mean_estimate: Optional[int]
  actual_steps: Optional[int]
  prompt: int
  short_prompt: int


def time_control_prompt(
  workload: str,
  budget_sec: Optional[int],
  probes: List[Measurement],
  actual_steps: Optional[int] = None,
) -> PromptDerivation:
  """Estimates from the probes, their floored mean, replaced by ``actual_steps`` when given."""
  estimates = [arithmetic.estimated_total_steps(budget_sec, p) for p in probes]
  mean = arithmetic.mean_prompt(estimates) if estimates else None
  prompt = actual_steps if actual_steps is not None else mean
  if prompt is None:
    raise BenchError(f'workload {workload!r}: no probes and no actual steps to prompt VeLO with')
  derivation = PromptDerivation(
    workload,
    budget_sec,
    list(probes),
    estimates,
    mean,
    actual_steps,
    prompt,
    arithmetic.short_prompt(prompt),
  )
  return check_prompt(derivation, 's')


def check_prompt(d: PromptDerivation, unit: str) -> PromptDerivation:
  """Refuse, before anything is written, a prompt under which velo or velo_short would train
  0 steps (BenchError naming the workload and the numbers), or one that is not a plausible
  step count (``bench_core.arguments.STEPS``: refused above 1e9, a warning above 1e7)."""
  if d.prompt < 1 or d.short_prompt < 1:
    raise BenchError(
      f'workload {d.workload!r}: VeLO prompt {d.prompt} (velo_short {d.short_prompt}) from a '
      f'budget of {d.budget} {unit}: a prompt must be at least 1 step for both; check the '
      'budget and the probes; nothing written'
    )
  arguments.check_plausible(d.prompt, f'the VeLO prompt of {d.workload}', arguments.STEPS)
  return d


def step_control_prompt(workload: str, step_budget: int) -> PromptDerivation:
  """The step budget itself."""
  derivation = PromptDerivation(
    workload, step_budget, [], [], None, None, step_budget, arithmetic.short_prompt(step_budget)
  )
  return check_prompt(derivation, 'steps')


def search_space(total_steps: int) -> Dict[str, Dict[str, List[int]]]:
  """The AlgoPerf search space that fixes ``total_steps``."""
  return {'total_steps': {'feasible_points': [int(total_steps)]}}


def write_search_spaces(d: PromptDerivation, out_dir: str | Path) -> List[Path]:
  """``velo/<workload>.json`` and ``velo_short/<workload>.json`` under ``out_dir``."""
  written = []
  for sub, steps in ((VELO_DIR, d.prompt), (VELO_SHORT_DIR, d.short_prompt)):
    path = Path(out_dir) / sub / f'{d.workload}.json'
    layout.update_json_object(path, search_space(steps))
    written.append(path)
  return written


def format_table(derivations: List[PromptDerivation], condition: str) -> str:
  budget_unit = 'budget s' if condition == 'time' else 'budget steps'
  lines = [
    f'{"workload":<22}{budget_unit:>13}{"probe":>7}{"steps":>8}{"runtime s":>12}'
    f'{"s/step":>12}{"estimate":>10}'
  ]
  for d in derivations:
    budget = '-' if d.budget is None else d.budget
    for i, (p, e) in enumerate(zip(d.probes, d.estimates)):
      lines.append(
        f'{d.workload:<22}{budget:>13}{i + 1:>7}{p.steps:>8}{p.runtime_sec:>12.3f}'
        f'{arithmetic.time_per_step(p):>12.6f}{e:>10}'
      )
    summary = [
      f'mean {d.mean_estimate}' if d.mean_estimate is not None else None,
      f'actual {d.actual_steps}' if d.actual_steps is not None else None,
      f'prompt (velo) {d.prompt}',
      f'velo_short {d.short_prompt}',
    ]
    lines.append(f'{d.workload:<22}{budget:>13}  -> ' + ', '.join(s for s in summary if s))
  return '\n'.join(lines)


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
  p = argparse.ArgumentParser(
    prog='python -m hardware_transfer.step_prompt',
    description=__doc__,
    formatter_class=argparse.RawDescriptionHelpFormatter,
  )
  p.add_argument('--condition', choices=('time', 'step'), default='time')
  p.add_argument('--budgets', help='budgets JSON written by hardware_transfer.transfer (time)')
  p.add_argument('--probes', help='JSON: workload -> [{"steps", "runtime_sec"}, ...] (time)')
  p.add_argument(
    '--probe_logs',
    nargs='+',
    help='AlgoPerf log directories of VeLO probe runs; each trial is one probe (time)',
  )
  p.add_argument(
    '--skip_steps', type=arguments.count(0), default=0, help='with --probe_logs, as in transfer'
  )
  p.add_argument(
    '--actual_steps',
    help='JSON: workload -> steps a full first trial completed; '
    'replaces the estimate as the prompt (time)',
  )
  p.add_argument(
    '--step_budgets',
    default=None,
    help='JSON: workload -> step budget (step; '
    f'default: the built-in {files.BUILTIN_STEP_BUDGETS.name})',
  )
  p.add_argument(
    '--out_dir',
    default=DEFAULT_OUT_DIR,
    help='folder that receives velo/ and velo_short/ (default: %(default)s, untracked; '
    'the study reads it before tuning_search_spaces/)',
  )
  return p.parse_args(argv)


def _time_derivations(args) -> List[PromptDerivation]:
  if args.probes and args.probe_logs:
    raise BenchError('give either --probes or --probe_logs, not both')
  if (args.probes or args.probe_logs) and not args.budgets:
    raise BenchError(
      '--budgets is required with --probes or --probe_logs (the estimate is the budget '
      'divided by the time per step); --actual_steps alone needs none'
    )
  if args.budgets and not (args.probes or args.probe_logs):
    raise BenchError(
      '--budgets is used only with --probes or --probe_logs: with --actual_steps alone the '
      'prompt is the actual steps; drop --budgets or add the probes'
    )
  budgets = file_formats.load_time_budgets(args.budgets) if args.budgets else {}
  if args.probes:
    probes, probe_source = file_formats.load_velo_probes(args.probes), args.probes
  elif args.probe_logs:
    probes = log_measurements.probes_from_logs(args.probe_logs, args.skip_steps)
    probe_source = ' '.join(args.probe_logs)
  else:
    probes, probe_source = {}, None
  actual = file_formats.load_actual_steps(args.actual_steps) if args.actual_steps else {}
  if not probes and not actual:
    raise BenchError('--condition time needs --probes, --probe_logs or --actual_steps')
  derivations = []
  for workload in sorted(set(probes) | set(actual)):
    budget = None
    if workload in probes:
      budget = file_formats.entry_for(
        budgets, workload, args.budgets, what=f'max_allowed_runtime_sec (needed by {probe_source})'
      ).max_allowed_runtime_sec
    derivations.append(
      time_control_prompt(workload, budget, probes.get(workload, []), actual.get(workload))
    )
  return derivations


def main(argv: Optional[List[str]] = None) -> int:
  args = parse_args(argv)
  arguments.check_writable(args.out_dir, '--out_dir', kind='folder')
  if args.condition == 'time':
    derivations = _time_derivations(args)
  else:
    if args.budgets or args.probes or args.probe_logs or args.actual_steps:
      raise BenchError(
        '--condition step takes only --step_budgets: the prompt is the step '
        'budget (drop --budgets/--probes/--probe_logs/--actual_steps)'
      )
    step_budgets = files.load_step_budgets(args.step_budgets)
    derivations = [step_control_prompt(w, s) for w, s in sorted(step_budgets.items())]
  print(format_table(derivations, args.condition))
  for d in derivations:
    for path in write_search_spaces(d, args.out_dir):
      print(f'wrote {path}')
  return 0


if __name__ == '__main__':
  sys.exit(run_main(main))
