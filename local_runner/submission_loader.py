"""Load a submission file by path and check it offers the AlgoPerf API."""

from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path
from types import ModuleType

from bench_core.errors import BenchError

REQUIRED_FUNCTIONS = ('get_batch_size', 'init_optimizer_state', 'update_params', 'data_selection')


class SubmissionError(BenchError):
  pass


def load_submission(path: str | Path) -> ModuleType:
  """Import ``path`` as a module; raise SubmissionError naming the file if it is unusable."""
  path = Path(path)
  if not path.is_file():
    raise SubmissionError(f'submission file {path} does not exist (--submission_path)')
  module_name = '_submission_' + '_'.join(path.resolve().with_suffix('').parts[-3:])
  spec = importlib.util.spec_from_file_location(module_name, path)
  module = importlib.util.module_from_spec(spec)
  sys.modules[module_name] = module
  try:
    spec.loader.exec_module(module)
  except Exception as e:
    sys.modules.pop(module_name, None)
    raise SubmissionError(
      f'submission file {path} failed to import: {type(e).__name__}: {e}'
    ) from e
  missing = [f for f in REQUIRED_FUNCTIONS if not callable(getattr(module, f, None))]
  if missing:
    raise SubmissionError(
      f'submission file {path} lacks the AlgoPerf function(s): {", ".join(missing)}'
    )
  return module


def wants_train_state(update_params) -> bool:
  return 'train_state' in inspect.signature(update_params).parameters


def batch_size_for(module: ModuleType, workload_name: str, base_name: str) -> int:
  """``get_batch_size(workload_name)``, retried with the base name on ValueError."""
  try:
    return int(module.get_batch_size(workload_name))
  except ValueError:
    if base_name == workload_name:
      raise
    return int(module.get_batch_size(base_name))
