"""What every layer of the project shares: the one error type, the one CLI wrapper, the
trial-folder layout and the workload catalogue. It imports nothing else of the project."""
