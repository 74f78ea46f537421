"""python -m scoring_ext.profile: score B from a table of times to target.

  python -m scoring_ext.profile --time_to_target FILE.csv [--max_tau 4]

FILE.csv has a column ``algorithm`` and one column per workload holding times
to target (numbers, or ``inf`` for a miss). Prints ``algorithm,score`` CSV on
stdout, with AlgoPerf's formula for any number of workloads.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd

from bench_core.cli import run_main
from bench_core.errors import BenchError
from scoring_ext import profiles


def read_times_table(path: str) -> pd.DataFrame:
  """Times indexed by algorithm, one float column per workload.

  Raises BenchError for an unreadable file, a missing `algorithm` column, no
  workload column, duplicate algorithms, or a cell that is not a number/inf.
  """
  try:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
  except (OSError, ValueError, pd.errors.ParserError) as e:
    raise BenchError(f'{path}: cannot read CSV ({e})') from None
  if 'algorithm' not in frame.columns:
    raise BenchError(f'{path}: no column "algorithm"')
  workloads = [c for c in frame.columns if c != 'algorithm']
  if not workloads or frame.empty:
    raise BenchError(f'{path}: expected rows and at least one workload column')
  if frame['algorithm'].duplicated().any():
    raise BenchError(f'{path}: algorithm listed twice: '
                       f'{", ".join(frame.loc[frame["algorithm"].duplicated(), "algorithm"])}')
  times = frame.set_index('algorithm')[workloads]
  parsed = times.apply(lambda col: pd.to_numeric(col.str.strip(), errors='coerce'))
  bad = parsed.isna() | (parsed < 0)
  if bad.to_numpy().any():
    row, col = np.argwhere(bad.to_numpy())[0]
    algorithm, workload = times.index[row], times.columns[col]
    raise BenchError(f'{path}: {workload} of {algorithm} is '
                       f'{times.at[algorithm, workload]!r}; expected a number >= 0 or inf')
  return parsed.astype(float)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(prog='python -m scoring_ext.profile',
                                   description=__doc__.split('\n\n')[0])
  parser.add_argument('--time_to_target', required=True)
  parser.add_argument('--max_tau', type=float, default=4.0)
  args = parser.parse_args(argv)
  if not args.max_tau > 1:
    raise BenchError(f'--max_tau must be > 1, got {args.max_tau}')
  times = read_times_table(args.time_to_target)
  scores = profiles.scores_from_times(times.to_numpy(), args.max_tau)
  out = pd.DataFrame({'algorithm': times.index, 'score': scores})
  sys.stdout.write(out.to_csv(index=False))
  return 0


if __name__ == '__main__':
  sys.exit(run_main(main))
