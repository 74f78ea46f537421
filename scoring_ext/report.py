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

import numpy as np
import pandas as pd

from bench_core.cli import run_main
from bench_core.errors import BenchError
from scoring_ext import audit, plots, rules, tables
from scoring_ext import budgets as budgets_lib
from scoring_ext import time_to_target as ttt
from scoring_ext.scoring import TARGET_SOURCES, ScoringResult, score_experiment

_QUANTITY_LABELS = {
  ('train', 'loss'): 'train loss',
  ('validation', 'loss'): 'validation loss',
  ('train', 'metric'): 'train metric',
  ('validation', 'metric'): 'validation metric',
}
LONG_COLUMNS = [
  'level',
  'algorithm',
  'workload',
  'split',
  'study',
  'trial',
  'time_to_target',
  'hit_index',
  'n_trials',
  'n_studies',
  'n_reached',
]


def time_to_target_long(result: ScoringResult) -> pd.DataFrame:
  """Per-trial rows (level 'trial'), per-study rows with the trial the rule chose (level
  'study'), then the medians with the counts of studies (level 'median')."""
  per_trial = result.per_trial.drop(columns=['trial_id']).assign(level='trial')
  studies = (
    result.per_study_detail if result.per_study_detail is not None else result.per_study
  ).assign(level='study')
  medians = result.medians.assign(level='median', study='', trial='')
  frame = pd.concat([per_trial, studies, medians], ignore_index=True, sort=False)
  frame = frame.reindex(columns=LONG_COLUMNS)
  counts = ['hit_index', 'n_trials', 'n_studies', 'n_reached']
  frame[counts] = frame[counts].astype('Int64')
  return frame


def _reached_counts(result: ScoringResult, split: str) -> dict:
  subset = result.medians[result.medians['split'] == split]
  if 'n_reached' not in subset:
    return {}
  return {
    (r.algorithm, r.workload): (int(r.n_reached), int(r.n_studies)) for r in subset.itertuples()
  }


def median_times_wide(result: ScoringResult, split: str, counts: bool = False) -> pd.DataFrame:
  """algorithm x workload median times of one split; with `counts`, text cells
  'median (k/n)': k of the n studies reached the target."""
  subset = result.medians[result.medians['split'] == split]
  workloads = sorted(result.targets.loc[result.targets['split'] == split, 'workload'])
  wide = subset.pivot(index='algorithm', columns='workload', values='time_to_target')
  wide = wide.reindex(index=result.algorithms, columns=workloads).fillna(np.inf)
  wide.columns.name = None
  if counts:
    reached = _reached_counts(result, split)
    wide = wide.astype(object)
    for algorithm in wide.index:
      for workload in wide.columns:
        k, n = reached.get((algorithm, workload), (0, 0))
        wide.at[algorithm, workload] = (
          f'{tables.format_cell(wide.at[algorithm, workload])} ({k}/{n})'
        )
  return wide.rename_axis('algorithm').reset_index()


def scores_wide(result: ScoringResult) -> pd.DataFrame:
  """algorithm x split score B, with '[low, high]' intervals when bootstrapped."""
  frame = pd.DataFrame({'algorithm': result.algorithms})
  for split, group in result.scores.groupby('split', sort=False):
    group = group.set_index('algorithm').reindex(result.algorithms)
    frame[f'B ({split})'] = group['score'].to_numpy()
    if 'ci_low' in group:
      frame[f'95% CI ({split})'] = [
        f'[{lo:.3f}, {hi:.3f}]' for lo, hi in zip(group['ci_low'], group['ci_high'])
      ]
  return frame


def quality_cell(
  mean: float,
  std: float,
  n_studies: int,
  n_diverged: int,
  n_no_evals: int = 0,
  n_stopped_early: int = 0,
) -> str:
  """'mean ± std (n=k)', n being the studies averaged; ', d diverged', ', m no evaluation'
  and ', e stopped early' when some studies diverged, logged no evaluation, or have their
  value from a trial that stopped before the end of the budget."""
  text = tables.format_cell(mean)
  if np.isfinite(std):
    text += f' ± {tables.format_cell(std)}'
  count = f'n={int(n_studies)}'
  if n_diverged:
    count += f', {int(n_diverged)} diverged'
  if n_no_evals:
    count += f', {int(n_no_evals)} no evaluation'
  if n_stopped_early:
    count += f', {int(n_stopped_early)} stopped early'
  return f'{text} ({count})'


def quality_wide(result: ScoringResult) -> pd.DataFrame:
  """(workload, algorithm) x {train, validation} x {loss, metric}: 'mean ± std (n=k)'."""
  rows = {}
  for r in result.quality.itertuples(index=False):
    split, name = r.quantity.split('/', 1)
    kind = 'loss' if name == 'loss' else 'metric'
    row = rows.setdefault(
      (r.workload, r.algorithm), {'workload': r.workload, 'algorithm': r.algorithm, 'metric': ''}
    )
    if kind == 'metric' or not row['metric']:
      row['metric'] = name
    text = quality_cell(r.mean, r.std, r.n_studies, r.n_diverged, r.n_no_evals, r.n_stopped_early)
    row[_QUANTITY_LABELS[(split, kind)]] = text
    if kind == 'loss' and name == row['metric']:
      row[_QUANTITY_LABELS[(split, 'metric')]] = text
  columns = ['workload', 'algorithm', 'metric'] + list(_QUANTITY_LABELS.values())
  return pd.DataFrame(list(rows.values())).reindex(columns=columns)


def prompt_display(frame: pd.DataFrame) -> pd.DataFrame:
  """Prompt-sensitivity table with '-' for a miss."""
  shown = frame.astype(object)
  for column in frame.columns[2:]:
    shown[column] = [tables.format_cell(v) if np.isfinite(v) else '-' for v in frame[column]]
  return shown


def rules_in_force(result: ScoringResult) -> dict:
  """The scoring rules this report used, as sentences (report.md and audit.md)."""
  in_force = {}
  if result.rules is not None:
    in_force['rule set'] = result.rules.describe()
  in_force.update(
    {
      'multi-trial rule': f'{result.trial_rule} ({ttt.RULE_TEXT[result.trial_rule]})',
      'evaluations past the budget': ttt.PAST_BUDGET_TEXT[result.past_budget],
      'trials without evaluations': 'a miss (time to target inf) in their study, the median '
      'and its n, the profiles and the scores; damaged trials are left out and named',
    }
  )
  return in_force


def _scores_note(result: ScoringResult) -> str:
  note = f'max_tau = {result.max_tau:g}; 1 = fastest on every workload, 0 = no target reached.'
  for split, group in result.scores.groupby('split', sort=False):
    if (group['score'] == 0).all():
      note += (
        f' No algorithm reached the {split} targets in the median over its studies: '
        'see how many studies did, (k/n), in the time-to-target table.'
      )
  return note


def _section(title: str, frame: pd.DataFrame, note: str = '') -> str:
  return f'## {title}\n\n' + (note + '\n\n' if note else '') + tables.to_markdown(frame) + '\n'


def render_outputs(result: ScoringResult) -> dict[str, bytes | str]:
  """Every output file, name -> content, built in memory."""
  unit = 'seconds' if result.condition == 'time' else 'steps'
  rules = rules_in_force(result)
  files: dict[str, bytes | str] = {}
  files['audit.md'] = audit.render_audit(
    result.experiment_dir,
    result.condition,
    result.trials,
    result.issues,
    result.budgets,
    unit,
    rules=rules,
    references=result.references,
    short_of_step_budget=result.short_of_step_budget,
    stopped_early=result.stopped_early,
  )
  files['targets.csv'] = tables.to_csv(result.targets)
  files['time_to_target.csv'] = tables.to_csv(time_to_target_long(result))
  files['scores.csv'] = tables.to_csv(result.scores)
  files['quality.csv'] = tables.to_csv(result.quality)

  display = [
    ('Targets', 'targets', result.targets.drop(columns=['column']), ''),
    ('Scores B', 'scores', scores_wide(result), _scores_note(result)),
  ]
  for split in result.profiles:
    display.append(
      (
        f'Median time to {split} target ({unit})',
        f'time_to_target_{split}',
        median_times_wide(result, split, counts=True),
        'Median over studies, then (k/n): k of the n studies reached the target. '
        '`inf`: the median is a miss (half or more of the studies missed).',
      )
    )
  display.append(
    (
      'Quality at the end of the budget (mean ± std over studies)',
      'quality',
      quality_wide(result),
      'n: the studies averaged (a diverged study, or one whose trials logged no evaluation, '
      'has no final value). "stopped early": the value of a trial that ended before its '
      'budget, at its last evaluation.',
    )
  )
  if result.prompt is not None:
    files['prompt_sensitivity.csv'] = tables.to_csv(result.prompt)
    display.append(
      (
        f'Prompt sensitivity: median time to target ({unit})',
        'prompt_sensitivity',
        prompt_display(result.prompt),
        '`-`: a miss.',
      )
    )
  if result.references is not None:
    display.append(
      (
        'Reference runs',
        'references',
        result.references,
        'Algorithms from other experiment trees, and what was done to their times.',
      )
    )

  n_warn = sum(1 for i in result.issues if i.level != 'note')
  summary = audit.summary(result.trials, result.stopped_early)
  report = [
    f'# Scoring report ({result.condition} condition)\n',
    f'- experiment: `{result.experiment_dir}`',
    f'- targets: {result.target_source}'
    + (
      f' (at {result.budget_fraction:g} of the budget)' if result.target_source == 'derived' else ''
    ),
    *[f'- {name}: {text}' for name, text in rules.items()],
    f'- algorithms: {", ".join(result.algorithms)}',
    f'- workloads: {", ".join(result.workloads)}',
    f'- audit: {summary}; {n_warn} warning(s); see [audit.md](audit.md)\n',
  ]
  for title, stem, frame, note in display:
    report.append(_section(title, frame, note))
    files[f'{stem}.tex'] = tables.to_latex(frame, caption=title)
  report.append('## Performance profiles\n')
  for split, (taus, rho, algorithms, _) in result.profiles.items():
    split_scores = result.scores[result.scores['split'] == split].set_index('algorithm')
    images = plots.render_profile_figure(
      taus,
      rho,
      algorithms,
      f'{split} targets, {result.condition} condition',
      scores=split_scores['score'].reindex(algorithms).to_numpy(),
    )
    for fmt, data in images.items():
      files[f'performance_profile_{split}.{fmt}'] = data
    report.append(f'![{split} performance profile](performance_profile_{split}.png)\n')
  files['report.md'] = '\n'.join(report)
  return files


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


def main(argv=None) -> int:
  args = build_parser().parse_args(argv)
  override = budgets_lib.read_budgets_file(args.budgets, args.condition) if args.budgets else None
  if (args.reference_hardware or args.allow_mixed_hardware) and not args.reference:
    raise BenchError('--reference_hardware and --allow_mixed_hardware need --reference DIR')
  result = score_experiment(
    args.experiment_dir,
    args.condition,
    args.targets,
    args.budget_fraction,
    args.max_tau,
    args.algorithms,
    args.workloads,
    override,
    args.bootstrap,
    args.seed,
    rules=args.rules,
    trial_rule=args.trial_rule,
    past_budget=args.past_budget,
    reference_dirs=args.reference,
    reference_hardware=args.reference_hardware,
    allow_mixed_hardware=args.allow_mixed_hardware,
    paper_stand_ins=args.paper_targets_on_stand_ins,
    allow_other_condition=args.allow_other_condition,
  )
  files = render_outputs(result)
  try:
    tables.write_all_atomic(args.out, files)
  except OSError as e:
    raise BenchError(f'cannot write the report into {args.out}: {e}') from None
  print(f'wrote {len(files)} files to {args.out}')
  for line in audit.console_lines(result.trials, result.issues, result.stopped_early):
    print(line)
  return 0


if __name__ == '__main__':
  sys.exit(run_main(main))
