"""python -m scoring_ext.report: score an experiment tree and write the report.

  python -m scoring_ext.report --experiment_dir DIR --condition time|step --out OUT
      [--rules study|algoperf] [--targets derived|paper|algoperf] [--budget_fraction 0.75]
      [--max_tau 4] [--trial_rule earliest|algoperf] [--past_budget drop|keep]
      [--algorithms a b ...] [--workloads w ...] [--budgets FILE.json]
      [--reference [LABEL=]DIR ... [--reference_hardware FILE ...] [--allow_mixed_hardware]]
      [--bootstrap N --seed S]

Writes into OUT: audit.md, targets.csv, time_to_target.csv (levels trial, study, median),
scores.csv, quality.csv, prompt_sensitivity.csv (when velo and velo_short are present),
report.md, one .tex (booktabs) per table, performance_profile_<split>.png/.pdf.
Everything is built in memory first; on an error nothing is written. The console gets every
warning of the audit (trials without evaluations, damaged logs, early stops...) and ends with
a summary of what the audit found.

--rules study (default) scores by the study's protocol; --rules algoperf by AlgoPerf's
scoring code (its targets, multi-trial rule and past-budget handling together);
--targets, --trial_rule and --past_budget override one setting of the set.

Reference hardware file (--reference_hardware): the budgets file of
`python -m hardware_transfer.transfer`, or any JSON object of that shape:
  {"<workload>": {"local_time_per_step": s, "reference_time_per_step": s, ...}, ...}
Reference times on a workload are multiplied by local_time_per_step / reference_time_per_step.
"""

from __future__ import annotations

import argparse
import sys

from bench_core.cli import run_main
from bench_core.errors import BenchError
from scoring_ext import budgets as budgets_lib
from scoring_ext.compute import rules
from scoring_ext.compute import time_to_target as ttt
from scoring_ext.render import audit, outputs
from scoring_ext.scoring import TARGET_SOURCES, ScoringConfig, score_experiment


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
    prog='python -m scoring_ext.report',
    description=__doc__,
    formatter_class=argparse.RawDescriptionHelpFormatter,
  )
  parser.add_argument(
    '--experiment_dir',
    required=True,
    help='The tree to score: <dir>/<algorithm>/<study>/<workload>_<framework>/trial_<k>/, '
    'each trial with eval_measurements.csv or, without it, its tuning run in the '
    "official runner's text log <workload>_<framework>/*.log.",
  )
  parser.add_argument(
    '--condition',
    required=True,
    choices=budgets_lib.CONDITIONS,
    help='time: the clock is accumulated_submission_time and the budget '
    'workload.max_allowed_runtime_sec (meta_data_0.json); step: the clock is '
    'global_step and the budget max_global_steps (flags_0.json, else '
    'workload.step_hint).',
  )
  parser.add_argument(
    '--out', required=True, help='Folder for the report files; written only when scoring succeeded.'
  )
  parser.add_argument(
    '--rules',
    default='study',
    choices=tuple(rules.RULE_SETS),
    help="study (default): the study's protocol (--targets derived --trial_rule earliest "
    "--past_budget drop); algoperf: AlgoPerf's scoring code (--targets algoperf "
    "--trial_rule algoperf --past_budget keep), which gives AlgoPerf's times to target on "
    'its logs. Each of those flags given on its own overrides the set.',
  )
  parser.add_argument(
    '--targets',
    default=None,
    choices=TARGET_SOURCES,
    help='derived (--rules study): per workload and split, the best over algorithms of the '
    "median metric at --budget_fraction of the budget; paper: the study's published targets "
    "of the official workloads; algoperf (--rules algoperf): each workload's own "
    'workload.validation_target_value (validation targets only).',
  )
  parser.add_argument(
    '--paper_targets_on_stand_ins',
    action='store_true',
    help='With --targets paper: give each embedded *_mini workload the published target of '
    'the official workload it stands in for (refused otherwise: they are different '
    'models and data).',
  )
  parser.add_argument(
    '--budget_fraction',
    type=float,
    default=0.75,
    help='With --targets derived: the point of the budget, 0 < f <= 1 (default 0.75), at '
    "which each trial's metric is taken to derive the targets.",
  )
  parser.add_argument(
    '--max_tau',
    type=float,
    default=4.0,
    help='Largest ratio to the fastest algorithm in the performance profiles (> 1, default 4 '
    'as in AlgoPerf): a time above max_tau x the fastest counts as a miss, and B is the '
    'area under rho over [1, max_tau] divided by max_tau - 1.',
  )
  parser.add_argument(
    '--trial_rule',
    default=None,
    choices=ttt.TRIAL_RULES,
    help='How a study with several trials gets its time. earliest (--rules study): the '
    "earliest time to target over its trials; algoperf (--rules algoperf): AlgoPerf's rule, "
    "the trial whose evaluation index reaches the target first, then that trial's time.",
  )
  parser.add_argument(
    '--past_budget',
    default=None,
    choices=ttt.PAST_BUDGET,
    help='Evaluations logged past the budget: drop (--rules study) lets them reach no target; '
    "keep (--rules algoperf) counts them, as AlgoPerf's scoring code does.",
  )
  parser.add_argument(
    '--algorithms',
    nargs='+',
    help='Score only these algorithms (folder names; default: all found).',
  )
  parser.add_argument(
    '--workloads', nargs='+', help='Score only these workloads (default: all found).'
  )
  parser.add_argument(
    '--budgets',
    help='JSON file of budgets replacing the logged ones: under time the time budgets that '
    'hardware_transfer.transfer writes (or {"<workload>": seconds}), under step a step budgets '
    'file ({"<workload>": steps}), or {"time": {...}, "step": {...}}; seconds under time, '
    'steps under step. A file of another kind is refused.',
  )
  parser.add_argument(
    '--reference',
    nargs='+',
    default=[],
    metavar='[LABEL=]DIR',
    help="Other experiment trees (e.g. AlgoPerf's published baseline logs, last year's "
    'study) scored as extra algorithms named LABEL/<algorithm> (LABEL: the folder '
    "name by default), on this experiment's workloads and budgets.",
  )
  parser.add_argument(
    '--reference_hardware',
    nargs='+',
    default=[],
    metavar='FILE',
    help='Hardware file(s) to rescale reference times to this hardware under the time '
    'condition (one for all references, or one per reference): see the format above.',
  )
  parser.add_argument(
    '--allow_mixed_hardware',
    action='store_true',
    help='Under the time condition, score reference times as measured, without a hardware '
    'file (refused otherwise: they come from other hardware).',
  )
  parser.add_argument(
    '--allow_other_condition',
    action='store_true',
    help='Score trials that recorded the other condition (e.g. the wall time of step-control '
    'runs) instead of refusing them; the audit warns.',
  )
  parser.add_argument(
    '--bootstrap',
    type=int,
    default=0,
    help='Bootstrap replicates over studies for 95%% confidence intervals of B and of the '
    'quality means (default 0: none; at most 100000, about 2000 is enough).',
  )
  parser.add_argument(
    '--seed', type=int, default=0, help="Seed of the bootstrap's random generator (default 0)."
  )
  return parser


def config_from_args(args: argparse.Namespace) -> ScoringConfig:
  """The scoring configuration the parsed command line asks for (budgets file read)."""
  override = budgets_lib.read_budgets_file(args.budgets, args.condition) if args.budgets else None
  if (args.reference_hardware or args.allow_mixed_hardware) and not args.reference:
    raise BenchError('--reference_hardware and --allow_mixed_hardware need --reference DIR')
  return ScoringConfig(
    condition=args.condition,
    rules=args.rules,
    target_source=args.targets,
    trial_rule=args.trial_rule,
    past_budget=args.past_budget,
    budget_fraction=args.budget_fraction,
    max_tau=args.max_tau,
    algorithms=args.algorithms,
    workloads=args.workloads,
    budgets_override=override,
    n_bootstrap=args.bootstrap,
    seed=args.seed,
    reference_dirs=args.reference,
    reference_hardware=args.reference_hardware,
    allow_mixed_hardware=args.allow_mixed_hardware,
    paper_stand_ins=args.paper_targets_on_stand_ins,
    allow_other_condition=args.allow_other_condition,
  )


def main(argv=None) -> int:
  args = build_parser().parse_args(argv)
  result = score_experiment(args.experiment_dir, config_from_args(args))
  files = outputs.write_report(result, args.out)
  print(f'wrote {len(files)} files to {args.out}')
  for line in audit.console_lines(result.trials, result.issues, result.stopped_early):
    print(line)
  return 0


if __name__ == '__main__':
  sys.exit(run_main(main))
