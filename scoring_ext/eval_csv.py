"""Reading ``eval_measurements.csv`` without trusting that it is whole.

Runners rewrite the file after every evaluation; a copy taken mid-write, a full disk or a
killed job leaves a last line cut off mid-row. pandas reads such a row without a word (a
number cut short still parses, missing fields become NaN), so each line is checked first:

* a line whose number of fields differs from the header's is damaged;
* the last line is damaged when the file does not end with a newline, even when its field
  count is right (its last value may be cut short).

Damaged rows are dropped and returned as (line number, why) for the audit. The check
counts commas, which is exact for these files (numbers and plain column names, no quoting).
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from bench_core.errors import BenchError


def wanted_column(name: str) -> bool:
  """The columns scoring reads: the step, the clock, and every train/validation metric."""
  return (
    name in ('global_step', 'accumulated_submission_time', 'score')
    or name.startswith('train/')
    or name.startswith('validation/')
  )


def damaged_lines(data: bytes) -> list[tuple[int, str]]:
  """(1-based line number, why) of each damaged line of the CSV text `data`."""
  ends_whole = data.endswith(b'\n')
  lines = data.split(b'\n')
  if ends_whole:
    lines.pop()
  counts = [line.count(b',') for line in lines]
  if ends_whole and all(c == counts[0] for c in counts):
    return []
  damaged = []
  header = counts[0]
  for number, (line, count) in enumerate(zip(lines, counts), start=1):
    if number == len(lines) and not ends_whole:
      what = 'the header' if number == 1 else 'the last row'
      damaged.append(
        (
          number,
          f'{what} is cut off (the file does not end with a newline; '
          f'{count + 1} of {header + 1} fields)',
        )
      )
    elif count != header and line.strip(b'\r'):
      damaged.append((number, f'{count + 1} fields where the header has {header + 1}'))
  return damaged


def read_eval_csv(path: str | Path) -> tuple[pd.DataFrame, list[tuple[int, str]]]:
  """The whole rows of an eval_measurements.csv (wanted columns only) and its damaged lines.

  An empty file, or one with a header only, gives an empty frame. Raises BenchError naming
  the file when it cannot be read.
  """
  try:
    data = Path(path).read_bytes()
  except OSError as e:
    raise BenchError(f'{path}: cannot read ({e.strerror})') from None
  if not data.strip():
    return pd.DataFrame(), []
  damaged = damaged_lines(data)
  if damaged:
    drop = {number for number, _ in damaged}
    if 1 in drop:
      return pd.DataFrame(), damaged
    lines = data.split(b'\n')
    data = (
      b'\n'.join(line for number, line in enumerate(lines, start=1) if number not in drop) + b'\n'
    )
  try:
    frame = pd.read_csv(io.BytesIO(data), usecols=wanted_column)
  except pd.errors.EmptyDataError:
    return pd.DataFrame(), damaged
  except (ValueError, pd.errors.ParserError) as e:
    raise BenchError(f'{path}: unreadable CSV ({e})') from None
  return frame, damaged
