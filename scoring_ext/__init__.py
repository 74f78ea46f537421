"""Scoring of AlgoPerf-layout experiment trees (eval_measurements.csv or the official
runner's text logs): targets, time-to-target, performance profiles and the AlgoPerf
score B, fixed-budget quality, prompt sensitivity, reference trees from other hardware,
and the report that writes them as CSV/Markdown/LaTeX/plots.

Layers, each importing only those listed before it:

- :mod:`scoring_ext.findings`, :mod:`scoring_ext.metrics`: the words the layers share
  (an audit finding, a trial's status, a metric's column and worst value);
- :mod:`scoring_ext.read`: files -> frames (experiment trees, text logs, reference trees,
  hardware files, tables of times);
- :mod:`scoring_ext.compute` and :mod:`scoring_ext.budgets`: frames -> frames, no file
  read or written (targets, time to target, profiles, bootstrap, quality, prompt, rules);
- :mod:`scoring_ext.scoring`: the API, ``score_experiment(experiment_dir, ScoringConfig)
  -> ScoringResult``;
- :mod:`scoring_ext.render`: a ScoringResult -> text, tables, figures and files;
- the command lines: ``python -m scoring_ext.report`` and ``python -m scoring_ext.score_times``.
"""
