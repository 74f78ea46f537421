"""What the three VeLO submissions share: theta loading, the prompt rule, the fraction trained.

Prompt (``num_steps`` given to VeLO at initialisation): ``total_steps`` from the
tuning search space (``tuning_search_spaces/velo*/<workload>.json``, written by
``hardware_transfer.step_prompt``: ``velo`` gets the estimate P of the steps
feasible in the budget, ``velo_short`` gets ``floor(0.75 P)``), capped at
``max_prompt``. Under the self-tuning ruleset (no search space) the prompt is
``floor(f * step_hint)`` with f = 1 for ``velo`` and 0.75 for ``velo_short``.

Cap (a choice, documented in the README): the study's longest step budget was
ImageNet's 150,000 steps, so 150,000 is the longest horizon it prompted VeLO
with. A larger estimate is capped there; VeLO then runs past its horizon with a
fraction trained above 1, which its tanh progress features still distinguish
up to 1.1. Set ``max_prompt`` in the search space to change the cap.

Theta comes from ``velo.load_theta()``: ``$VELO_CHECKPOINT`` or the per-user
cache (``make velo-weights``); without it ``init_optimizer_state`` fails at once
with a message saying how to get the weights. It is read once per process.
"""

from __future__ import annotations

import functools
import math
import os

from submissions import _common

MAX_PROMPT = 150_000


@functools.lru_cache(maxsize=2)
def _theta_from(path: str):
  import velo

  return velo.load_theta(path)


def load_theta():
  """The meta-parameters from the resolved checkpoint location (cached per path)."""
  import velo

  return _theta_from(str(velo.resolve_checkpoint(os.environ.get('VELO_CHECKPOINT') or None)))


def prompt(hp, workload, self_tuning_fraction: float) -> int:
  """``min(total_steps, max_prompt)``; without total_steps, ``floor(fraction * step_hint)``."""
  total = hp.total_steps
  if total is None:
    total = math.floor(self_tuning_fraction * workload.step_hint)
  if not isinstance(total, int) or total <= 0:
    raise _common.HyperparameterError(f'total_steps must be a positive integer, got {total!r}')
  return min(total, int(hp.max_prompt))


def prompted_submission(name: str, self_tuning_fraction: float) -> _common.Submission:
  """``velo`` / ``velo_short``: VeLO prompted as in :func:`prompt`."""

  def make_optimizer(hp, workload):
    import velo

    return velo.velo(load_theta(), prompt(hp, workload, self_tuning_fraction))

  return _common.Submission(name, make_optimizer, defaults={'total_steps': None},
                            optional_defaults={'max_prompt': MAX_PROMPT})


def step_budget_from_flags() -> int | None:
  """``--max_global_steps`` of the runner process (official or local), if its absl flags are parsed."""
  try:
    from absl import flags

    if flags.FLAGS.is_parsed() and 'max_global_steps' in flags.FLAGS:
      return flags.FLAGS.max_global_steps or None
  except Exception:  # absl absent or flags in an unexpected state: no step budget known
    return None
  return None


def fraction_of_budget(hp, workload, global_step: int, train_state) -> float:
  """Fraction of the budget used before this step.

  Step control (a step budget is known: hyperparameter ``step_budget`` > 0, else
  the runner's ``--max_global_steps``): ``global_step / step_budget``.
  Time control: ``accumulated_submission_time / workload.max_allowed_runtime_sec``.
  """
  budget = hp.step_budget or step_budget_from_flags()
  if budget:
    return global_step / budget
  if train_state is None:
    raise _common.HyperparameterError(
      'velo_time needs the runner to pass train_state (time control) or a step budget')
  return train_state['accumulated_submission_time'] / workload.max_allowed_runtime_sec
