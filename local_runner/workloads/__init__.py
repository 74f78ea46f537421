"""The embedded CPU workloads: the class of each name ``bench_core.catalogue`` lists.

A workload's module is imported when its class is first asked for, so that running one
workload does not build the others' data and models."""

from __future__ import annotations

import importlib

from bench_core import catalogue
from bench_core.errors import BenchError

#: Embedded workload -> (module, class) of its implementation; the names are the catalogue's.
CLASSES = {
  'criteo1tb_mini': ('local_runner.workloads.criteo1tb_mini', 'Criteo1tbMiniWorkload'),
  'fastmri_mini': ('local_runner.workloads.fastmri_mini', 'FastmriMiniWorkload'),
  'imagenet_resnet_mini': (
    'local_runner.workloads.imagenet_resnet_mini',
    'ImagenetResnetMiniWorkload',
  ),
  'ogbg_mini': ('local_runner.workloads.ogbg_mini', 'OgbgMiniWorkload'),
}


def register(name: str, module: str, class_name: str) -> None:
  """Add an embedded workload outside this package (test fixtures, benchmarks) to the
  catalogue's names and to :data:`CLASSES`."""
  if name not in catalogue.EMBEDDED_WORKLOADS:
    catalogue.EMBEDDED_WORKLOADS = (*catalogue.EMBEDDED_WORKLOADS, name)
  CLASSES[name] = (module, class_name)


class UnknownWorkloadError(BenchError):
  pass


def workload_class(name: str) -> type:
  """The class of the embedded workload ``name``."""
  if not catalogue.is_embedded(name):
    known = ', '.join(catalogue.EMBEDDED_WORKLOADS)
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
  module_name, class_name = CLASSES[name]
  return getattr(importlib.import_module(module_name), class_name)


def get_workload(name: str):
  """A fresh instance of the embedded workload ``name``."""
  return workload_class(name)()
