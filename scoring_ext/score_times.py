"""python -m scoring_ext.score_times: score B from a table of times to target.

  python -m scoring_ext.score_times --time_to_target FILE.csv [--split validation] [--max_tau 4]

FILE.csv is either of:

* wide: a column ``algorithm`` and one column per workload holding times to target
  (numbers, or ``inf`` for a miss), one row per algorithm;
* long: the report's own time_to_target.csv (columns ``level``, ``algorithm``, ``workload``,
  ``split``, ``time_to_target``): its ``median`` rows of one split (--split, default
  validation, or the only split in the file) are used; a missing (algorithm, workload)
  counts as a miss.

Prints ``algorithm,score`` CSV on stdout, with AlgoPerf's formula for any number of workloads.
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from bench_core.cli import run_main
from bench_core.errors import BenchError
from scoring_ext.compute import profiles
from scoring_ext.read.times_table import read_times_table


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(
    prog='python -m scoring_ext.score_times',
    description=__doc__,
    formatter_class=argparse.RawDescriptionHelpFormatter,
  )
  parser.add_argument(
    '--time_to_target', required=True, help='CSV of times to target, wide or long (see above).'
  )
  parser.add_argument(
    '--split',
    default=None,
    help='With the long format: the target split whose medians are scored '
    '(default: validation, or the only split in the file).',
  )
  parser.add_argument(
    '--max_tau',
    type=float,
    default=4.0,
    help='Largest ratio to the fastest (> 1, default 4, as in AlgoPerf).',
  )
  args = parser.parse_args(argv)
  if not args.max_tau > 1:
    raise BenchError(f'--max_tau must be > 1, got {args.max_tau}')
  times = read_times_table(args.time_to_target, args.split)
  scores = profiles.scores_from_times(times.to_numpy(), args.max_tau)
  out = pd.DataFrame({'algorithm': times.index, 'score': scores})
  sys.stdout.write(out.to_csv(index=False))
  return 0


if __name__ == '__main__':
  sys.exit(run_main(main))
