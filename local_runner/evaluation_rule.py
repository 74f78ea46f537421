"""When the local runner evaluates: AlgoPerf's time rule, or a fixed step cadence.

After every training step the runner asks whether an evaluation is due.

**Time rule** (AlgoPerf's ``submission_runner.train_once``; the default). With ``t_step``
the clock at the end of the step and ``t_eval`` the clock at the end of the last
evaluation, an evaluation is due when

    no evaluation has been made yet,  or  t_step - t_eval >= eval_period_time_sec.

The official runner writes this as ``last_eval_time = 0`` compared with absolute
timestamps (seconds since 1970), so its first evaluation always follows step 1; here
"no evaluation yet" says so directly. After that one evaluation falls due each
``eval_period_time_sec`` of wall time (training, evaluation and logging all count towards
the period), so the steps at which it falls depend on the machine and its load.

**Step cadence** (``--eval_every_steps=N``; what the launcher sets under step control): an
evaluation is due after step 1 and after every step that is a multiple of N. The steps
evaluated are then a function of the step budget alone, identical on any machine.
:func:`default_eval_every_steps` gives the cadence for a step budget.

Under both rules an evaluation is also due when training is complete (the step budget is
reached, the submission raised ``TrainingCompleteError`` or the trial diverged). When one is
due the runner runs ``prepare_for_eval`` (timed), then checks the budget on submission time
(``accumulated_submission_time < budget``) and evaluates (untimed) only if time remains; if
none remains the trial stops.
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Union

#: Evaluations over a step budget under step control: a cadence of at most 2 % of the budget.
EVALUATIONS_PER_STEP_BUDGET = 50


class TimeRule(NamedTuple):
  """AlgoPerf's rule: due before the first evaluation, then each ``period_sec`` of wall time."""

  period_sec: float

  def is_due(
    self, global_step: int, step_end_time: float, last_eval_end_time: Optional[float]
  ) -> bool:
    del global_step
    return last_eval_end_time is None or step_end_time - last_eval_end_time >= self.period_sec

  def describe(self) -> str:
    return f'after step 1, then every {self.period_sec:g} s of wall time'


class StepCadence(NamedTuple):
  """Due after step 1 and after every multiple of ``every_steps``."""

  every_steps: int

  def is_due(
    self, global_step: int, step_end_time: float, last_eval_end_time: Optional[float]
  ) -> bool:
    del step_end_time, last_eval_end_time
    return global_step == 1 or global_step % self.every_steps == 0

  def describe(self) -> str:
    return f'after step 1, then every {self.every_steps} steps'


EvaluationRule = Union[TimeRule, StepCadence]


def default_eval_every_steps(step_budget: int) -> int:
  """``max(1, floor(step_budget / 50))``: at most 2 % of the budget between evaluations, so
  about 50 evaluations per trial (one per step for budgets under 100 steps)."""
  if step_budget <= 0:
    raise ValueError(f'a step budget must be positive, got {step_budget}')
  return max(1, step_budget // EVALUATIONS_PER_STEP_BUDGET)


def rule_for(eval_period_time_sec: float, eval_every_steps: Optional[int]) -> EvaluationRule:
  """The step cadence when ``eval_every_steps`` is set, else the time rule."""
  if eval_every_steps is None:
    return TimeRule(float(eval_period_time_sec))
  return StepCadence(int(eval_every_steps))
