"""The one user-facing error type of the project."""


class BenchError(Exception):
  """Bad input (a flag, a file, a field): the message says which and what was expected.

  Command-line entry points print it as one line, ``error: <message>``, without a traceback
  (:func:`bench_core.cli.run_main`).
  """
