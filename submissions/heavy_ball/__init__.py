"""The `heavy_ball` submission."""
