"""Rendering: a :class:`scoring_ext.scoring.ScoringResult` -> tables shaped for reading
(:mod:`.display`), the report's files (:mod:`.outputs`), audit.md and the console
(:mod:`.audit`), Markdown/LaTeX/CSV writers and atomic writes (:mod:`.tables`), profile plots
(:mod:`.plots`). Nothing here scores."""
