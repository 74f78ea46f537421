"""Registry of the embedded CPU workloads, by AlgoPerf-style name."""

from __future__ import annotations

import importlib

from local_runner.errors import RunnerError

#: workload name -> "module:Class" (imported lazily so that one workload's deps stay optional).
EMBEDDED_WORKLOADS = {
  'criteo1tb_mini': 'local_runner.workloads.criteo1tb_mini:Criteo1tbMiniWorkload',
  'fastmri_mini': 'local_runner.workloads.fastmri_mini:FastmriMiniWorkload',
  'imagenet_resnet_mini': 'local_runner.workloads.imagenet_resnet_mini:ImagenetResnetMiniWorkload',
  'ogbg_mini': 'local_runner.workloads.ogbg_mini:OgbgMiniWorkload',
}

#: The official AlgoPerf workloads of the study and the embedded stand-in of each.
OFFICIAL_TO_EMBEDDED = {
  'criteo1tb': 'criteo1tb_mini',
  'fastmri': 'fastmri_mini',
  'imagenet_resnet': 'imagenet_resnet_mini',
  'ogbg': 'ogbg_mini',
}


class UnknownWorkloadError(RunnerError):
  pass


def get_workload(name: str):
  """A fresh instance of the embedded workload ``name``."""
  if name not in EMBEDDED_WORKLOADS:
    known = ', '.join(sorted(EMBEDDED_WORKLOADS))
    hint = ''
    if name in OFFICIAL_TO_EMBEDDED:
      hint = (f' {name!r} is an official AlgoPerf workload: run it with the official runner, or use '
              f'the embedded stand-in {OFFICIAL_TO_EMBEDDED[name]!r}.')
    raise UnknownWorkloadError(f'unknown workload {name!r} (--workload); embedded workloads: {known}.{hint}')
  module_name, class_name = EMBEDDED_WORKLOADS[name].split(':')
  return getattr(importlib.import_module(module_name), class_name)()
