"""What every command of the package shares: input errors as one line, no traceback."""

from __future__ import annotations

import sys
from typing import Callable, List, Optional

from hardware_transfer.errors import TransferError

#: Exit status of a command stopped by bad input.
INPUT_ERROR_EXIT = 1


def run_main(main: Callable[[Optional[List[str]]], int], argv: Optional[List[str]] = None) -> int:
  """``main(argv)``; a ``TransferError`` is printed as ``error: <message>`` and exits non-zero."""
  try:
    return main(argv)
  except TransferError as e:
    print(f'error: {e}', file=sys.stderr)
    return INPUT_ERROR_EXIT
