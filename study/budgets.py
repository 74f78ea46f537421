"""The budget of a trial under each condition, resolved (and checked) before anything runs.

* time: the workload's entry of a transferred budgets file (``hardware_transfer.transfer``
  writes it) replaces the workload's own ``max_allowed_runtime_sec``; without a file the
  workload keeps its own budget.
* step: ``--max_global_steps`` is the workload's step budget (the built-in
  ``hardware_transfer/step_budgets.json``, or a file of the user's; an embedded workload
  not in the built-in file gets its ``step_hint``) and the time budget is
  :data:`NO_TIME_LIMIT_SEC`. A submission that needs the step budget itself (``velo_time``)
  names the hyperparameter ``step_budget`` in its search space; under step control the
  launcher gives it this budget (:func:`search_space_with_step_budget`), since a submission
  learns its budget only from what AlgoPerf hands it.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, Mapping, Optional

from bench_core import catalogue, file_formats
from hardware_transfer import files
from local_runner.workloads import get_workload

#: Time budget of a step-control run (owned by the catalogue, with the conditions).
NO_TIME_LIMIT_SEC = catalogue.NO_TIME_LIMIT_SEC

#: The search-space hyperparameter that tells a submission its step budget (0: time control).
STEP_BUDGET_HYPERPARAMETER = 'step_budget'


def time_budget(workload: str, budgets_path: Optional[str]) -> Optional[float | int]:
  """The transferred budget of ``workload`` in seconds (an int when whole), or None (the
  workload's own)."""
  if not budgets_path:
    return None
  entry = file_formats.entry_for(
    file_formats.load_time_budgets(budgets_path), workload, budgets_path, 'max_allowed_runtime_sec'
  )
  return entry.max_allowed_runtime_sec


def step_budget(workload: str, step_budgets_path: Optional[str] = None) -> int:
  """The workload's step budget (see the module docstring)."""
  budgets = files.load_step_budgets(step_budgets_path)
  if workload not in budgets and step_budgets_path is None and catalogue.is_embedded(workload):
    return int(get_workload(workload).step_hint)
  return file_formats.entry_for(
    budgets, workload, step_budgets_path or files.BUILTIN_STEP_BUDGETS, 'step budget'
  )


def check_all(trials: Iterable) -> Dict[tuple, int | None]:
  """Resolve the budget of every (condition, workload, file) of ``trials`` (TrialSpecs) once:
  a missing file, a missing workload or a malformed entry raises before any trial starts.

  A budgets file that a trial's condition does not use (``--budgets`` under step control,
  ``--step_budgets`` under time control) is validated all the same, every entry: a file
  given by mistake or broken is named now, not ignored."""
  trials = list(trials)
  for path in dict.fromkeys(t.budgets for t in trials if t.budgets):
    file_formats.load_time_budgets(path)
  for path in dict.fromkeys(t.step_budgets for t in trials if t.step_budgets):
    file_formats.load_step_budgets(path)
  resolved = {}
  for t in trials:
    path = t.budgets if t.condition == 'time' else t.step_budgets
    key = (t.condition, t.workload, path)
    if key not in resolved:
      resolved[key] = (
        time_budget(t.workload, path) if t.condition == 'time' else step_budget(t.workload, path)
      )
  return resolved


def search_space_with_step_budget(
  search_space: Mapping[str, Any], steps: int
) -> Optional[Dict[str, Any]]:
  """``search_space`` with ``step_budget`` fixed to ``steps`` (one feasible point), or None
  when the search space has no ``step_budget`` (the submission does not need it)."""
  if STEP_BUDGET_HYPERPARAMETER not in search_space:
    return None
  return {**search_space, STEP_BUDGET_HYPERPARAMETER: {'feasible_points': [int(steps)]}}
