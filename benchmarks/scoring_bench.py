"""Speed of the scoring on a generated tree: 7 algorithms x 8 workloads x
5 studies x 1 trial x 2,000 evaluations. Prints generation, load, score and
report-rendering times, then two readers timed side by side on the same files:

- eval_measurements.csv read with the damage check (bench_core.eval_csv) against
  pandas.read_csv alone (the baseline: what the loader did before the check);
- the same evaluations read from AlgoPerf-style text logs (scoring_ext.read.textlogs) against
  reading them from the CSVs (with the check);
- a log's Metrics lines parsed by textlogs.parse_literal (an exact JSON rewrite) against
  ast.literal_eval (the baseline).

  python benchmarks/scoring_bench.py [--evals 2000] [--studies 5] [--repeats 5]
"""

import argparse
import ast
import glob
import os
import statistics
import sys
import tempfile
import time

import pandas as pd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, 'tests')]

from scoring_helpers import generate_tree  # noqa: E402

from bench_core import eval_csv  # noqa: E402
from scoring_ext import scoring  # noqa: E402
from scoring_ext.scoring import ScoringConfig  # noqa: E402
from scoring_ext.read import logs, textlogs  # noqa: E402
from scoring_ext.render import outputs  # noqa: E402


def interleaved_medians(fns, repeats):
  """Median wall time of each zero-argument callable, timed in alternation (shared noise)."""
  times = [[] for _ in fns]
  for _ in range(repeats):
    for fn, bucket in zip(fns, times):
      start = time.perf_counter()
      fn()
      bucket.append(time.perf_counter() - start)
  return [statistics.median(t) for t in times]


def write_text_log(csv_path, log_path):
  """The CSV's evaluations as one tuning run of an AlgoPerf text log (both line kinds)."""
  frame = pd.read_csv(csv_path)
  prefix = 'I0213 13:02:46.855334 139984811284288 submission_runner.py:408] '
  lines = [prefix.replace('408', '551') + '--- Tuning run 1/1 ---']
  results = []
  for row in frame.to_dict('records'):
    step = int(row['global_step'])
    lines.append(f'{prefix}Time since start: {row["total_duration"]:.2f}s, \tStep: {step}, \t{row}')
    results.append((step, row))
  lines.append(prefix.replace('408', '585') + 'Metrics: ' + repr({'eval_results': results}))
  with open(log_path, 'w') as f:
    f.write('\n'.join(lines) + '\n')


def main() -> None:
  parser = argparse.ArgumentParser()
  parser.add_argument('--evals', type=int, default=2000)
  parser.add_argument('--studies', type=int, default=5)
  parser.add_argument('--algorithms', type=int, default=7)
  parser.add_argument('--repeats', type=int, default=5)
  args = parser.parse_args()
  with tempfile.TemporaryDirectory() as tmp:
    tree = os.path.join(tmp, 'experiment')
    start = time.perf_counter()
    algorithms, workloads = generate_tree(
      tree, n_algorithms=args.algorithms, n_studies=args.studies, n_evals=args.evals
    )
    generated = time.perf_counter()
    experiment = logs.load_experiment(tree)
    loaded = time.perf_counter()
    result = scoring.score_experiment(tree, ScoringConfig('time'))
    scored = time.perf_counter()
    outputs.render_outputs(result)
    rendered = time.perf_counter()

    csvs = sorted(glob.glob(os.path.join(tree, '*', '*', '*', 'trial_1', 'eval_measurements.csv')))
    checked, plain = interleaved_medians(
      [
        lambda: [eval_csv.read_eval_csv(p) for p in csvs],
        lambda: [pd.read_csv(p, usecols=eval_csv.wanted_column) for p in csvs],
      ],
      args.repeats,
    )
    some = csvs[:20]
    log_paths = [os.path.join(tmp, f'run{i}.log') for i in range(len(some))]
    for csv_path, log_path in zip(some, log_paths):
      write_text_log(csv_path, log_path)
    from_logs, from_csvs = interleaved_medians(
      [
        lambda: [textlogs.evaluations_frame(textlogs.read_logs([p])[0][1]) for p in log_paths],
        lambda: [eval_csv.read_eval_csv(p) for p in some],
      ],
      args.repeats,
    )
    metrics_lines = [open(p).read().rstrip().rsplit('Metrics: ', 1)[1] for p in log_paths]
    rewritten, with_ast = interleaved_medians(
      [
        lambda: [textlogs.parse_literal(t) for t in metrics_lines],
        lambda: [ast.literal_eval(t) for t in metrics_lines],
      ],
      args.repeats,
    )
  print(
    f'tree: {len(algorithms)} algorithms x {len(workloads)} workloads x {args.studies} '
    f'studies x 1 trial x {args.evals} evaluations ({len(experiment.evals):,} rows)'
  )
  print(f'generate {generated - start:.2f} s')
  print(f'load     {loaded - generated:.2f} s')
  print(f'score    {scored - loaded:.2f} s  (load + targets + time to target + scores + quality)')
  print(f'render   {rendered - scored:.2f} s  (tables + plots in memory)')
  print(f'\nside by side, median of {args.repeats} alternating repeats:')
  print(
    f'  {len(csvs)} CSVs: damage-checked read {checked:.3f} s vs pandas.read_csv alone '
    f'{plain:.3f} s: ratio {checked / plain:.2f}'
  )
  print(
    f'  {len(some)} trials: from text logs {from_logs:.3f} s vs from CSVs {from_csvs:.3f} s: '
    f'ratio {from_logs / from_csvs:.2f}'
  )
  print(
    f'  {len(some)} Metrics lines: parse_literal {rewritten:.3f} s vs ast.literal_eval '
    f'{with_ast:.3f} s: ratio {rewritten / with_ast:.2f}'
  )


if __name__ == '__main__':
  main()
