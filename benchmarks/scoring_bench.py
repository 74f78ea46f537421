"""Speed of the scoring on a generated tree: 7 algorithms x 8 workloads x
5 studies x 1 trial x 2,000 evaluations. Prints generation, load, score and
report-rendering times.

  python benchmarks/scoring_bench.py [--evals 2000] [--studies 5]
"""

import argparse
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, 'tests')]

from scoring_helpers import generate_tree  # noqa: E402

from scoring_ext import logs, report, scoring  # noqa: E402


def main() -> None:
  parser = argparse.ArgumentParser()
  parser.add_argument('--evals', type=int, default=2000)
  parser.add_argument('--studies', type=int, default=5)
  parser.add_argument('--algorithms', type=int, default=7)
  args = parser.parse_args()
  with tempfile.TemporaryDirectory() as tmp:
    tree = os.path.join(tmp, 'experiment')
    start = time.perf_counter()
    algorithms, workloads = generate_tree(tree, n_algorithms=args.algorithms,
                                          n_studies=args.studies, n_evals=args.evals)
    generated = time.perf_counter()
    experiment = logs.load_experiment(tree)
    loaded = time.perf_counter()
    result = scoring.score_experiment(tree, 'time')
    scored = time.perf_counter()
    report.render_outputs(result)
    rendered = time.perf_counter()
  print(f'tree: {len(algorithms)} algorithms x {len(workloads)} workloads x {args.studies} '
        f'studies x 1 trial x {args.evals} evaluations ({len(experiment.evals):,} rows)')
  print(f'generate {generated - start:.2f} s')
  print(f'load     {loaded - generated:.2f} s')
  print(f'score    {scored - loaded:.2f} s  (load + targets + time to target + scores + quality)')
  print(f'render   {rendered - scored:.2f} s  (tables + plots in memory)')


if __name__ == '__main__':
  main()
