"""The report's files, built in memory from a :class:`scoring_ext.scoring.ScoringResult`.

Files: audit.md, targets.csv, time_to_target.csv (levels trial, study, median), scores.csv,
quality.csv, prompt_sensitivity.csv (when velo and velo_short are present), report.md, one
.tex (booktabs) per shown table, performance_profile_<split>.png/.pdf. :func:`sections`
gives the shown tables as data (title, note, frame), so that other pages (the demo's results
page) show the same tables without reading report.md back.
"""

from __future__ import annotations

import dataclasses
import os

import pandas as pd

from bench_core.errors import BenchError
from scoring_ext.compute import time_to_target as ttt
from scoring_ext.render import audit, display, plots, tables
from scoring_ext.scoring import ScoringResult


@dataclasses.dataclass(frozen=True)
class Section:
  """One table of report.md: ``## <title>``, the note, the table; written as <stem>.tex."""

  stem: str
  title: str
  frame: pd.DataFrame
  note: str = ''

  def body(self) -> str:
    """The note, then the table, as Markdown (no heading, no trailing newline)."""
    note = self.note + '\n\n' if self.note else ''
    return note + tables.to_markdown(self.frame).rstrip('\n')

  def markdown(self, heading: str = '##') -> str:
    """The section as Markdown, under a heading of the given level."""
    return f'{heading} {self.title}\n\n{self.body()}\n'


def clock_unit(result: ScoringResult) -> str:
  return 'seconds' if result.condition == 'time' else 'steps'


def rules_in_force(result: ScoringResult) -> dict[str, str]:
  """The scoring rules this report used, as sentences (report.md and audit.md)."""
  return {
    'rule set': result.rules.describe(),
    'multi-trial rule': f'{result.trial_rule} ({ttt.RULE_TEXT[result.trial_rule]})',
    'evaluations past the budget': ttt.PAST_BUDGET_TEXT[result.past_budget],
    'trials without evaluations': 'a miss (time to target inf) in their study, the median '
    'and its n, the profiles and the scores; damaged trials are left out and named',
  }


def _scores_note(result: ScoringResult) -> str:
  note = f'max_tau = {result.max_tau:g}; 1 = fastest on every workload, 0 = no target reached.'
  for split, group in result.scores.groupby('split', sort=False):
    if (group['score'] == 0).all():
      note += (
        f' No algorithm reached the {split} targets in the median over its studies: '
        'see how many studies did, (k/n), in the time-to-target table.'
      )
  return note


def sections(result: ScoringResult) -> list[Section]:
  """The tables report.md shows, in order; stems: targets, scores, time_to_target_<split>,
  quality, prompt_sensitivity (with both VeLO prompts), references (with references)."""
  unit = clock_unit(result)
  shown = [
    Section('targets', 'Targets', result.targets.drop(columns=['column'])),
    Section('scores', 'Scores B', display.scores_wide(result), _scores_note(result)),
  ]
  for split in result.profiles:
    shown.append(
      Section(
        f'time_to_target_{split}',
        f'Median time to {split} target ({unit})',
        display.median_times_wide(result, split, counts=True),
        'Median over studies, then (k/n): k of the n studies reached the target. '
        '`inf`: the median is a miss (half or more of the studies missed).',
      )
    )
  shown.append(
    Section(
      'quality',
      'Quality at the end of the budget (mean ± std over studies)',
      display.quality_wide(result),
      'n: the studies averaged (a diverged study, or one whose trials logged no evaluation, '
      'has no final value). "stopped early": the value of a trial that ended before its '
      'budget, at its last evaluation.',
    )
  )
  if result.prompt is not None:
    shown.append(
      Section(
        'prompt_sensitivity',
        f'Prompt sensitivity: median time to target ({unit})',
        display.prompt_display(result.prompt),
        '`-`: a miss.',
      )
    )
  if result.references is not None:
    shown.append(
      Section(
        'references',
        'Reference runs',
        result.references,
        'Algorithms from other experiment trees, and what was done to their times.',
      )
    )
  return shown


def profile_images(result: ScoringResult, split: str, formats=('png', 'pdf')) -> dict[str, bytes]:
  """The performance profile of one split as {format: bytes}, the legend with each score B."""
  profile = result.profiles[split]
  split_scores = result.scores[result.scores['split'] == split].set_index('algorithm')
  return plots.render_profile_figure(
    profile.taus,
    profile.rho,
    profile.algorithms,
    f'{split} targets, {result.condition} condition',
    formats=formats,
    scores=split_scores['score'].reindex(list(profile.algorithms)).to_numpy(),
  )


def audit_line(result: ScoringResult) -> str:
  """report.md's audit line: the summary of the audit and the number of warnings."""
  n_warn = sum(1 for i in result.issues if i.level != 'note')
  summary = audit.summary(result.trials, result.stopped_early)
  return f'audit: {summary}; {n_warn} warning(s); see [audit.md](audit.md)'


def render_outputs(result: ScoringResult) -> dict[str, bytes | str]:
  """Every output file, name -> content (str for text, bytes for images), built in memory."""
  rules = rules_in_force(result)
  files: dict[str, bytes | str] = {}
  files['audit.md'] = audit.render_audit(
    result.experiment_dir,
    result.condition,
    result.trials,
    result.issues,
    result.budgets,
    clock_unit(result),
    rules=rules,
    references=result.references,
    short_of_step_budget=result.short_of_step_budget,
    stopped_early=result.stopped_early,
  )
  files['targets.csv'] = tables.to_csv(result.targets)
  files['time_to_target.csv'] = tables.to_csv(display.time_to_target_long(result))
  files['scores.csv'] = tables.to_csv(result.scores)
  files['quality.csv'] = tables.to_csv(result.quality)
  if result.prompt is not None:
    files['prompt_sensitivity.csv'] = tables.to_csv(result.prompt)

  target_text = result.target_source + (
    f' (at {result.budget_fraction:g} of the budget)' if result.target_source == 'derived' else ''
  )
  report = [
    f'# Scoring report ({result.condition} condition)\n',
    f'- experiment: `{result.experiment_dir}`',
    f'- targets: {target_text}',
    *[f'- {name}: {text}' for name, text in rules.items()],
    f'- algorithms: {", ".join(result.algorithms)}',
    f'- workloads: {", ".join(result.workloads)}',
    f'- {audit_line(result)}\n',
  ]
  for section in sections(result):
    report.append(section.markdown() + '\n')
    files[f'{section.stem}.tex'] = tables.to_latex(section.frame, caption=section.title)
  report.append('## Performance profiles\n')
  for split in result.profiles:
    for fmt, data in profile_images(result, split).items():
      files[f'performance_profile_{split}.{fmt}'] = data
    report.append(f'![{split} performance profile](performance_profile_{split}.png)\n')
  files['report.md'] = '\n'.join(report)
  return files


def write_report(result: ScoringResult, out_dir: str) -> dict[str, bytes | str]:
  """Render every file and write them into `out_dir` (all or nothing); returns the files.

  Raises BenchError naming `out_dir` when it cannot be written.
  """
  files = render_outputs(result)
  try:
    tables.write_all_atomic(os.fspath(out_dir), files)
  except OSError as e:
    raise BenchError(f'cannot write the report into {out_dir}: {e}') from None
  return files
