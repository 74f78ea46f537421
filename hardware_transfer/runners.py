"""Which runner serves a workload, and how to say that the official one is missing.

Embedded workloads (names ending in ``_mini``, or registered in
``local_runner.workloads``) run on the local runner; every other name is an
official AlgoPerf workload and needs the ``algoperf`` package and its
``submission_runner`` module.
"""

from __future__ import annotations

import importlib.util
from typing import List, Optional

from hardware_transfer.errors import TransferError

EMBEDDED_SUFFIX = '_mini'
RUNNER_CHOICES = ('auto', 'local', 'official')


def is_embedded(workload: str) -> bool:
  """True for the local runner's embedded workloads."""
  if workload.endswith(EMBEDDED_SUFFIX):
    return True
  from local_runner.workloads import EMBEDDED_WORKLOADS

  return workload in EMBEDDED_WORKLOADS


def choose_runner(runner: str, workload: str) -> str:
  """``local`` or ``official``; ``auto`` picks by the workload name."""
  if runner not in RUNNER_CHOICES:
    raise TransferError(f'--runner must be one of {", ".join(RUNNER_CHOICES)}, got {runner!r}')
  if runner == 'auto':
    return 'local' if is_embedded(workload) else 'official'
  return runner


def official_runner_available() -> bool:
  return (importlib.util.find_spec('algoperf') is not None
          and importlib.util.find_spec('submission_runner') is not None)


def require_official_runner(workload: str) -> None:
  """Raise a ``TransferError`` saying how to install algoperf, or which embedded workload to use.

  Returns quietly when the official runner is importable.
  """
  if official_runner_available():
    return
  from local_runner.workloads import OFFICIAL_TO_EMBEDDED

  stand_ins = [e for o, e in OFFICIAL_TO_EMBEDDED.items() if workload.startswith(o)]
  instead = (f'use the embedded workload {stand_ins[0]!r} with --runner local' if stand_ins else
             f'use one of the embedded workloads ({", ".join(OFFICIAL_TO_EMBEDDED.values())})')
  raise TransferError(
    f'workload {workload!r} needs the official AlgoPerf runner, but the algoperf package (with its '
    f'submission_runner module) is not installed. Install it from a checkout of '
    f'https://github.com/mlcommons/algorithmic-efficiency (pip install -e ".[jax_gpu,full]"), or '
    f'{instead}.')


def flag_value(flags: List[str], name: str) -> Optional[str]:
  """The value of ``--name=v`` or ``--name v`` in an absl-style flag list (last one wins)."""
  value = None
  for i, arg in enumerate(flags):
    if arg.startswith(f'--{name}='):
      value = arg.split('=', 1)[1]
    elif arg == f'--{name}' and i + 1 < len(flags):
      value = flags[i + 1]
  return value


def has_flag(flags: List[str], name: str) -> bool:
  return any(a == f'--{name}' or a.startswith(f'--{name}=') for a in flags)
