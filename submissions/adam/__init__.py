"""The `adam` submission."""
