"""The transfer's built-in tables; their format, and every other file's, is
``bench_core.file_formats``'.

* ``reference_budgets.json``: the reference budgets (``make transfer``'s input);
* ``step_budgets.json``: the step budgets of step control (and of VeLO's step-control prompt).
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional

from bench_core import file_formats

PACKAGE_DIR = Path(__file__).resolve().parent
BUILTIN_REFERENCE = PACKAGE_DIR / 'reference_budgets.json'
BUILTIN_STEP_BUDGETS = PACKAGE_DIR / 'step_budgets.json'


def load_reference(path: Optional[str | Path] = None) -> Dict[str, file_formats.ReferenceBudget]:
  """The reference table at ``path``, or the built-in one."""
  return file_formats.load_reference_budgets(BUILTIN_REFERENCE if path is None else path)


def load_step_budgets(path: Optional[str | Path] = None) -> Dict[str, int]:
  """workload -> steps of the step budgets file at ``path``, or of the built-in one."""
  budgets = file_formats.load_step_budgets(BUILTIN_STEP_BUDGETS if path is None else path)
  return {w: b.steps for w, b in budgets.items()}
