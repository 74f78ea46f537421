"""The `velo_time` submission."""
