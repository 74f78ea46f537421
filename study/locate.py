"""Where a study finds an algorithm's submission file and its tuning search space.

Submission: ``submissions/<algorithm>/submission.py``. One built on ``submissions/_velo.py``
(it imports it) needs the VeLO checkpoint, which :func:`check_velo_checkpoint` looks for
before a trial starts.

Search space, the first that exists of

1. ``<root>/<condition>/<algorithm>/<workload>.json`` (condition-specific, e.g. VeLO's
   step-control prompts under ``step/``),
2. ``<root>/<algorithm>/<workload>.json`` (VeLO's time-control prompts),

   each for ``<root>`` the untracked ``out/tuning_search_spaces`` (where ``make step-prompt``
   writes prompts for your hardware), then the project's ``tuning_search_spaces``,
3. ``tuning_search_spaces/<algorithm>.json`` (the hand-crafted optimizers' defaults),
4. ``tuning_search_spaces/placeholder/<algorithm>/<workload>.json``, only when the caller
   allows placeholders: VeLO time-control prompts that are the reference step counts,
   not an estimate for any hardware.

In 1, 2 and 4 a variant (``wmt_post_ln``) without a file of its own takes its base
workload's (``wmt.json``): AlgoPerf gives variants their base's budgets, so the prompts carry
over.
"""

from __future__ import annotations

from pathlib import Path
from typing import List

import velo
from bench_core import catalogue
from bench_core.errors import BenchError
from study.runners import REPO

SUBMISSIONS = REPO / 'submissions'
SEARCH_SPACES = REPO / 'tuning_search_spaces'
#: The user's own prompts (``make step-prompt``'s default destination), read first; untracked.
LOCAL_SEARCH_SPACES = REPO / 'out' / 'tuning_search_spaces'
PLACEHOLDERS = SEARCH_SPACES / 'placeholder'


def known_algorithms() -> List[str]:
  return sorted(p.parent.name for p in SUBMISSIONS.glob('*/submission.py'))


def submission_file(algorithm: str) -> Path:
  """``submissions/<algorithm>/submission.py``, or an error listing the known algorithms."""
  path = SUBMISSIONS / algorithm / 'submission.py'
  if not path.is_file():
    raise BenchError(
      f'no submission {path} (algorithm {algorithm!r}); known: {", ".join(known_algorithms())}'
    )
  return path


def needs_velo_checkpoint(algorithm: str) -> bool:
  """True for a submission built on ``submissions/_velo.py`` (VeLO and its variants)."""
  return 'submissions import _velo' in submission_file(algorithm).read_text(encoding='utf-8')


def check_velo_checkpoint(algorithm: str) -> None:
  """A VeLO submission without a checkpoint is refused, saying how to get the weights."""
  if needs_velo_checkpoint(algorithm):
    try:
      velo.resolve_checkpoint()
    except FileNotFoundError as e:
      raise BenchError(f'algorithm {algorithm!r} needs the VeLO checkpoint: {e}') from None


def search_space_file(
  algorithm: str, workload: str, condition: str, allow_placeholder: bool = False
) -> Path:
  """The search space of the module docstring's rule, or an error naming what was tried."""
  names = catalogue.lookup_names(workload)
  candidates = [
    root / pattern
    for pattern in (
      *(Path(condition) / algorithm / f'{name}.json' for name in names),
      *(Path(algorithm) / f'{name}.json' for name in names),
    )
    for root in (LOCAL_SEARCH_SPACES, SEARCH_SPACES)
  ] + [SEARCH_SPACES / f'{algorithm}.json']
  for path in candidates:
    if path.is_file():
      return path
  placeholder = next(
    (p for p in (PLACEHOLDERS / algorithm / f'{n}.json' for n in names) if p.is_file()), None
  )
  if placeholder is not None:
    if allow_placeholder:
      return placeholder
    raise BenchError(
      f'no {condition}-control search space for {algorithm} on {workload}: only the placeholder '
      f'{placeholder.relative_to(REPO)} (the reference step count, not an estimate for your '
      'hardware). Estimate the prompt with make probe / make transfer / make step-prompt '
      '(docs/hardware_transfer.md), or pass --allow_placeholder_prompts '
      '(make: ALLOW_PLACEHOLDERS=1) to use it anyway'
    )
  raise BenchError(
    f'no tuning search space for {algorithm} on {workload} ({condition} control): '
    'looked for ' + ', '.join(str(p.relative_to(REPO)) for p in candidates)
  )
