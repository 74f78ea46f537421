"""Reading ``eval_measurements.csv`` without trusting that it is whole.

Runners rewrite the file after every evaluation; a copy taken mid-write, a full disk or a
killed job leaves a last line cut off mid-row. pandas reads such a row without a word (a
number cut short still parses, missing fields become NaN), so each line is checked first:

* a line whose number of fields differs from the header's is damaged;
* the last line is damaged when the file does not end with a newline, even when its field
  count is right (its last value may be cut short).

Damaged rows are dropped and returned as (line number, why) for the audit. The check
counts commas, which is exact for these files (numbers and plain column names, no quoting).

The rows that remain are then checked as a whole (:func:`clock_problems`): a runner writes
one row per evaluation, in the order it made them, so in file order

* ``global_step`` strictly increases (a repeated step is damage; a step smaller than the
  one before is reported, and the rows are taken in step order);
* in step order, ``accumulated_submission_time`` never decreases and is never negative;
* both are finite and plausible: a step count up to :data:`MAX_PLAUSIBLE_STEPS`, a time up to
  :data:`MAX_PLAUSIBLE_SECONDS` (about 3 years: 1e308 s is a corrupted number, not a run).

Which row is wrong cannot be told from the file (a time that goes back may be the row
before it), so every reader refuses such a file as a whole, naming it and the first row.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from bench_core.errors import BenchError

#: Largest accumulated_submission_time taken as a measurement (about 3 years).
MAX_PLAUSIBLE_SECONDS = 1e8
#: Largest global_step taken as a measurement.
MAX_PLAUSIBLE_STEPS = 1e12
STEP_COLUMN = 'global_step'
TIME_COLUMN = 'accumulated_submission_time'


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


def clock_problems(frame: pd.DataFrame) -> list[str]:
  """What makes the step and time columns of ``frame`` impossible for a run, as sentences
  naming the data row (1-based in file order, the header not counted); [] when nothing does.

  Taken in step order: a repeated step, a time that goes back as the steps go on, a
  negative, non-finite or implausible value. (Rows merely out of step order are
  :func:`out_of_step_order`.) An absent column is not checked: readers report it.
  """
  problems = []
  steps = _column(frame, STEP_COLUMN)
  order = np.argsort(steps, kind='stable') if steps is not None else np.arange(len(frame))
  for column, limit, unit in (
    (STEP_COLUMN, MAX_PLAUSIBLE_STEPS, 'steps'),
    (TIME_COLUMN, MAX_PLAUSIBLE_SECONDS, 's'),
  ):
    values = _column(frame, column)
    if values is None:
      continue
    checks = (
      (~np.isfinite(values), 'is empty or not a finite number'),
      (values < 0, 'is negative'),
      (values > limit, f'is implausibly large (over {limit:g} {unit})'),
    )
    for bad, why in checks:
      rows = np.flatnonzero(bad)
      if rows.size:
        problems.append(f'{column} {why} in data row {rows[0] + 1} ({float(values[rows[0]]):g})')
    ordered = values[order]
    back = np.diff(ordered) <= 0 if column == STEP_COLUMN else np.diff(ordered) < 0
    positions = np.flatnonzero(back)
    if positions.size:
      first, second = order[positions[0]], order[positions[0] + 1]
      what = 'is repeated' if column == STEP_COLUMN else 'goes back as the steps go on'
      problems.append(
        f'{column} {what}: data row {first + 1} has {float(values[first]):g}, data row '
        f'{second + 1} {float(values[second]):g}'
      )
  return problems


def out_of_step_order(frame: pd.DataFrame) -> str:
  """'' when ``global_step`` increases down the file, else a sentence naming the first data
  row whose step is smaller than the one before (runners append rows in step order)."""
  steps = _column(frame, STEP_COLUMN)
  if steps is None:
    return ''
  rows = np.flatnonzero(np.diff(steps) < 0)
  if not rows.size:
    return ''
  k = rows[0]
  return (
    f'global_step goes backward down the file: data row {k + 2} has {steps[k + 1]:g} after '
    f'{steps[k]:g}; the rows are taken in step order'
  )


def _column(frame: pd.DataFrame, column: str) -> np.ndarray | None:
  if column not in frame:
    return None
  return pd.to_numeric(frame[column], errors='coerce').to_numpy(dtype=float)
