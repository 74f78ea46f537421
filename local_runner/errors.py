"""Errors the runner reports to the user as one line (no traceback)."""


class RunnerError(ValueError):
  """Bad input to the runner: the message names the flag, file or field."""
