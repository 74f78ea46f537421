"""Which runner serves a workload, and which Python runs it.

Embedded workloads run on the local runner (``python -m local_runner``), in the
project's environment. Official AlgoPerf workloads run on the official
``submission_runner``, which needs the ``algoperf`` package: the interpreter for them
is the first of

1. ``$ALGOPERF_PYTHON``;
2. this interpreter, when it can import ``algoperf`` and ``submission_runner``;
3. ``<repo>/.venv-algoperf/bin/python`` (what ``make install-algoperf`` builds).

Otherwise a run of an official workload stops before it starts, saying how to install
AlgoPerf or which embedded stand-in to use.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from bench_core import catalogue
from bench_core.errors import BenchError

REPO = Path(__file__).resolve().parents[1]
RUNNER_CHOICES = ('auto', 'local', 'official')
ALGOPERF_VENV = REPO / '.venv-algoperf'


def choose_runner(runner: str, workload: str) -> str:
  """``local`` or ``official``; ``auto`` picks by the workload. Unknown names are refused, and
  so is a runner that does not have the workload (the official runner and an embedded one)."""
  if runner not in RUNNER_CHOICES:
    raise BenchError(f'--runner must be one of {", ".join(RUNNER_CHOICES)}, got {runner!r}')
  catalogue.check_workload(workload)
  embedded = catalogue.is_embedded(workload)
  if runner == 'official' and embedded:
    raise BenchError(
      f'--runner official: {workload!r} is an embedded workload, which only the local runner '
      f'has; use --runner local or auto, or its official counterpart '
      f'{catalogue.official_counterpart(workload)!r} on the official runner'
    )
  if runner == 'local' and not embedded:
    raise BenchError(
      f'--runner local: {workload!r} is an official AlgoPerf workload, which the local runner '
      f'does not have; use --runner official or auto'
      + (
        f', or its embedded stand-in {catalogue.embedded_stand_in(workload)!r}'
        if catalogue.embedded_stand_in(workload)
        else ''
      )
    )
  return 'local' if embedded else 'official'


def official_runner_importable() -> bool:
  """Can this interpreter import ``algoperf`` and ``submission_runner``?"""
  return (
    importlib.util.find_spec('algoperf') is not None
    and importlib.util.find_spec('submission_runner') is not None
  )


def install_hint(workload: str) -> str:
  stand_in = catalogue.embedded_stand_in(workload)
  instead = (
    f'use the embedded stand-in {stand_in!r} (e.g. make submit WORKLOAD={stand_in})'
    if stand_in
    else f'use an embedded workload ({", ".join(catalogue.EMBEDDED_WORKLOADS)})'
  )
  return (
    f'workload {workload!r} needs the official AlgoPerf runner, but no Python with the '
    f'algoperf package was found ($ALGOPERF_PYTHON, this interpreter, {ALGOPERF_VENV}). '
    'Build one with `make install-algoperf ALGOPERF_SRC=<checkout or source archive of '
    f'mlcommons/algorithmic-efficiency>`, or {instead}.'
  )


def official_python() -> str:
  """The interpreter that runs the official runner (see the module docstring)."""
  env = os.environ.get('ALGOPERF_PYTHON')
  if env:
    return env
  if official_runner_importable():
    return sys.executable
  candidate = ALGOPERF_VENV / 'bin' / 'python'
  if candidate.is_file():
    return str(candidate)
  raise BenchError(install_hint('an official workload'))


def python_for(workload: str) -> str:
  """The interpreter that runs ``workload``'s trials (raises for a missing AlgoPerf)."""
  catalogue.check_workload(workload)
  if catalogue.is_embedded(workload):
    return sys.executable
  try:
    return official_python()
  except BenchError:
    raise BenchError(install_hint(workload)) from None
