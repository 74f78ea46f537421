"""The training loop of AlgoPerf's ``submission_runner.py``, for embedded workloads.

Timing rules (as the official runner): ``accumulated_submission_time`` sums the
wall time of each step (data selection + ``update_params``, here waited on until
the new parameters are computed) and of ``prepare_for_eval``; evaluation and
logging are excluded. An evaluation is due when ``eval_period_time_sec`` passed
since the last one (so the first comes right after step 1) or training is
complete; it runs only while submission time is below the budget
(``max_allowed_runtime_sec``, x1.5 under the self-tuning ruleset). The loop
stops when time runs out, both validation and test targets are reached (unless
``stop_on_targets`` is off, as for the study's full-budget runs),
``max_global_steps`` is hit, or the submission raises ``TrainingCompleteError``.

Additions: parameters that become non-finite (checked after every step) stop the
trial as *diverged* (``diverged.json``; the next trial still runs), and a
finished trial gets ``trial_complete.json`` so that interrupted trials can be
told apart and rerun.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import shutil
import struct
import time
from pathlib import Path
from types import MappingProxyType
from typing import Any, Dict, List, Optional

import jax
import jax.numpy as jnp

from algoperf_compat import spec
from bench_core import layout
from bench_core.errors import BenchError
from local_runner import logs
from local_runner.search_space import hyperparameter_points, load_search_space
from local_runner.submission_loader import batch_size_for, load_submission, wants_train_state
from local_runner.workloads import get_workload

FRAMEWORK = layout.FRAMEWORK


class ExperimentExistsError(BenchError):
  pass


@dataclasses.dataclass
class RunConfig:
  """What one invocation of the runner does (the official runner's flags)."""

  workload: str
  submission_path: str
  experiment_dir: str
  experiment_name: Optional[str] = None
  tuning_ruleset: str = 'external'
  tuning_search_space: Optional[str] = None
  num_tuning_trials: int = 1
  max_global_steps: Optional[int] = None
  rng_seed: Optional[int] = None
  overwrite: bool = False
  resume_last_run: bool = False
  hparam_start_index: Optional[int] = None
  hparam_end_index: Optional[int] = None
  max_allowed_runtime_sec: Optional[float] = None  # override of the workload's budget
  stop_on_targets: bool = True  # False: run the whole budget even once both targets are reached
  log_every_steps: int = 100

  def as_flags(self) -> Dict[str, Any]:
    return dict(dataclasses.asdict(self), framework=FRAMEWORK)


@jax.jit
def _all_finite(tree) -> jax.Array:
  leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)
            if jnp.issubdtype(jnp.asarray(x).dtype, jnp.inexact)]
  return jnp.all(jnp.stack(leaves)) if leaves else jnp.bool_(True)


def _block(tree) -> None:
  jax.tree_util.tree_map(lambda x: x.block_until_ready() if hasattr(x, 'block_until_ready') else x,
                         tree)


def experiment_path(config: RunConfig) -> Path:
  return layout.run_dir(config.experiment_dir, config.experiment_name, config.workload)


def train_once(workload, submission, hyperparameters, rng_seed: int, config: RunConfig,
               trial_dir: Path, progress=print) -> Dict[str, Any]:
  """One trial; returns a summary. Writes the trial's logs under ``trial_dir``."""
  logger = logs.TrialLogger(trial_dir)
  workload.attach_metrics_logger(logger)
  rng = jax.random.PRNGKey(rng_seed)
  rng, _ = jax.random.split(rng, 2)
  data_rng, opt_init_rng, model_init_rng, rng = jax.random.split(rng, 4)

  try:
    batch_size = batch_size_for(submission, workload.name, workload.name)
  except ValueError as e:
    raise BenchError(f'{config.submission_path}: get_batch_size({workload.name!r}) failed: {e}') from e
  input_queue = workload._build_input_queue(data_rng, 'train', global_batch_size=batch_size)
  params, model_state = workload.init_model_fn(model_init_rng)
  try:
    optimizer_state = submission.init_optimizer_state(
      workload, params, model_state, hyperparameters, opt_init_rng)
  except (ValueError, TypeError, FileNotFoundError) as e:
    raise BenchError(f'{config.submission_path}: init_optimizer_state failed: {e}') from e

  meta = {**logs.workload_properties(workload), **logs.hardware_info(), 'rng_seed': rng_seed,
          'batch_size': batch_size}
  logger.write_setup(hyperparameters, meta, config.as_flags())

  budget = workload.max_allowed_runtime_sec
  if config.tuning_ruleset == 'self':
    budget = 1.5 * budget
  pass_train_state = wants_train_state(submission.update_params)
  prepare_for_eval = getattr(submission, 'prepare_for_eval', None)
  train_state = {
    'validation_goal_reached': False, 'test_goal_reached': False, 'is_time_remaining': True,
    'last_eval_time': 0.0, 'training_complete': False, 'accumulated_submission_time': 0.0,
    'accumulated_eval_time': 0.0, 'accumulated_logging_time': 0.0, 'last_step_end_time': None,
  }
  eval_results: List = []
  global_step = 0
  diverged_reason = None
  start = time.perf_counter()
  train_state['last_step_end_time'] = start

  goals_reached = False
  while (train_state['is_time_remaining'] and not train_state['training_complete']
         and not (goals_reached and config.stop_on_targets)):
    step_rng = jax.random.fold_in(rng, global_step)
    select_rng, update_rng, prep_rng, eval_rng = jax.random.split(step_rng, 4)
    batch = submission.data_selection(workload, input_queue, optimizer_state, params, model_state,
                                      hyperparameters, global_step, select_rng)
    try:
      optimizer_state, params, model_state = submission.update_params(
        workload=workload, current_param_container=params,
        current_params_types=workload.model_params_types, model_state=model_state,
        hyperparameters=hyperparameters, batch=batch, loss_type=workload.loss_type,
        optimizer_state=optimizer_state, eval_results=eval_results, global_step=global_step,
        rng=update_rng,
        **({'train_state': MappingProxyType(train_state)} if pass_train_state else {}))
      _block(params)
    except spec.TrainingCompleteError:
      train_state['training_complete'] = True
    global_step += 1
    if config.max_global_steps is not None and global_step >= config.max_global_steps:
      train_state['training_complete'] = True
    step_end = time.perf_counter()
    train_state['accumulated_submission_time'] += step_end - train_state['last_step_end_time']

    if not bool(_all_finite(params)):
      diverged_reason = f'non-finite parameters after step {global_step}'
      train_state['training_complete'] = True

    if step_end - start - train_state['last_eval_time'] >= workload.eval_period_time_sec \
        or train_state['training_complete']:
      if prepare_for_eval is not None and diverged_reason is None:
        t0 = time.perf_counter()
        optimizer_state, params, model_state = prepare_for_eval(
          workload=workload, current_param_container=params,
          current_params_types=workload.model_params_types, model_state=model_state,
          hyperparameters=hyperparameters, loss_type=workload.loss_type,
          optimizer_state=optimizer_state, eval_results=eval_results, global_step=global_step,
          rng=prep_rng)
        _block(params)
        train_state['accumulated_submission_time'] += time.perf_counter() - t0
      train_state['is_time_remaining'] = train_state['accumulated_submission_time'] < budget
      if train_state['is_time_remaining'] or diverged_reason is not None:
        eval_start = time.perf_counter()
        result = workload.eval_model(workload.eval_batch_size, params, model_state, eval_rng,
                                     global_step=global_step)
        if diverged_reason is None and not all(
            math.isfinite(v) for k, v in result.items() if k.endswith('/loss')):
          diverged_reason = f'non-finite loss at the evaluation after step {global_step}'
          train_state['training_complete'] = True
        if diverged_reason is None:
          train_state['validation_goal_reached'] |= workload.has_reached_validation_target(result)
          train_state['test_goal_reached'] |= workload.has_reached_test_target(result)
          goals_reached = train_state['validation_goal_reached'] and train_state['test_goal_reached']
        eval_end = time.perf_counter()
        train_state['last_eval_time'] = eval_end - start
        train_state['accumulated_eval_time'] += eval_end - eval_start
        result.update({
          'score': train_state['accumulated_submission_time'],
          'accumulated_submission_time': train_state['accumulated_submission_time'],
          'accumulated_eval_time': train_state['accumulated_eval_time'],
          'accumulated_logging_time': train_state['accumulated_logging_time'],
          'total_duration': eval_end - start,
        })
        eval_results.append((global_step, result))
        log_start = time.perf_counter()
        logger.append_scalar_metrics(result, global_step, is_eval=True)
        metric = f'validation/{workload.target_metric_name}'
        progress(f'  step {global_step:6d}  time {train_state["accumulated_submission_time"]:7.2f}s'
                 f'  train/loss {result.get("train/loss", float("nan")):.4f}'
                 f'  {metric} {result.get(metric, float("nan")):.4f}')
        train_state['accumulated_logging_time'] += time.perf_counter() - log_start
    train_state['last_step_end_time'] = time.perf_counter()

  if diverged_reason is not None:
    logger.mark_diverged(global_step, diverged_reason)
    progress(f'  diverged: {diverged_reason}')
  logger.append_scalar_metrics({'score': train_state['accumulated_submission_time']}, global_step)
  summary = {
    'global_step': global_step, 'score': train_state['accumulated_submission_time'],
    'num_evals': len(eval_results), 'diverged': diverged_reason is not None,
    'validation_goal_reached': train_state['validation_goal_reached'],
    'test_goal_reached': train_state['test_goal_reached'],
    'training_complete': train_state['training_complete'],
    'is_time_remaining': train_state['is_time_remaining'],
  }
  logger.mark_complete(summary)
  return summary


def _trial_seed(config: RunConfig) -> int:
  """``--rng_seed`` if set (0 means unset, as in the official runner), else a fresh random one."""
  if config.rng_seed:
    return int(config.rng_seed)
  return struct.unpack('I', os.urandom(4))[0]


def prepare_experiment_dir(config: RunConfig) -> Path:
  path = experiment_path(config)
  if path.exists():
    if config.overwrite:
      shutil.rmtree(path)
    elif not config.resume_last_run:
      raise ExperimentExistsError(
        f'experiment directory {path} already exists: pass --overwrite to replace it or '
        f'--resume_last_run to keep its completed trials and rerun the others')
  path.mkdir(parents=True, exist_ok=True)
  return path


def run(config: RunConfig, progress=print) -> List[Dict[str, Any]]:
  """All trials of one workload, as ``submission_runner.py`` runs them; returns their summaries."""
  if config.tuning_ruleset not in ('external', 'self'):
    raise BenchError(f'--tuning_ruleset must be "external" or "self", got {config.tuning_ruleset!r}')
  workload = get_workload(config.workload)
  if config.max_allowed_runtime_sec is not None:
    if config.max_allowed_runtime_sec <= 0:
      raise BenchError('--max_allowed_runtime_sec must be positive')
    workload.max_allowed_runtime_sec = config.max_allowed_runtime_sec
  submission = load_submission(config.submission_path)
  if config.tuning_ruleset == 'external':
    if config.tuning_search_space is None:
      raise BenchError('--tuning_search_space is required under --tuning_ruleset=external')
    space = load_search_space(config.tuning_search_space)
    points = hyperparameter_points(space, config.num_tuning_trials, seed=config.rng_seed or 0)
  else:
    if config.tuning_search_space is not None:
      raise BenchError('--tuning_search_space cannot be given under --tuning_ruleset=self')
    points = [None]
  root = prepare_experiment_dir(config)
  seed = _trial_seed(config)
  if not config.rng_seed:
    logging.warning('--rng_seed unset or 0: using the random seed %d', seed)
  indices = list(range(len(points)))[config.hparam_start_index:config.hparam_end_index]
  summaries = []
  for k in indices:
    trial_dir = root / layout.trial_dir_name(k + 1)
    if layout.is_complete(trial_dir):
      progress(f'{config.workload} trial {k + 1}/{len(points)}: complete, skipped (--resume_last_run)')
      continue
    if trial_dir.exists():
      shutil.rmtree(trial_dir)  # an interrupted trial is rerun from scratch
    progress(f'{config.workload} trial {k + 1}/{len(points)} (seed {seed}) -> {trial_dir}')
    summary = train_once(workload, submission, points[k], seed, config, trial_dir, progress)
    progress(f'{config.workload} trial {k + 1}: {summary["global_step"]} steps, '
             f'{summary["score"]:.1f}s submission time'
             + (', DIVERGED' if summary['diverged'] else '')
             + (', reached validation target' if summary['validation_goal_reached'] else ''))
    summaries.append(summary)
  return summaries
