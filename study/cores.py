"""Which CPU cores each of several concurrent trials runs on.

A time-control trial measures the machine, so two of them must not share a core: with
``jobs`` trials at once on a machine whose process may use ``C`` cores (``jobs <= C``), job
slot ``i`` gets the cores ``{c_i, c_{i+jobs}, c_{i+2 jobs}, ...}`` of the sorted usable cores
``c_0 < c_1 < ...`` (disjoint, as even as possible), and each trial's process is confined to
its slot's cores (``os.sched_setaffinity``; JAX sizes its CPU thread pools from that
affinity). One job, more jobs than cores, or a platform without CPU affinity: no pinning.
"""

from __future__ import annotations

import os
from typing import List, Optional, Set


def usable_cores() -> List[int]:
  """The cores this process may run on (all of ``os.cpu_count()`` where affinity is unknown)."""
  if hasattr(os, 'sched_getaffinity'):
    return sorted(os.sched_getaffinity(0))
  return list(range(os.cpu_count() or 1))


def core_slots(jobs: int, cores: List[int]) -> Optional[List[Set[int]]]:
  """The disjoint core sets of ``jobs`` concurrent trials (module docstring), or None when
  they are not pinned (one job, or fewer cores than jobs)."""
  if jobs < 1:
    raise ValueError(f'jobs must be at least 1, got {jobs}')
  if jobs == 1 or len(cores) < jobs or not hasattr(os, 'sched_setaffinity'):
    return None
  return [set(cores[i::jobs]) for i in range(jobs)]


def default_jobs(cores: List[int], at_most: int = 2) -> int:
  """One trial per usable core, at most ``at_most`` (the reference machine has 2 cores)."""
  return max(1, min(at_most, len(cores)))


def describe(slots: Optional[List[Set[int]]]) -> str:
  if slots is None:
    return 'not pinned to cores'
  return 'each on cores of its own: ' + ', '.join(
    '{' + ','.join(map(str, sorted(s))) + '}' for s in slots
  )


def pin(pid: int, cores: Set[int]) -> None:
  """Confine process ``pid`` (and the threads and processes it starts later) to ``cores``."""
  os.sched_setaffinity(pid, cores)
