"""A table of times to target from a CSV file (``python -m scoring_ext.score_times``).

Two shapes are read:

* wide: a column ``algorithm`` and one column per workload holding times to target
  (numbers, or ``inf`` for a miss), one row per algorithm;
* long: the report's own time_to_target.csv (:data:`LONG_FORMAT` among its columns): its
  ``median`` rows of one split are used; a missing (algorithm, workload) counts as a miss.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench_core.errors import BenchError

LONG_FORMAT = {'level', 'algorithm', 'workload', 'split', 'time_to_target'}


def _read_csv(path: str) -> pd.DataFrame:
  try:
    return pd.read_csv(path, dtype=str, keep_default_na=False)
  except (OSError, ValueError, pd.errors.ParserError) as e:
    raise BenchError(f'{path}: cannot read CSV ({e})') from None


def wide_from_long(frame: pd.DataFrame, path: str, split: str | None) -> pd.DataFrame:
  """The median rows of one split of a report's time_to_target.csv, as a wide table."""
  medians = frame[frame['level'] == 'median']
  splits = sorted(set(medians['split']))
  if not splits:
    raise BenchError(f'{path}: no rows with level "median"')
  if split is None:
    split = 'validation' if 'validation' in splits or len(splits) != 1 else splits[0]
  if split not in splits:
    raise BenchError(
      f'{path}: no median rows for split {split!r} (the file has: '
      f'{", ".join(splits)}); choose one with --split'
    )
  rows = medians[medians['split'] == split]
  if rows.duplicated(['algorithm', 'workload']).any():
    raise BenchError(f'{path}: an (algorithm, workload) has two median rows for split {split}')
  wide = rows.pivot(index='algorithm', columns='workload', values='time_to_target')
  return wide.fillna('inf').reset_index()


def read_times_table(path: str, split: str | None = None) -> pd.DataFrame:
  """Times indexed by algorithm (index name ``algorithm``, one row per algorithm), one float
  column per workload (seconds or steps, ``inf`` for a miss), from a wide or long file; with
  the long file, the medians of `split` (default: validation, or the only split in the file).

  Raises BenchError for an unreadable file, a missing `algorithm` column, no
  workload column, duplicate algorithms, or a cell that is not a number/inf.
  """
  frame = _read_csv(path)
  if LONG_FORMAT <= set(frame.columns):
    frame = wide_from_long(frame, path, split)
  elif split is not None:
    raise BenchError(
      f"{path}: --split needs the report's long time_to_target.csv (columns "
      f'{", ".join(sorted(LONG_FORMAT))})'
    )
  if 'algorithm' not in frame.columns:
    raise BenchError(
      f'{path}: no column "algorithm" (expected a wide table algorithm,<workload>'
      ",... or the report's time_to_target.csv)"
    )
  workloads = [c for c in frame.columns if c != 'algorithm']
  if not workloads or frame.empty:
    raise BenchError(f'{path}: expected rows and at least one workload column')
  if frame['algorithm'].duplicated().any():
    raise BenchError(
      f'{path}: algorithm listed twice: '
      f'{", ".join(frame.loc[frame["algorithm"].duplicated(), "algorithm"])}'
    )
  times = frame.set_index('algorithm')[workloads]
  parsed = times.apply(lambda col: pd.to_numeric(col.str.strip(), errors='coerce'))
  bad = parsed.isna() | (parsed < 0)
  if bad.to_numpy().any():
    row, col = np.argwhere(bad.to_numpy())[0]
    algorithm, workload = times.index[row], times.columns[col]
    raise BenchError(
      f'{path}: {workload} of {algorithm} is '
      f'{times.at[algorithm, workload]!r}; expected a number >= 0 or inf'
    )
  return parsed.astype(float)
