"""The embedded CPU workloads, by name (``bench_core.catalogue`` lists them)."""

from __future__ import annotations

import importlib

from bench_core import catalogue
from bench_core.errors import BenchError


class UnknownWorkloadError(BenchError):
  pass


def get_workload(name: str):
  """A fresh instance of the embedded workload ``name``."""
  if not catalogue.is_embedded(name):
    known = ', '.join(sorted(catalogue.EMBEDDED_WORKLOADS))
    if catalogue.is_official(name):
      stand_in = catalogue.embedded_stand_in(name)
      raise UnknownWorkloadError(
        f'{name!r} is an official AlgoPerf workload: the local runner runs embedded workloads '
        f'only ({known}); run it with the official runner (make submit, python -m study.launch)'
        + (f', or use the embedded stand-in {stand_in!r}' if stand_in else '')
      )
    raise UnknownWorkloadError(
      f'unknown workload {name!r} (--workload); embedded workloads: {known}'
    )
  module_name, class_name = catalogue.EMBEDDED_WORKLOADS[name].split(':')
  return getattr(importlib.import_module(module_name), class_name)()
