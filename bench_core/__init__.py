"""What every layer of the project shares: the one error type, the one CLI wrapper, the
trial-folder layout, the format of every file the project writes (``file_formats``) and the
workload catalogue. It imports nothing else of the project."""
