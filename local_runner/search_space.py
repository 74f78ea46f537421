"""Tuning search spaces in AlgoPerf's two JSON forms, turned into hyperparameter points.

* a list of points: ``[{"learning_rate": 0.005, ...}, ...]`` -> those points, in order;
* a dict of per-name specs: ``{"name": {"feasible_points": [...]}}`` or
  ``{"name": {"min": a, "max": b, "scaling": "linear"|"log"}}``. Trial k gets, per
  name, feasible point ``k mod len(points)`` of a single-point list, otherwise a
  draw (uniform, or log-uniform) from ``numpy.random.default_rng(seed)``. (The
  official runner draws a Halton sequence instead; with one feasible point per
  name, as in every space of this project, both give that point.)
"""

from __future__ import annotations

import collections
import json
import math
from pathlib import Path
from typing import Any, Dict, List

import numpy as np

from bench_core import arguments
from bench_core.errors import BenchError


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


def _draw(spec: Dict[str, Any], rng: np.random.Generator) -> Any:
  if 'feasible_points' in spec:
    return spec['feasible_points'][int(rng.integers(len(spec['feasible_points'])))]
  lo, hi = spec['min'], spec['max']
  if spec.get('scaling', 'linear') == 'log':
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
  return float(rng.uniform(lo, hi))


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
    rng = np.random.default_rng(seed)
    dicts = []
    for k in range(num_trials):
      point = {}
      for name, spec in space.items():
        points = spec.get('feasible_points')
        point[name] = points[k % len(points)] if points and len(points) == 1 else _draw(spec, rng)
      dicts.append(point)
  return [to_namedtuple(d) for d in dicts]


def to_namedtuple(point: Dict[str, Any]):
  return collections.namedtuple('Hyperparameters', sorted(point))(**point)
