"""The one error type of this package: bad input, reported as one line naming file and field."""


class TransferError(ValueError):
  """Bad input (a file, a field, a flag); the message says which and what was expected."""
