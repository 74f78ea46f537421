"""The `velo_short` submission."""
