"""Prompt sensitivity of VeLO (docs/protocol.md, "Prompt sensitivity (Q1)"): median time to
target of ``velo`` (prompted with 100 % of the feasible steps) next to ``velo_short``
(75 %), per workload and target split. ``inf`` is a miss.
"""

from __future__ import annotations

import pandas as pd

FULL_PROMPT = 'velo'
SHORT_PROMPT = 'velo_short'


def has_prompt_pair(algorithms) -> bool:
  return FULL_PROMPT in set(algorithms) and SHORT_PROMPT in set(algorithms)


def prompt_sensitivity(
  medians: pd.DataFrame, full: str = FULL_PROMPT, short: str = SHORT_PROMPT
) -> pd.DataFrame:
  """One row per (workload, split) of `medians` (:func:`scoring_ext.compute.time_to_target
  .median_times_to_target`): ``workload``, ``split`` (str), then ``<full>`` and
  ``<short>`` (float: median times to target; inf for a miss or for a workload the
  algorithm did not run)."""
  subset = medians[medians['algorithm'].isin([full, short])]
  wide = subset.pivot_table(
    index=['workload', 'split'], columns='algorithm', values='time_to_target', aggfunc='first'
  )
  wide = wide.reindex(columns=[full, short]).fillna(float('inf'))
  wide.columns.name = None
  return wide.reset_index()
