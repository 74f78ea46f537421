"""The `nadam` submission."""
