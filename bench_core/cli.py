"""The one wrapper of every command-line entry point: input errors as one line, no traceback."""

from __future__ import annotations

import sys
from typing import Callable, List, Optional

from bench_core.errors import BenchError

#: Exit status of a command stopped by bad input (argparse's own status for bad flags).
INPUT_ERROR_EXIT = 2


def run_main(main: Callable[[Optional[List[str]]], int], argv: Optional[List[str]] = None) -> int:
  """``main(argv)``; a :class:`BenchError` is printed as ``error: <message>`` and gives
  :data:`INPUT_ERROR_EXIT`."""
  try:
    return main(argv)
  except BenchError as e:
    print(f'error: {e}', file=sys.stderr, flush=True)
    return INPUT_ERROR_EXIT
