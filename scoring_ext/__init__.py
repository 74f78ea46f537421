"""Scoring of AlgoPerf-layout experiment trees: targets, time-to-target,
performance profiles and the AlgoPerf score B, fixed-budget quality, prompt
sensitivity, and the report that writes them as CSV/Markdown/LaTeX/plots.

Command lines: ``python -m scoring_ext.report`` and ``python -m scoring_ext.profile``.
"""
