"""The one user-facing error type of the project."""


class BenchError(Exception):
  """Bad input (a flag, a file, a field): the message says which and what was expected.

  Command-line entry points print it as one line, ``error: <message>``, without a traceback
  (:func:`bench_core.cli.run_main`). It is deliberately not a ``ValueError``: an ``except
  ValueError`` around a conversion or a library call never catches it, and a programming
  error (a ``ValueError`` or anything else) is never taken for bad input; it surfaces with its
  traceback.
  """
