"""One trial: AlgoPerf's training loop on an embedded workload, in named parts.

:func:`train_once` sets the trial up (batch size, input queue, model, optimizer state: none
of it timed), then :class:`TrialLoop` runs::

    while not stop_reason():
      step()                 # data_selection + update_params, timed
      check_divergence()     # non-finite parameters end the trial as diverged (and, at an
                             # evaluation, a loss non-finite or above layout.DIVERGED_LOSS)
      if evaluation_due():   # local_runner.evaluation_rule
        evaluate()           # prepare_for_eval (timed), budget check, eval_model (untimed)

Stop conditions, checked before each step: no submission time remaining (found at an
evaluation point), training complete (``max_global_steps`` reached, ``TrainingCompleteError``
or divergence), or both targets reached while ``stop_on_targets`` is on.

Every time comes from ``clock``, a function returning seconds (default
:data:`DEFAULT_CLOCK`, monotonic); tests pass a fake one, so timing rules are checked
exactly and independently of the machine. ``local_runner.train_state`` says what each
accumulated time covers.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Dict, Optional

import jax
import jax.numpy as jnp

from algoperf_compat import spec
from bench_core import catalogue, layout
from bench_core.errors import BenchError
from local_runner import logs
from local_runner.evaluation_rule import EvaluationRule
from local_runner.submission_loader import batch_size_for, wants_train_state
from local_runner.train_state import TrialState

Clock = Callable[[], float]
#: The real clock: monotonic, with the best resolution the platform offers.
DEFAULT_CLOCK: Clock = time.perf_counter


@jax.jit
def _all_finite(tree) -> jax.Array:
  leaves = [
    jnp.all(jnp.isfinite(x))
    for x in jax.tree_util.tree_leaves(tree)
    if jnp.issubdtype(jnp.asarray(x).dtype, jnp.inexact)
  ]
  return jnp.all(jnp.stack(leaves)) if leaves else jnp.bool_(True)


@jax.jit
def _step_rngs(rng, global_step):
  """AlgoPerf's keys of one step: the step folded into the trial's key, split in four (data
  selection, update, prepare_for_eval, evaluation). One dispatch instead of five."""
  return tuple(jax.random.split(jax.random.fold_in(rng, global_step), 4))


def _block(tree) -> None:
  jax.tree_util.tree_map(
    lambda x: x.block_until_ready() if hasattr(x, 'block_until_ready') else x, tree
  )


def no_evaluation_reason(global_step: int, submission_time: float, budget: float) -> str:
  """What to tell the user about a trial that ended before its first evaluation. The first
  evaluation is due after step 1 under every rule, so only a budget already spent there
  prevents it."""
  spent = (
    f'step 1, which includes compiling the update, used {submission_time:.2f} s of '
    f'submission time, the whole budget of {budget:g} s (compilation used the whole budget)'
    if global_step == 1
    else f'{global_step} steps used {submission_time:.2f} s of submission time, the whole '
    f'budget of {budget:g} s'
  )
  return (
    f'the trial ended before its first evaluation: {spent}; no evaluation was made and '
    f'no eval_measurements.csv was written. Give a larger --max_allowed_runtime_sec or '
    f'run under step control.'
  )


class TrialLoop:
  """The training loop of one trial, from a set-up state to its summary."""

  def __init__(
    self,
    *,
    workload,
    submission,
    hyperparameters,
    state: TrialState,
    rng,
    input_queue,
    eval_rule: EvaluationRule,
    budget: float,
    max_global_steps: Optional[int],
    stop_on_targets: bool,
    logger: logs.TrialLogger,
    clock: Clock,
    progress: Callable[[str], None],
  ):
    self.workload = workload
    self.submission = submission
    self.hyperparameters = hyperparameters
    self.state = state
    self.rng = rng
    self.input_queue = input_queue
    self.eval_rule = eval_rule
    self.budget = budget
    self.max_global_steps = max_global_steps
    self.stop_on_targets = stop_on_targets
    self.logger = logger
    self.clock = clock
    self.progress = progress
    self._pass_train_state = wants_train_state(submission.update_params)
    self._prepare_for_eval = getattr(submission, 'prepare_for_eval', None)
    self._step_end_time = state.start_time
    self._prepare_rng = self._eval_rng = None

  # ---- the parts of the loop ----------------------------------------------------------------

  def stop_reason(self) -> Optional[str]:
    """Why the trial stops before another step, or None while it goes on."""
    train = self.state.train
    if not train.is_time_remaining:
      return 'time budget spent'
    if self.state.diverged:
      return 'diverged'
    if train.training_complete:
      return 'training complete'
    if train.goals_reached and self.stop_on_targets:
      return 'targets reached'
    return None

  def step(self) -> None:
    """One training step; its wall time (from the end of the previous iteration) is added to
    the submission time."""
    s, train = self.state, self.state.train
    select_rng, update_rng, self._prepare_rng, self._eval_rng = _step_rngs(self.rng, s.global_step)
    batch = self.submission.data_selection(
      self.workload,
      self.input_queue,
      s.optimizer_state,
      s.params,
      s.model_state,
      self.hyperparameters,
      s.global_step,
      select_rng,
    )
    extra = {'train_state': train.as_mapping()} if self._pass_train_state else {}
    try:
      s.optimizer_state, s.params, s.model_state = self.submission.update_params(
        workload=self.workload,
        current_param_container=s.params,
        current_params_types=self.workload.model_params_types,
        model_state=s.model_state,
        hyperparameters=self.hyperparameters,
        batch=batch,
        loss_type=self.workload.loss_type,
        optimizer_state=s.optimizer_state,
        eval_results=s.eval_results,
        global_step=s.global_step,
        rng=update_rng,
        **extra,
      )
      _block(s.params)
    except spec.TrainingCompleteError:
      train.training_complete = True
    s.global_step += 1
    if self.max_global_steps is not None and s.global_step >= self.max_global_steps:
      train.training_complete = True
    self._step_end_time = self.clock()
    train.accumulated_submission_time += self._step_end_time - train.last_step_end_time

  def check_divergence(self) -> None:
    """Non-finite parameters end the trial as diverged (not timed)."""
    if not self.state.diverged and not bool(_all_finite(self.state.params)):
      self.state.diverged_reason = f'non-finite parameters after step {self.state.global_step}'
      self.state.train.training_complete = True

  def evaluation_due(self) -> bool:
    s = self.state
    return s.train.training_complete or self.eval_rule.is_due(
      s.global_step, self._step_end_time, s.last_eval_end_time
    )

  def evaluate(self) -> None:
    """``prepare_for_eval`` (timed), the budget check, then the evaluation (untimed) if time
    remains, or if the trial diverged (its last metrics are kept)."""
    s, train = self.state, self.state.train
    if self._prepare_for_eval is not None and not s.diverged:
      t0 = self.clock()
      s.optimizer_state, s.params, s.model_state = self._prepare_for_eval(
        workload=self.workload,
        current_param_container=s.params,
        current_params_types=self.workload.model_params_types,
        model_state=s.model_state,
        hyperparameters=self.hyperparameters,
        loss_type=self.workload.loss_type,
        optimizer_state=s.optimizer_state,
        eval_results=s.eval_results,
        global_step=s.global_step,
        rng=self._prepare_rng,
      )
      _block(s.params)
      train.accumulated_submission_time += self.clock() - t0
    train.is_time_remaining = train.accumulated_submission_time < self.budget
    if not (train.is_time_remaining or s.diverged):
      return
    eval_start = self.clock()
    result = self.workload.eval_model(
      self.workload.eval_batch_size,
      s.params,
      s.model_state,
      self._eval_rng,
      global_step=s.global_step,
    )
    diverged_losses = {
      k: v for k, v in result.items() if k.endswith('/loss') and layout.is_diverged_loss(v)
    }
    if not s.diverged and diverged_losses:
      name, value = sorted(diverged_losses.items())[0]
      s.diverged_reason = (
        f'{name} {value:g} at the evaluation after step {s.global_step} (non-finite or above '
        f'{layout.DIVERGED_LOSS:g})'
      )
      train.training_complete = True
    if not s.diverged:
      train.validation_goal_reached |= bool(self.workload.has_reached_validation_target(result))
      train.test_goal_reached |= bool(self.workload.has_reached_test_target(result))
    eval_end = self.clock()
    s.last_eval_end_time = train.last_eval_time = eval_end
    train.accumulated_eval_time += eval_end - eval_start
    result.update(
      {
        'score': train.accumulated_submission_time,
        'accumulated_submission_time': train.accumulated_submission_time,
        'accumulated_eval_time': train.accumulated_eval_time,
        'accumulated_logging_time': train.accumulated_logging_time,
        'total_duration': eval_end - s.start_time,
      }
    )
    s.eval_results.append((s.global_step, result))
    log_start = self.clock()
    self.logger.append_scalar_metrics(result, s.global_step, is_eval=True)
    metric = f'validation/{self.workload.target_metric_name}'
    self.progress(
      f'  step {s.global_step:6d}  time {train.accumulated_submission_time:7.2f}s'
      f'  train/loss {result.get("train/loss", float("nan")):.4f}'
      f'  {metric} {result.get(metric, float("nan")):.4f}'
    )
    train.accumulated_logging_time += self.clock() - log_start

  # ---- the loop and its summary -------------------------------------------------------------

  def run(self) -> Dict[str, Any]:
    """Train until a stop condition holds; write the closing records; return the summary."""
    s, train = self.state, self.state.train
    train.last_step_end_time = s.start_time
    while self.stop_reason() is None:
      self.step()
      self.check_divergence()
      if self.evaluation_due():
        self.evaluate()
      train.last_step_end_time = self.clock()
    return self.finish()

  def finish(self) -> Dict[str, Any]:
    s, train = self.state, self.state.train
    if s.diverged:
      self.logger.mark_diverged(s.global_step, s.diverged_reason)
      self.progress(f'  diverged: {s.diverged_reason}')
    no_eval = None
    if s.num_evals == 0:
      no_eval = no_evaluation_reason(s.global_step, train.accumulated_submission_time, self.budget)
      self.progress(f'  {no_eval}')
    self.logger.append_scalar_metrics({'score': train.accumulated_submission_time}, s.global_step)
    summary = {
      'global_step': s.global_step,
      'score': train.accumulated_submission_time,
      'num_evals': s.num_evals,
      'diverged': s.diverged,
      'validation_goal_reached': train.validation_goal_reached,
      'test_goal_reached': train.test_goal_reached,
      'training_complete': train.training_complete,
      'is_time_remaining': train.is_time_remaining,
      'stop_reason': self.stop_reason(),
      'condition': catalogue.condition_of_run(self.max_global_steps, self.budget),
      'evaluation_rule': self.eval_rule.describe(),
      'max_allowed_runtime_sec': self.budget,
      'max_global_steps': self.max_global_steps,
      'no_evaluation_reason': no_eval,
    }
    self.logger.mark_complete(summary)
    return summary


def train_once(
  workload,
  submission,
  hyperparameters,
  rng_seed: int,
  *,
  trial_dir: Path,
  eval_rule: EvaluationRule,
  budget: float,
  max_global_steps: Optional[int],
  stop_on_targets: bool,
  flags: Dict[str, Any],
  submission_path: str,
  hyperparameter_source: str,
  clock: Clock = DEFAULT_CLOCK,
  progress=print,
) -> Dict[str, Any]:
  """One trial; returns its summary. ``trial_dir`` is created only once the set-up (batch
  size, model, optimizer state) succeeded, so a submission that fails to start leaves no
  trial folder behind. ``hyperparameter_source`` says where ``hyperparameters`` came from
  (for error messages)."""
  rng = jax.random.PRNGKey(rng_seed)
  rng, _ = jax.random.split(rng, 2)
  data_rng, opt_init_rng, model_init_rng, rng = jax.random.split(rng, 4)
  try:
    batch_size = batch_size_for(submission, workload.name, workload.name)
  except ValueError as e:  # AlgoPerf's contract: a workload the submission does not support
    raise BenchError(f'{submission_path}: get_batch_size({workload.name!r}) failed: {e}') from e
  input_queue = workload._build_input_queue(data_rng, 'train', global_batch_size=batch_size)
  params, model_state = workload.init_model_fn(model_init_rng)
  try:
    optimizer_state = submission.init_optimizer_state(
      workload, params, model_state, hyperparameters, opt_init_rng
    )
  except (BenchError, FileNotFoundError) as e:  # bad hyperparameters, VeLO weights missing
    raise BenchError(
      f'{submission_path}: init_optimizer_state failed with the hyperparameters '
      f'of {hyperparameter_source}: {e}'
    ) from e

  logger = logs.TrialLogger(trial_dir)
  workload.attach_metrics_logger(logger)
  meta = {
    **logs.workload_properties(workload),
    **logs.hardware_info(),
    'rng_seed': rng_seed,
    'batch_size': batch_size,
  }
  logger.write_setup(hyperparameters, meta, flags)
  state = TrialState(
    params=params, model_state=model_state, optimizer_state=optimizer_state, start_time=clock()
  )
  loop = TrialLoop(
    workload=workload,
    submission=submission,
    hyperparameters=hyperparameters,
    state=state,
    rng=rng,
    input_queue=input_queue,
    eval_rule=eval_rule,
    budget=budget,
    max_global_steps=max_global_steps,
    stop_on_targets=stop_on_targets,
    logger=logger,
    clock=clock,
    progress=progress,
  )
  return loop.run()
