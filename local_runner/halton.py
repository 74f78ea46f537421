"""The quasirandom hyperparameter points of AlgoPerf's ``submission_runner.py`` (Halton).

For a search space of ``d`` hyperparameters and ``n`` trials, AlgoPerf takes the points of a
scrambled, shifted Halton sequence (Owen-style digit permutations, as in Bousquet et al.,
*Critical hyper-parameters: no random, no cry*, 2017). This module builds the same set of
points from that definition:

- bases: with ``P`` the odd primes below ``1000 m`` for the smallest ``m`` that gives more
  than ``d`` of them, the ``d`` primes just below the largest one (``P[-d-1:-1]``); dimension
  ``j`` (the ``j``-th name of the space, in its JSON order) uses base ``b_j``;
- per base ``b``: a generator ``numpy.random.RandomState(b)`` (MT19937 seeded with ``b``)
  shuffles the digits ``1 .. b-1`` into ``pi`` (digit 0 stays 0), then draws one shift
  ``s_b`` in [0, 1);
- the ``i``-th value (``i = 1, 2, ...``) of dimension ``b``, with ``i = sum_k a_k b^k`` in
  base ``b``::

      x_b(i) = fmod(sum_k pi(a_k) / b^(k+1) + s_b, 1)        (sum from k = 0 upward)

- the first 100 values are skipped: the ``n`` points are ``i = 101 .. 100 + n``;
- a value ``x`` becomes a hyperparameter by the spec of its name: linear
  ``min + x (max - min)``, log ``min exp(x log(max / min))``, discrete
  ``feasible_points[floor(x len(feasible_points))]``.

AlgoPerf shuffles the order of the ``n`` points with an unseeded generator, so only their set
is fixed; here the order is a permutation drawn from ``numpy.random.default_rng(seed)``, so
that a seed gives the same trial order every time.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Sequence

import numpy as np

#: Values at the start of each dimension's sequence that are left out.
SKIP = 100


def odd_primes_below(limit: int) -> List[int]:
  """The odd primes ``p < limit``, ascending."""
  if limit <= 3:
    return []
  sieve = np.ones(limit, dtype=bool)
  sieve[:2] = False
  for p in range(2, math.isqrt(limit - 1) + 1):
    if sieve[p]:
      sieve[p * p :: p] = False
  return [int(p) for p in np.flatnonzero(sieve) if p != 2]


def bases(num_dims: int) -> List[int]:
  """The base of each dimension (see the module docstring)."""
  m = 1
  primes = odd_primes_below(1000)
  while len(primes) < num_dims + 1:
    m += 1
    primes = odd_primes_below(1000 * m)
  return primes[-num_dims - 1 : -1]


def scrambled_dimension(base: int, indices: Sequence[int]) -> List[float]:
  """``x_b(i)`` for each ``i`` of ``indices`` (1-based), as defined above."""
  generator = np.random.RandomState(base)
  digits = list(range(1, base))
  generator.shuffle(digits)
  permutation = [0] + digits
  shift = generator.random_sample()
  values = []
  for i in indices:
    value, scale = 0.0, base
    while i:
      value += permutation[i % base] / scale
      scale *= base
      i //= base
    values.append(math.fmod(value + shift, 1.0))
  return values


def unit_points(num_points: int, num_dims: int) -> List[List[float]]:
  """``num_points`` points of [0, 1)^num_dims: the Halton values ``i = SKIP+1 .. SKIP+n``."""
  indices = range(SKIP + 1, SKIP + num_points + 1)
  columns = [scrambled_dimension(b, indices) for b in bases(num_dims)]
  return [list(row) for row in zip(*columns)] if columns else [[] for _ in indices]


def scaled_value(spec: Dict[str, Any], x: float) -> Any:
  """The hyperparameter value of the unit value ``x`` under ``spec`` (module docstring)."""
  if 'feasible_points' in spec:
    points = spec['feasible_points']
    return points[int(math.floor(x * len(points)))]
  lo, hi = spec['min'], spec['max']
  if spec.get('scaling', 'linear') == 'log':
    return lo * math.exp(x * math.log(hi / lo))
  return x * (hi - lo) + lo


def search_points(space: Dict[str, Dict[str, Any]], num_trials: int, seed: int) -> List[dict]:
  """The ``num_trials`` points of a dict search space ``{name: spec}``, as dicts, in the order
  fixed by ``seed``."""
  names = list(space)
  rows = unit_points(num_trials, len(names))
  points = [{n: scaled_value(space[n], x) for n, x in zip(names, row)} for row in rows]
  order = np.random.default_rng(seed).permutation(num_trials)
  return [points[k] for k in order]
