"""The `nesterov` submission."""
