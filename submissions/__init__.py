"""AlgoPerf submissions: one folder per optimizer, each with its ``submission.py``.

The AlgoPerf plumbing shared by all of them lives once in ``submissions._common``.
"""
