"""The `nadamw` submission."""
