"""AlgoPerf's absl text logs: the evaluations of each tuning run.

The official ``submission_runner.py`` writes, for tuning run k of N (external tuning)::

  I0213 13:02:46.855 ... submission_runner.py:551] --- Tuning run k/N ---
  I0213 13:16:51.550 ... submission_runner.py:408] Time since start: 834.13s, \tStep: 1, \t{...}
  ...                                                    (one such line per evaluation)
  I0213 16:16:22.561 ... submission_runner.py:585] Metrics: {'eval_results': [(1, {...}), ...]}

Self-tuning runs have no ``Tuning run`` line: everything belongs to run 1. Tuning run k
is the trial folder ``trial_k``.

Reading rules:

* a run's ``Metrics:`` line, when it has one, gives its evaluations (the step and the
  metrics of each): the line AlgoPerf's own ``scoring_utils.get_trials_dict`` reads;
* a run without one (it stopped or crashed before its end) falls back to its
  per-evaluation ``Time since start`` lines, the step taken from ``Step:``;
* a ``Tuning run k`` line seen again (the log was appended to by a rerun) starts run k afresh;
* values are Python literals; jax scalars written as ``Array(x, dtype=float32)`` or
  ``DeviceArray(x, ...)`` are unwrapped, and ``nan`` / ``inf`` are read as floats (AlgoPerf's
  parser cannot read the wrappers and turns ``nan`` into 0);
* a line that does not parse is skipped and reported with its line number.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import re
from pathlib import Path
from typing import Iterable

import pandas as pd

_RUN = re.compile(r'--- Tuning run (?P<k>\d+)/(?P<n>\d+) ---')
_EVALUATION = re.compile(
  r'Time since start: [\d.]+s,\s*Step: (?P<step>\d+),\s*(?P<metrics>\{.*\})\s*$'
)
_METRICS = re.compile(r' Metrics: (?P<metrics>\{.*\})\s*$')
_JAX_SCALAR = re.compile(
  r'\b(?:DeviceArray|Array)\(\s*(?P<value>[^(),]+?)\s*'
  r'(?:,\s*dtype=[\w.]+)?(?:,\s*weak_type=\w+)?\s*\)'
)
_NON_FINITE = re.compile(r'(?P<before>[:,(\[]\s*)(?P<sign>-?)(?P<word>nan|inf)\b')
_JSON_WORD = {'None': 'null', 'True': 'true', 'False': 'false'}
_JSON_WORDS = re.compile(r'\b(?:None|True|False)\b')
_UNSAFE_IN_STRING = ('(', ')', '[', ']', 'None', 'True', 'False')
_TUPLES_AS_LISTS = str.maketrans('()', '[]')


@dataclasses.dataclass(frozen=True)
class LogRun:
  """The evaluations of one tuning run in one text log."""

  number: int
  log: str
  evaluations: tuple  # ((global_step, {metric: value}), ...) in logged order
  from_metrics_line: bool


def _as_json(text: str) -> str | None:
  """`text` (a Python repr of dicts, lists, tuples, strings, numbers, None, bools) as JSON,
  or None when it holds anything this rewrite could get wrong: escapes or double quotes, or
  strings holding brackets, parentheses or the words None/True/False. Otherwise strings are
  untouched by turning ( ) into [ ], the three words into null/true/false and ' into ".
  """
  if '"' in text or '\\' in text:
    return None
  parts = text.split("'")
  strings = "'".join(parts[1::2])
  if len(parts) % 2 == 0 or any(token in strings for token in _UNSAFE_IN_STRING):
    return None
  text = text.translate(_TUPLES_AS_LISTS)
  if any(word in text for word in _JSON_WORD):
    text = _JSON_WORDS.sub(lambda m: _JSON_WORD[m[0]], text)
  return text.replace("'", '"')


def parse_literal(text: str):
  """A Python literal as the runner prints it, jax scalar wrappers and nan/inf included.

  nan becomes None (read as NaN by :func:`evaluations_frame`); inf and -inf become floats;
  tuples may come back as lists. The text goes through JSON when the rewrite is exact
  (:func:`_as_json`; several times faster than ``ast`` on long Metrics lines, see
  ``benchmarks/scoring_bench.py``), else through ``ast.literal_eval``. Raises ValueError or SyntaxError for what is not a literal.
  """
  if 'Array(' in text:
    text = _JAX_SCALAR.sub(r'\g<value>', text)

  def non_finite(match: re.Match) -> str:
    value = 'None' if match['word'] == 'nan' else f'{match["sign"]}1e999'
    return match['before'] + value

  if 'nan' in text or 'inf' in text:
    text = _NON_FINITE.sub(non_finite, text)
  as_json = _as_json(text)
  if as_json is not None:
    try:
      return json.loads(as_json)
    except json.JSONDecodeError:
      pass  # e.g. a one-element tuple "(1,)": ast reads it
  return ast.literal_eval(text)


def _evaluation_list(data) -> list:
  """The (step, metrics) pairs of a parsed ``Metrics:`` dict; ValueError if it has none."""
  results = data.get('eval_results') if isinstance(data, dict) else None
  if not isinstance(results, list):
    raise ValueError("no 'eval_results' list")
  pairs = []
  for item in results:
    if not (isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[1], dict)):
      raise ValueError('an eval_results entry is not a (step, {metrics}) pair')
    pairs.append((int(item[0]), item[1]))
  return pairs


def parse_log(lines: Iterable[str], path: str) -> tuple[dict[int, LogRun], list[tuple[int, str]]]:
  """Runs of one log (number -> LogRun) and the lines that did not parse (line, why).

  The per-evaluation lines of a run are parsed only when it has no Metrics line.
  """
  run = 1
  per_evaluation: dict[int, list] = {}  # run -> [(line number, step, metrics text)]
  from_metrics: dict[int, list] = {}
  problems = []
  for number, line in enumerate(lines, start=1):
    if 'Tuning run' in line and (match := _RUN.search(line)):
      run = int(match['k'])
      per_evaluation[run] = []
      from_metrics.pop(run, None)
    elif 'Time since start' in line and (match := _EVALUATION.search(line)):
      per_evaluation.setdefault(run, []).append((number, int(match['step']), match['metrics']))
    elif 'Metrics:' in line and (match := _METRICS.search(line)):
      try:
        from_metrics[run] = _evaluation_list(parse_literal(match['metrics']))
      except (ValueError, SyntaxError) as e:
        problems.append(
          (number, f"Metrics line does not parse ({e}); the run's evaluation lines are used")
        )
  runs = {}
  for k in sorted(set(per_evaluation) | set(from_metrics)):
    if k in from_metrics:
      runs[k] = LogRun(k, path, tuple(from_metrics[k]), True)
      continue
    evaluations = []
    for number, step, text in per_evaluation[k]:
      try:
        evaluations.append((step, parse_literal(text)))
      except (ValueError, SyntaxError) as e:
        problems.append((number, f'evaluation line does not parse ({e}); skipped'))
    runs[k] = LogRun(k, path, tuple(evaluations), False)
  return runs, sorted(problems)


def read_logs(paths: Iterable[str | Path]) -> tuple[dict[int, LogRun], list[tuple[str, int, str]]]:
  """Runs of several logs of one run folder, oldest log first: a newer log's run k replaces
  an older one's. Returns the runs and the problems (path, line, why); line 0 for a whole file.
  """
  runs: dict[int, LogRun] = {}
  problems = []
  for path in paths:
    try:
      with open(path, encoding='utf-8', errors='replace') as f:
        found, bad = parse_log(f, str(path))
    except OSError as e:
      problems.append((str(path), 0, f'cannot read ({e.strerror}); skipped'))
      continue
    problems += [(str(path), line, why) for line, why in bad]
    for k, run in found.items():
      if k in runs:
        problems.append(
          (
            str(path),
            0,
            f'tuning run {k} replaces the one in '
            f'{Path(runs[k].log).name} (a rerun of the same folder)',
          )
        )
      runs[k] = run
  return runs, problems


def evaluations_frame(run: LogRun) -> pd.DataFrame:
  """One row per evaluation of the run, in logged order: every logged metric under its
  logged name (``train/loss``, ``validation/accuracy``, ``accumulated_submission_time``,
  ...; float, NaN for nan or a value that is not a number), and ``global_step`` (float)."""
  rows = [{**metrics, 'global_step': step} for step, metrics in run.evaluations]
  frame = pd.DataFrame(rows)
  for column in frame.columns:
    frame[column] = pd.to_numeric(frame[column], errors='coerce')
  return frame
