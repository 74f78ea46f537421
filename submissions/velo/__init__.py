"""The `velo` submission."""
