"""Build experiment trees in AlgoPerf's log layout for the scoring tests.

``<root>/<algorithm>/<study>/<workload>_<framework>/trial_<k>/`` with
eval_measurements.csv (alphabetical columns, as the runners write them),
meta_data_0.json, flags_0.json, hparams.json, measurements.csv, and
optionally diverged.json / trial_complete.json.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd

METRIC_OF = {
  'criteo1tb': 'loss',
  'fastmri': 'ssim',
  'imagenet_resnet': 'accuracy',
  'ogbg': 'mean_average_precision',
}


def family(workload: str) -> str:
  return workload[: -len('_mini')] if workload.endswith('_mini') else workload


def write_trial(
  root,
  algorithm,
  study,
  workload,
  *,
  steps,
  train,
  validation,
  times=None,
  metric=None,
  trial=1,
  framework='jax',
  runtime=1000.0,
  step_hint=100,
  max_global_steps=None,
  validation_target=0.5,
  test_target=0.5,
  diverged_step=None,
  complete=True,
  train_loss=None,
  validation_loss=None,
  drop_columns=(),
  write_meta=True,
  record=None,
):
  """One trial directory; `train`/`validation` are the target-metric values per evaluation;
  `record` adds fields to trial_complete.json."""
  metric = metric or METRIC_OF[family(workload)]
  steps = np.asarray(steps, dtype=float)
  times = steps * 10.0 if times is None else np.asarray(times, dtype=float)
  n = len(steps)
  columns = {
    'accumulated_eval_time': np.arange(n) * 0.5,
    'accumulated_logging_time': np.arange(n) * 0.1,
    'accumulated_submission_time': times,
    'global_step': steps.astype(int),
    'preemption_count': np.zeros(n, dtype=int),
    'score': times,
    'total_duration': times + np.arange(n) * 0.6,
    f'train/{metric}': np.asarray(train, dtype=float),
    f'validation/{metric}': np.asarray(validation, dtype=float),
    'validation/num_examples': np.full(n, 1000),
    f'test/{metric}': np.asarray(validation, dtype=float),
  }
  if metric != 'loss':
    columns['train/loss'] = (
      np.linspace(1.0, 0.5, n) if train_loss is None else np.asarray(train_loss, dtype=float)
    )
    columns['validation/loss'] = (
      np.linspace(1.1, 0.6, n)
      if validation_loss is None
      else np.asarray(validation_loss, dtype=float)
    )
  for column in drop_columns:
    columns.pop(column)
  frame = pd.DataFrame(columns)
  frame = frame[sorted(frame.columns)]
  path = os.path.join(str(root), algorithm, study, f'{workload}_{framework}', f'trial_{trial}')
  os.makedirs(path, exist_ok=True)
  frame.to_csv(os.path.join(path, 'eval_measurements.csv'), index=False)
  if write_meta:
    meta = {
      'workload.max_allowed_runtime_sec': runtime,
      'workload.step_hint': step_hint,
      'workload.target_metric_name': metric,
      'workload.validation_target_value': validation_target,
      'workload.test_target_value': test_target,
      'rng_seed': 1,
    }
    _dump(path, 'meta_data_0.json', meta)
    _dump(
      path,
      'flags_0.json',
      {
        'max_global_steps': max_global_steps,
        'workload': workload,
        'framework': framework,
        'tuning_ruleset': 'external',
      },
    )
  _dump(path, 'hparams.json', {'learning_rate': 0.01})
  pd.DataFrame({'global_step': steps.astype(int), 'loss': np.ones(n)}).to_csv(
    os.path.join(path, 'measurements.csv'), index=False
  )
  if diverged_step is not None:
    _dump(path, 'diverged.json', {'global_step': diverged_step, 'reason': 'loss is NaN'})
  if complete:
    _dump(
      path, 'trial_complete.json', {'global_step': int(steps[-1]) if n else 0, **(record or {})}
    )
  return path


def _dump(path, name, data):
  with open(os.path.join(path, name), 'w') as f:
    json.dump(data, f)


def generate_tree(
  root, n_algorithms=7, workloads=None, n_studies=5, n_evals=2000, seed=0, complete=True
):
  """A synthetic experiment: every algorithm x workload x study, one trial each,
  metric curves approaching a per-algorithm plateau with noise."""
  rng = np.random.default_rng(seed)
  workloads = workloads or [f'{f}{suffix}' for suffix in ('', '_mini') for f in METRIC_OF]
  algorithms = ['adam', 'nadamw', 'nadam', 'heavy_ball', 'nesterov', 'velo', 'velo_short']
  algorithms = (algorithms + [f'algo{i}' for i in range(n_algorithms)])[:n_algorithms]
  steps = np.linspace(0, 10_000, n_evals)
  progress = steps / steps[-1]
  for a, algorithm in enumerate(algorithms):
    for workload in workloads:
      minimised = METRIC_OF[family(workload)] == 'loss'
      for s in range(n_studies):
        speed = 2.0 + a * 0.7 + rng.uniform(0, 0.5)
        curve = 1.0 - np.exp(-speed * progress)
        noise = rng.normal(0, 0.002, size=(2, n_evals))
        train = (1.0 - 0.9 * curve if minimised else 0.9 * curve) + noise[0]
        valid = (1.1 - 0.85 * curve if minimised else 0.85 * curve) + noise[1]
        write_trial(
          root,
          algorithm,
          f'study_{s}',
          workload,
          steps=steps,
          train=train,
          validation=valid,
          times=steps * 0.5,
          runtime=5_000.0,
          step_hint=10_000,
          max_global_steps=10_000,
          complete=complete,
        )
  return algorithms, workloads
