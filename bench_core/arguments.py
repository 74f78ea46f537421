"""The checks of user input, one per kind, all run before any work starts.

Every entry point checks its arguments with these, so that a bad value gives one kind of
message whichever command took it: a :class:`BenchError` (or, for an argparse ``type=``,
argparse's own ``error: argument --x: ...``, exit status 2) naming the argument or the file
field and what is allowed. Nothing here creates a file or a folder.

Kinds:

* counts (``--jobs``, ``--studies``, ``--seed``, ``--num_gpus``, ...): :func:`count`, an
  integer ``>= minimum``;
* positive real numbers (``--timeout``, ``--fraction``): :func:`positive_float`;
* paths that will be written: :func:`check_writable` (the file or folder can be created or
  replaced: the nearest existing ancestor is a writable folder);
* budgets and prompts, in seconds or steps: :func:`check_plausible` with
  :data:`TIME_BUDGET_SEC` or :data:`STEPS`;
* learning-rate-like hyperparameters of a search space: :func:`check_hyperparameter`.

A plausible range has two bounds per side: outside ``[low, high]`` a value is refused (it
cannot describe a run, e.g. a budget of 1e30 s), outside ``[warn_low, warn_high]`` it is
accepted with a printed warning (a user may mean it, e.g. a learning rate of 20).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path
from typing import Callable, NamedTuple, Optional

from bench_core.catalogue import NO_TIME_LIMIT_SEC
from bench_core.errors import BenchError


def _warn_stderr(message: str) -> None:
  print(f'warning: {message}', file=sys.stderr, flush=True)


# ---- counts and numbers (argparse types) -------------------------------------------------------


def count(minimum: int = 0) -> Callable[[str], int]:
  """An argparse ``type``: an integer ``>= minimum`` (e.g. ``count(1)`` for ``--jobs``)."""

  def parse(text: str) -> int:
    try:
      value = int(text)
    except ValueError:
      raise argparse.ArgumentTypeError(f'must be an integer >= {minimum}, got {text!r}') from None
    if value < minimum:
      raise argparse.ArgumentTypeError(f'must be an integer >= {minimum}, got {value}')
    return value

  parse.__name__ = f'integer >= {minimum}'
  return parse


def positive_float(text: str) -> float:
  """An argparse ``type``: a finite number ``> 0`` (e.g. ``--timeout``)."""
  try:
    value = float(text)
  except ValueError:
    raise argparse.ArgumentTypeError(f'must be a number > 0, got {text!r}') from None
  if not (math.isfinite(value) and value > 0):
    raise argparse.ArgumentTypeError(f'must be a finite number > 0, got {text}')
  return value


def check_count(value, argument: str, minimum: int = 0) -> int:
  """``value`` (already parsed, e.g. an absl flag or a field) as an integer ``>= minimum``."""
  if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
    raise BenchError(f'{argument} must be an integer >= {minimum}, got {value!r}')
  return value


# ---- paths that will be written ----------------------------------------------------------------


def check_writable(path, argument: str, kind: str = 'file') -> Path:
  """``path`` (``kind`` 'file' or 'folder') can be written: it is a writable ``kind`` already,
  or its nearest existing ancestor is a writable folder (the missing folders can be made).

  Checked before the work whose result goes there; creates nothing.
  """
  p = Path(path).expanduser()
  if p.exists():
    if kind == 'file' and p.is_dir():
      raise BenchError(f'{argument} {path}: is a folder; give a file path')
    if kind == 'folder' and not p.is_dir():
      raise BenchError(f'{argument} {path}: exists and is not a folder')
    target = p if kind == 'folder' else p.parent
    if not os.access(p, os.W_OK) or not os.access(target, os.W_OK | os.X_OK):
      raise BenchError(f'{argument} {path}: not writable')
    return p
  ancestor = p.absolute().parent
  while not ancestor.exists():
    ancestor = ancestor.parent
  if not ancestor.is_dir():
    raise BenchError(f'{argument} {path}: cannot be created, {ancestor} is a file, not a folder')
  if not os.access(ancestor, os.W_OK | os.X_OK):
    raise BenchError(f'{argument} {path}: cannot be created, {ancestor} is not writable')
  return p


# ---- plausible ranges --------------------------------------------------------------------------


class Plausible(NamedTuple):
  """Refuse outside ``[low, high]``, warn outside ``[warn_low, warn_high]``."""

  what: str
  low: float
  high: float
  warn_low: float
  warn_high: float


#: A time budget in seconds. AlgoPerf's budgets are 2 to 20 hours (7703 s for criteo1tb, 63000 s
#: for imagenet_resnet); a transfer to hardware 100x slower stays under 1e7 s. 1e9 s (31 years)
#: is the "no time limit" of step control and the largest value a run accepts.
TIME_BUDGET_SEC = Plausible('a time budget in seconds', 1, NO_TIME_LIMIT_SEC, 1, 10**7)

#: The runners' ``--max_allowed_runtime_sec``: any positive time up to the "no limit" above
#: (short smoke runs and tests use fractions of a second).
TIME_LIMIT_SEC = Plausible('a time limit in seconds', 0, NO_TIME_LIMIT_SEC, 0, NO_TIME_LIMIT_SEC)

#: A step count: a step budget or a VeLO ``total_steps`` prompt. AlgoPerf's step hints are at
#: most about 1.3e5 steps; 1e7 is warned about, above 1e9 refused (a prompt of 1e12 is a unit
#: or a probe error, not a run).
STEPS = Plausible('a number of steps', 1, 10**9, 1, 10**7)

#: Hardware factors outside [1/1000, 1000] are refused wherever they are read or written: no
#: two accelerators differ that much per step; such a factor is a wrong measurement (a unit
#: mistake, a probe of another workload, a corrupted number).
PLAUSIBLE_FACTOR = (1e-3, 1e3)


def implausible_factor(factor: float) -> bool:
  """True when ``factor`` is not a finite number within :data:`PLAUSIBLE_FACTOR`."""
  low, high = PLAUSIBLE_FACTOR
  return not (math.isfinite(factor) and low <= factor <= high)


#: Hyperparameters of a search space by name suffix (the longest matching suffix wins).
#: Learning rates: AlgoPerf's baselines tune within 1e-5..1e-1; above 10 is warned (a
#: divergence test, say), above 1e3 refused.
HYPERPARAMETERS = {
  'learning_rate': Plausible('a learning rate', 0.0, 1e3, 1e-8, 10.0),
  'weight_decay': Plausible('a weight decay', 0.0, 1e3, 0.0, 1.0),
  'beta1': Plausible('a momentum coefficient', 0.0, 1.0, 0.0, 1.0),
  'beta2': Plausible('a momentum coefficient', 0.0, 1.0, 0.0, 1.0),
  'one_minus_beta1': Plausible('one minus a momentum coefficient', 0.0, 1.0, 0.0, 1.0),
  'one_minus_beta2': Plausible('one minus a momentum coefficient', 0.0, 1.0, 0.0, 1.0),
  'fraction': Plausible('a fraction of the run', 0.0, 1.0, 0.0, 1.0),
  'dropout_rate': Plausible('a dropout rate', 0.0, 1.0, 0.0, 1.0),
  'label_smoothing': Plausible('a label-smoothing factor', 0.0, 1.0, 0.0, 1.0),
  'total_steps': STEPS,
}


def check_plausible(
  value, where: str, plausible: Plausible, warn: Optional[Callable[[str], None]] = None
):
  """``value`` if it is a finite number in ``[low, high]`` (a warning outside the warn
  bounds); a :class:`BenchError` naming ``where`` and the allowed range otherwise."""
  if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
    raise BenchError(f'{where} must be {plausible.what}, a finite number; got {value!r}')
  if not plausible.low <= value <= plausible.high:
    raise BenchError(
      f'{where} = {value:g} is not plausible as {plausible.what}: '
      f'allowed {plausible.low:g} to {plausible.high:g}'
    )
  if not plausible.warn_low <= value <= plausible.warn_high:
    (warn or _warn_stderr)(
      f'{where} = {value:g} is unusual for {plausible.what} (usual: '
      f'{plausible.warn_low:g} to {plausible.warn_high:g}); running with it as given'
    )
  return value


def hyperparameter_range(name: str) -> Optional[Plausible]:
  """The plausible range of a hyperparameter named ``name`` (by suffix), or None if unknown."""
  matches = [s for s in HYPERPARAMETERS if name == s or name.endswith('_' + s)]
  return HYPERPARAMETERS[max(matches, key=len)] if matches else None


def check_hyperparameter(name: str, value, where: str, warn=None):
  """A search-space value checked against its kind's range; unknown names pass unchecked."""
  plausible = hyperparameter_range(name)
  if plausible is None or isinstance(value, (str, bool)) or value is None:
    return value
  return check_plausible(value, where, plausible, warn)
