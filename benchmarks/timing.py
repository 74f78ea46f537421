"""Timing helpers shared by the benchmarks: median wall time of a warm jitted call."""

from __future__ import annotations

import statistics
import time

import jax


def median_seconds(fn, *args, repeats: int = 20, warmup: int = 2) -> float:
  """Median wall time of ``fn(*args)`` (outputs waited on), after ``warmup`` untimed calls."""
  for _ in range(warmup):
    jax.block_until_ready(fn(*args))
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def interleaved_median_seconds(fns, repeats: int = 20, warmup: int = 2):
  """Median wall time of each zero-argument callable, timed in alternation to share the noise."""
  for fn in fns:
    for _ in range(warmup):
      jax.block_until_ready(fn())
  times = [[] for _ in fns]
  for _ in range(repeats):
    for fn, bucket in zip(fns, times):
      start = time.perf_counter()
      jax.block_until_ready(fn())
      bucket.append(time.perf_counter() - start)
  return [statistics.median(t) for t in times]
