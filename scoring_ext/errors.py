"""The one error type of the scoring package.

Command-line entry points catch it and print its message (which names the
file or field at fault) instead of a traceback.
"""


class ScoringError(Exception):
  """Bad input to the scoring: a missing file, a missing column, an unknown name."""
