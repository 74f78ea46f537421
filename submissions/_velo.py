"""What the three VeLO submissions share: theta loading, the prompt rule, the fraction trained.

Prompt (the number of steps VeLO is told it will train for): ``total_steps``
from the tuning search space (``tuning_search_spaces/velo*/<workload>.json``,
written by ``hardware_transfer.step_prompt``: ``velo`` gets the estimate P of the
steps feasible in the budget, ``velo_short`` gets ``floor(0.75 P)``). Under the
self-tuning ruleset (no search space) it is ``floor(f * step_hint)`` with f = 1 for
``velo`` and 0.75 for ``velo_short``; ``velo_time`` uses ``step_hint``.

Horizon limit, as in the study: its VeLO submission called the reference prefab
with ``max_training_steps=200_000``. A prompt up to that limit reaches VeLO
unchanged (the study's ImageNet time-control prompt was 158,845). Above it the
prefab does not cap the prompt: it accumulates gradients over
``k = ceil(prompt / limit)`` steps (VeLO updates once per k steps, with the mean
gradient and mean loss, and is told ``prompt // k`` steps). These submissions do
the same (:func:`velo.accumulation.every_k_calls`); ``max_training_steps`` in the
search space changes the limit.

Theta comes from ``velo.load_theta()``: ``$VELO_CHECKPOINT`` or the per-user
cache (``make velo-weights``); without it ``init_optimizer_state`` fails at once
with a message saying how to get the weights. It is read once per process.
"""

from __future__ import annotations

import functools
import math
import numbers
import os

import numpy as np

import velo
from submissions import _common
from velo.accumulation import every_k_calls

#: VeLO's horizon limit in the study (the reference prefab's ``max_training_steps``).
MAX_TRAINING_STEPS = 200_000


@functools.lru_cache(maxsize=2)
def _theta_from(path: str):
  return velo.load_theta(path)


def load_theta():
  """The meta-parameters from the resolved checkpoint location (cached per path)."""
  return _theta_from(str(velo.resolve_checkpoint(os.environ.get('VELO_CHECKPOINT') or None)))


def prompt(hp, workload, self_tuning_fraction: float) -> int:
  """``total_steps``; without it, ``floor(fraction * step_hint)``."""
  total = hp.total_steps
  if total is None:
    total = math.floor(self_tuning_fraction * workload.step_hint)
  if not isinstance(total, int) or total <= 0:
    raise _common.HyperparameterError(f'total_steps must be a positive integer, got {total!r}')
  return total


def horizon(prompt_steps: int, max_training_steps: int) -> tuple[int, int]:
  """``(num_steps given to VeLO, k)``: accumulation over ``k = ceil(prompt / limit)`` steps
  above the limit (``k = 1`` up to it), VeLO told ``prompt // k`` steps."""
  if not isinstance(max_training_steps, int) or max_training_steps <= 0:
    raise _common.HyperparameterError(
      f'max_training_steps must be a positive integer, got {max_training_steps!r}'
    )
  every = -(-prompt_steps // max_training_steps)
  return prompt_steps // every, every


def scratch_in_state(hp) -> bool:
  """Hyperparameter ``scratch_in_state`` (optional, default False): VeLO's memory layout
  (``velo.velo(..., scratch_in_state=)``). False: the state at the algorithm's floor, 4 values
  per parameter. True: 7, with fewer temporaries per step: the same results, faster on a CPU
  host, where fresh temporaries cost page faults (docs/velo_memory.md). The embedded CPU
  workloads' search spaces set it."""
  value = hp.scratch_in_state
  if not isinstance(value, (bool, np.bool_)):
    raise _common.HyperparameterError(
      f'scratch_in_state must be true or false, got {value!r} ({type(value).__name__})'
    )
  return bool(value)


def update_compiler_options(hp) -> dict:
  """The XLA options of VeLO's update for its memory layout (:func:`velo.compiler_options`)."""
  return velo.compiler_options(scratch_in_state(hp))


#: Hyperparameters every VeLO submission takes besides its own, with their defaults.
OPTIONAL_DEFAULTS = {'max_training_steps': MAX_TRAINING_STEPS, 'scratch_in_state': False}


def make_velo(
  prompt_steps: int, max_training_steps: int = MAX_TRAINING_STEPS, scratch_in_state: bool = False
):
  """VeLO for a run of ``prompt_steps`` steps, with the study's horizon limit (see above), in
  the memory layout ``scratch_in_state`` (see :func:`scratch_in_state`)."""
  num_steps, every = horizon(prompt_steps, max_training_steps)
  tx = velo.velo(load_theta(), num_steps, scratch_in_state=scratch_in_state)
  return tx if every == 1 else every_k_calls(tx, every)


def prompted_submission(name: str, self_tuning_fraction: float) -> _common.Submission:
  """``velo`` / ``velo_short``: VeLO prompted as in :func:`prompt`."""

  def make_optimizer(hp, workload):
    return make_velo(
      prompt(hp, workload, self_tuning_fraction), hp.max_training_steps, scratch_in_state(hp)
    )

  return _common.Submission(
    name,
    make_optimizer,
    defaults={'total_steps': None},
    optional_defaults=OPTIONAL_DEFAULTS,
    update_compiler_options=update_compiler_options,
  )


def step_budget(hp) -> int:
  """Hyperparameter ``step_budget``: the run's step budget under step control, 0 under time
  control (the study layer writes it into the search space; see ``study.budgets``)."""
  budget = hp.step_budget
  if isinstance(budget, bool) or not isinstance(budget, numbers.Integral) or budget < 0:
    raise _common.HyperparameterError(
      f'step_budget must be a non-negative integer (0: time control), got {budget!r}'
    )
  return int(budget)


def fraction_of_budget(hp, workload, global_step: int, train_state) -> float:
  """Fraction of the budget used before this step, from what AlgoPerf hands the submission.

  Step control (hyperparameter ``step_budget`` > 0): ``global_step / step_budget``.
  Time control (``step_budget`` = 0):
  ``train_state['accumulated_submission_time'] / workload.max_allowed_runtime_sec``.
  """
  budget = step_budget(hp)
  if budget:
    return global_step / budget
  if train_state is None:
    raise _common.HyperparameterError(
      'velo_time needs the runner to pass train_state (time control) or a step budget'
    )
  return train_state['accumulated_submission_time'] / workload.max_allowed_runtime_sec
