"""Import a second copy of a package from another checkout, for side-by-side benchmarks.

``import_from_checkout('velo', '/path/to/old/checkout')`` returns that checkout's
``velo`` package, imported apart from the one on ``sys.path``: its modules are
loaded while the current ones are set aside, then removed from ``sys.modules``
again (they stay alive through the returned module and each other's references),
so both copies can be jitted and timed in one process.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType


def _own_modules(name: str) -> dict[str, ModuleType]:
  return {k: m for k, m in sys.modules.items() if k == name or k.startswith(name + '.')}


def import_from_checkout(name: str, checkout: str | Path) -> ModuleType:
  """The package ``name`` (and all its submodules it imports) as found under ``checkout``."""
  root = Path(checkout).resolve()
  if not (root / name / '__init__.py').is_file():
    raise FileNotFoundError(f'{root / name / "__init__.py"}: no package {name!r} there')
  current = _own_modules(name)
  for key in current:
    del sys.modules[key]
  sys.path.insert(0, str(root))
  try:
    package = importlib.import_module(name)
    loaded = _own_modules(name)
    for module in loaded.values():
      if not str(getattr(module, '__file__', '')).startswith(str(root)):
        raise ImportError(f'{module.__name__} was not imported from {root}')
  finally:
    sys.path.remove(str(root))
    for key in _own_modules(name):
      del sys.modules[key]
    sys.modules.update(current)
  return package
