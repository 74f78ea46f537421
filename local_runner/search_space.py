"""Tuning search spaces in AlgoPerf's two JSON forms, turned into hyperparameter points.

* a list of points: ``[{"learning_rate": 0.005, ...}, ...]`` -> those points, in order;
* a dict of per-name specs: ``{"name": {"feasible_points": [...]}}`` or
  ``{"name": {"min": a, "max": b, "scaling": "linear"|"log"}}`` -> the ``n`` quasirandom
  (Halton) points the official ``submission_runner.py`` draws for ``n`` trials
  (:mod:`local_runner.halton`): the same set of points, in an order fixed by the seed
  (``--rng_seed``), so that tuning on the embedded workloads and on the official ones
  tries the same hyperparameters.
"""

from __future__ import annotations

import collections
import json
from pathlib import Path
from typing import Any, Dict, List

from bench_core import arguments
from bench_core.errors import BenchError
from local_runner import halton


class SearchSpaceError(BenchError):
  pass


def _check_spec(path: str, name: str, spec: Any) -> None:
  if not isinstance(spec, dict):
    raise SearchSpaceError(
      f'{path}: field {name!r} must be an object with "feasible_points" or '
      f'"min"/"max", got {spec!r}'
    )
  if 'feasible_points' in spec:
    points = spec['feasible_points']
    if not isinstance(points, list) or not points:
      raise SearchSpaceError(f'{path}: field {name!r}.feasible_points must be a non-empty list')
    for i, value in enumerate(points):
      arguments.check_hyperparameter(name, value, f'{path}: field {name}.feasible_points[{i}]')
    return
  if not {'min', 'max'} <= set(spec):
    raise SearchSpaceError(
      f'{path}: field {name!r} needs "feasible_points" or both "min" and "max"'
    )
  lo, hi = spec['min'], spec['max']
  if not all(isinstance(v, (int, float)) for v in (lo, hi)) or lo > hi:
    raise SearchSpaceError(f'{path}: field {name!r} needs numeric min <= max, got {lo!r}, {hi!r}')
  scaling = spec.get('scaling', 'linear')
  if scaling not in ('linear', 'log'):
    raise SearchSpaceError(
      f'{path}: field {name!r}.scaling must be "linear" or "log", got {scaling!r}'
    )
  if scaling == 'log' and lo <= 0:
    raise SearchSpaceError(f'{path}: field {name!r} has log scaling and needs min > 0')
  for end in ('min', 'max'):
    arguments.check_hyperparameter(name, spec[end], f'{path}: field {name}.{end}')


def load_search_space(path: str | Path) -> Any:
  """The parsed JSON, validated; errors name the file and the field."""
  path = str(path)
  try:
    with open(path, encoding='utf-8') as f:
      space = json.load(f)
  except FileNotFoundError:
    raise SearchSpaceError(
      f'tuning search space {path} does not exist (--tuning_search_space)'
    ) from None
  except json.JSONDecodeError as e:
    raise SearchSpaceError(
      f'{path}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})'
    ) from None
  if isinstance(space, list):
    if not space or not all(isinstance(p, dict) for p in space):
      raise SearchSpaceError(f'{path}: a list search space must be a non-empty list of objects')
    for i, point in enumerate(space):
      for name, value in point.items():
        arguments.check_hyperparameter(name, value, f'{path}: point {i} field {name}')
    return space
  if isinstance(space, dict):
    if not space:
      raise SearchSpaceError(f'{path}: the search space is empty')
    for name, spec in space.items():
      _check_spec(path, name, spec)
    return space
  raise SearchSpaceError(f'{path}: expected a JSON object or list, got {type(space).__name__}')


def hyperparameter_points(space: Any, num_trials: int, seed: int = 0) -> List[Any]:
  """``num_trials`` namedtuples ``Hyperparameters(name=value, ...)``, one per trial."""
  if isinstance(space, list):
    dicts = [space[k % len(space)] for k in range(num_trials)]
  else:
    dicts = halton.search_points(space, num_trials, seed)
  return [to_namedtuple(d) for d in dicts]


def to_namedtuple(point: Dict[str, Any]):
  return collections.namedtuple('Hyperparameters', sorted(point))(**point)
