"""The runner's bookkeeping of one trial, typed.

:class:`TrainState` holds AlgoPerf's ``train_state`` entries (same names, same meaning);
a submission whose ``update_params`` takes ``train_state`` receives
:meth:`TrainState.as_mapping`, a read-only mapping as the official runner passes.
:class:`TrialState` adds what the loop itself carries: the model, the optimizer state, the
step count, the evaluations so far and the reason for a divergence.

Times are readings of the runner's clock (``last_eval_time``, ``last_step_end_time``) or
sums of differences of readings (the ``accumulated_*`` entries), in seconds:

* ``accumulated_submission_time``: every training step (data selection and
  ``update_params``, waited on until the new parameters exist) and every
  ``prepare_for_eval``; evaluation and logging are left out. It is the trial's score.
* ``accumulated_eval_time``, ``accumulated_logging_time``: evaluations and log writes.
* ``last_eval_time``: the clock at the end of the last evaluation, 0 before the first
  (as AlgoPerf starts it).
"""

from __future__ import annotations

import dataclasses
from types import MappingProxyType
from typing import Any, List, Mapping, Optional, Tuple


@dataclasses.dataclass
class TrainState:
  """AlgoPerf's ``train_state``: what a submission may read about the run so far."""

  validation_goal_reached: bool = False
  test_goal_reached: bool = False
  is_time_remaining: bool = True
  last_eval_time: float = 0.0
  training_complete: bool = False
  accumulated_submission_time: float = 0.0
  accumulated_eval_time: float = 0.0
  accumulated_logging_time: float = 0.0
  last_step_end_time: Optional[float] = None

  @property
  def goals_reached(self) -> bool:
    return self.validation_goal_reached and self.test_goal_reached

  def as_mapping(self) -> Mapping[str, Any]:
    """A read-only snapshot with AlgoPerf's keys."""
    return MappingProxyType(dataclasses.asdict(self))


@dataclasses.dataclass
class TrialState:
  """Everything the training loop carries from one step to the next."""

  params: Any
  model_state: Any
  optimizer_state: Any
  start_time: float
  train: TrainState = dataclasses.field(default_factory=TrainState)
  global_step: int = 0
  eval_results: List[Tuple[int, dict]] = dataclasses.field(default_factory=list)
  diverged_reason: Optional[str] = None
  #: The clock at the end of the last evaluation (None before the first).
  last_eval_end_time: Optional[float] = None

  @property
  def diverged(self) -> bool:
    return self.diverged_reason is not None

  @property
  def num_evals(self) -> int:
    return len(self.eval_results)
