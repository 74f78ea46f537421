"""Scoring of AlgoPerf-layout experiment trees (eval_measurements.csv or the official
runner's text logs): targets, time-to-target, performance profiles and the AlgoPerf
score B, fixed-budget quality, prompt sensitivity, reference trees from other hardware,
and the report that writes them as CSV/Markdown/LaTeX/plots.

Command lines: ``python -m scoring_ext.report`` and ``python -m scoring_ext.profile``.
"""
