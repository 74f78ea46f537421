"""python -m scoring_ext.report: score an experiment tree and write the report.

  python -m scoring_ext.report --experiment_dir DIR --condition time|step --out OUT
      [--targets derived|paper|algoperf] [--budget_fraction 0.75] [--max_tau 4]
      [--algorithms a b ...] [--workloads w ...] [--budgets FILE.json]
      [--bootstrap N --seed S]

Writes into OUT: audit.md, targets.csv, time_to_target.csv, scores.csv,
quality.csv, prompt_sensitivity.csv (when velo and velo_short are present),
report.md, one .tex (booktabs) per table, performance_profile_<split>.png/.pdf.
Everything is built in memory first; on an error nothing is written.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd

from bench_core.cli import run_main
from bench_core.errors import BenchError
from scoring_ext import audit, plots, tables
from scoring_ext import budgets as budgets_lib
from scoring_ext.scoring import TARGET_SOURCES, ScoringResult, score_experiment

_QUANTITY_LABELS = {('train', 'loss'): 'train loss', ('validation', 'loss'): 'validation loss',
                    ('train', 'metric'): 'train metric',
                    ('validation', 'metric'): 'validation metric'}


def time_to_target_long(result: ScoringResult) -> pd.DataFrame:
  """Per-trial rows (level 'trial') followed by the medians (level 'median')."""
  per_trial = result.per_trial.drop(columns=['trial_id']).assign(level='trial')
  medians = result.medians.assign(level='median', study='', trial='')
  columns = ['level', 'algorithm', 'workload', 'split', 'study', 'trial', 'time_to_target']
  return pd.concat([per_trial[columns], medians[columns]], ignore_index=True)


def median_times_wide(result: ScoringResult, split: str) -> pd.DataFrame:
  subset = result.medians[result.medians['split'] == split]
  workloads = sorted(result.targets.loc[result.targets['split'] == split, 'workload'])
  wide = subset.pivot(index='algorithm', columns='workload', values='time_to_target')
  wide = wide.reindex(index=result.algorithms, columns=workloads).fillna(np.inf)
  wide.columns.name = None
  return wide.rename_axis('algorithm').reset_index()


def scores_wide(result: ScoringResult) -> pd.DataFrame:
  """algorithm x split score B, with '[low, high]' intervals when bootstrapped."""
  frame = pd.DataFrame({'algorithm': result.algorithms})
  for split, group in result.scores.groupby('split', sort=False):
    group = group.set_index('algorithm').reindex(result.algorithms)
    frame[f'B ({split})'] = group['score'].to_numpy()
    if 'ci_low' in group:
      frame[f'95% CI ({split})'] = [
          f'[{lo:.3f}, {hi:.3f}]' for lo, hi in zip(group['ci_low'], group['ci_high'])]
  return frame


def quality_wide(result: ScoringResult) -> pd.DataFrame:
  """(workload, algorithm) x {train, validation} x {loss, metric}: 'mean ± std'."""
  rows = {}
  for r in result.quality.itertuples(index=False):
    split, name = r.quantity.split('/', 1)
    kind = 'loss' if name == 'loss' else 'metric'
    row = rows.setdefault((r.workload, r.algorithm),
                          {'workload': r.workload, 'algorithm': r.algorithm, 'metric': ''})
    if kind == 'metric' or not row['metric']:
      row['metric'] = name
    text = tables.format_cell(r.mean)
    if np.isfinite(r.std):
      text += f' ± {tables.format_cell(r.std)}'
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


def _section(title: str, frame: pd.DataFrame, note: str = '') -> str:
  return f'## {title}\n\n' + (note + '\n\n' if note else '') + tables.to_markdown(frame) + '\n'


def render_outputs(result: ScoringResult) -> dict[str, bytes | str]:
  """Every output file, name -> content, built in memory."""
  unit = 'seconds' if result.condition == 'time' else 'steps'
  files: dict[str, bytes | str] = {}
  files['audit.md'] = audit.render_audit(result.experiment_dir, result.condition,
                                         result.trials, result.issues, result.budgets, unit)
  files['targets.csv'] = tables.to_csv(result.targets)
  files['time_to_target.csv'] = tables.to_csv(time_to_target_long(result))
  files['scores.csv'] = tables.to_csv(result.scores)
  files['quality.csv'] = tables.to_csv(result.quality)

  display = [('Targets', 'targets', result.targets.drop(columns=['column']), ''),
             ('Scores B', 'scores', scores_wide(result),
              f'max_tau = {result.max_tau:g}; 1 = fastest on every workload, 0 = no target reached.')]
  for split in result.profiles:
    display.append((f'Median time to {split} target ({unit})', f'time_to_target_{split}',
                    median_times_wide(result, split), '`inf`: target not reached in the budget.'))
  display.append(('Quality at the end of the budget (mean ± std over studies)', 'quality',
                  quality_wide(result), ''))
  if result.prompt is not None:
    files['prompt_sensitivity.csv'] = tables.to_csv(result.prompt)
    display.append((f'Prompt sensitivity: median time to target ({unit})',
                    'prompt_sensitivity', prompt_display(result.prompt), '`-`: a miss.'))

  n_warn = sum(1 for i in result.issues if i.level != 'note')
  report = [f'# Scoring report ({result.condition} condition)\n',
            f'- experiment: `{result.experiment_dir}`',
            f'- targets: {result.target_source}'
            + (f' (at {result.budget_fraction:g} of the budget)'
               if result.target_source == 'derived' else ''),
            f'- algorithms: {", ".join(result.algorithms)}',
            f'- workloads: {", ".join(result.workloads)}',
            f'- audit: {len(result.trials)} trial directories, {n_warn} warning(s); '
            'see [audit.md](audit.md)\n']
  for title, stem, frame, note in display:
    report.append(_section(title, frame, note))
    files[f'{stem}.tex'] = tables.to_latex(frame, caption=title)
  report.append('## Performance profiles\n')
  for split, (taus, rho, algorithms, _) in result.profiles.items():
    images = plots.render_profile_figure(taus, rho, algorithms,
                                         f'{split} targets, {result.condition} condition')
    for fmt, data in images.items():
      files[f'performance_profile_{split}.{fmt}'] = data
    report.append(f'![{split} performance profile](performance_profile_{split}.png)\n')
  files['report.md'] = '\n'.join(report)
  return files


def parse_args(argv):
  parser = argparse.ArgumentParser(prog='python -m scoring_ext.report',
                                   description=__doc__.split('\n\n')[0])
  parser.add_argument('--experiment_dir', required=True)
  parser.add_argument('--condition', required=True, choices=budgets_lib.CONDITIONS)
  parser.add_argument('--out', required=True)
  parser.add_argument('--targets', default='derived', choices=TARGET_SOURCES)
  parser.add_argument('--budget_fraction', type=float, default=0.75)
  parser.add_argument('--max_tau', type=float, default=4.0)
  parser.add_argument('--algorithms', nargs='+')
  parser.add_argument('--workloads', nargs='+')
  parser.add_argument('--budgets', help='JSON file {"<workload>": budget}')
  parser.add_argument('--bootstrap', type=int, default=0, help='number of replicates')
  parser.add_argument('--seed', type=int, default=0)
  return parser.parse_args(argv)


def main(argv=None) -> int:
  args = parse_args(argv)
  override = (budgets_lib.read_budgets_file(args.budgets, args.condition)
              if args.budgets else None)
  result = score_experiment(
      args.experiment_dir, args.condition, args.targets, args.budget_fraction, args.max_tau,
      args.algorithms, args.workloads, override, args.bootstrap, args.seed)
  files = render_outputs(result)
  try:
    tables.write_all_atomic(args.out, files)
  except OSError as e:
    raise BenchError(f'cannot write the report into {args.out}: {e}') from None
  print(f'wrote {len(files)} files to {args.out}')
  return 0


if __name__ == '__main__':
  sys.exit(run_main(main))
