"""AlgoPerf-compatible local runner and embedded CPU workloads.

``python -m local_runner`` runs a submission file on an embedded workload with
the official ``submission_runner.py`` flag names and timing rules, and writes
the AlgoPerf log layout.
"""
