"""The resumable sweep: plan, commands, seeds, kill -9 and resume."""

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from conftest import REPO

from bench_core import layout
from bench_core.errors import BenchError
from local_runner.evaluation_rule import default_eval_every_steps
from study import budgets, sweep


def test_plan_gives_every_combination_once_with_per_study_seeds(tmp_path):
  trials = sweep.plan(
    ['adam', 'nesterov'], ['imagenet_resnet_mini'], 3, ['time', 'step'], 10, tmp_path
  )
  assert len(trials) == len(set(trials)) == 12
  assert {(t.study, t.seed) for t in trials} == {(1, 11), (2, 12), (3, 13)}
  with pytest.raises(BenchError, match='unknown condition'):
    sweep.plan(['adam'], ['imagenet_resnet_mini'], 1, ['wall'], 0, tmp_path)
  with pytest.raises(BenchError, match="unknown workload 'nosuch_mini'"):
    sweep.plan(['adam'], ['nosuch_mini'], 1, ['time'], 0, tmp_path)


def test_trial_configurations_per_condition(tmp_path):
  time_trial, step_trial = sweep.plan(
    ['adam'], ['imagenet_resnet_mini'], 1, ['time', 'step'], 0, tmp_path
  )
  assert time_trial.command() == [  # an embedded trial: the local runner reads the file
    sys.executable,
    '-m',
    'local_runner',
    f'--run_config={tmp_path}/time/adam/study_1/imagenet_resnet_mini_jax_run_config.json',
  ]
  config = time_trial.run_config()
  assert (config.condition, config.runner, config.stop_on_targets) == ('time', 'local', False)
  assert config.experiment_dir == f'{tmp_path}/time/adam' and config.experiment_name == 'study_1'
  assert config.submission_path == f'{REPO}/submissions/adam/submission.py'
  assert config.max_allowed_runtime_sec == 20 and config.eval_every_steps is None  # its own
  step = step_trial.run_config()
  assert step.condition == 'step' and step.max_allowed_runtime_sec == budgets.NO_TIME_LIMIT_SEC
  assert step.eval_every_steps == default_eval_every_steps(step.max_global_steps)
  # step-control trials of one algorithm share compiled programs; time-control ones never
  assert step.compilation_cache_dir == str(tmp_path / 'step' / 'adam' / '.jax_compilation_cache')
  assert config.compilation_cache_dir is None
  path = tmp_path / 'b.json'
  path.write_text(json.dumps({'imagenet_resnet_mini': {'max_allowed_runtime_sec': 7}}))
  with_budgets = sweep.plan(
    ['adam'], ['imagenet_resnet_mini'], 1, ['time'], 0, tmp_path, budgets=str(path)
  )[0]
  assert with_budgets.run_config().max_allowed_runtime_sec == 7
  with pytest.raises(BenchError, match='no submission'):
    sweep.plan(['nope'], ['imagenet_resnet_mini'], 1, ['time'], 0, tmp_path)[0].run_config()


def test_sweep_killed_midway_resumes_and_the_report_renders(tmp_path):
  # Step control with 40-step budgets: short trials whose length does not depend on the load.
  exp, steps = tmp_path / 'exp', tmp_path / 'steps.json'
  steps.write_text(json.dumps({'imagenet_resnet_mini': 40}))
  cmd = [
    sys.executable,
    '-m',
    'study.sweep',
    '--algorithms',
    'adam',
    'heavy_ball',
    '--workloads',
    'imagenet_resnet_mini',
    '--studies',
    '2',
    '--conditions',
    'step',
    '--experiment_dir',
    str(exp),
    '--step_budgets',
    str(steps),
  ]
  proc = subprocess.Popen(
    cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
  )
  deadline = time.monotonic() + 240
  while not list(exp.glob('step/*/*/*/trial_1/trial_complete.json')):
    assert time.monotonic() < deadline and proc.poll() is None, 'no trial finished'
    time.sleep(0.5)
  while not list(exp.glob('step/heavy_ball/study_1/*/trial_1/meta_data_0.json')):
    assert time.monotonic() < deadline and proc.poll() is None
    time.sleep(0.2)
  os.killpg(proc.pid, signal.SIGKILL)  # the sweep and the trial it was running
  proc.wait()
  done_before = sorted(exp.glob('step/*/*/*/trial_1/trial_complete.json'))
  first = done_before[0].parent / 'eval_measurements.csv'
  first_bytes = first.read_bytes()
  assert len(done_before) < 4

  result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stdout + result.stderr
  assert f'{len(done_before)} already complete' in result.stdout
  assert first.read_bytes() == first_bytes  # finished trials are not rerun
  trials = sorted(exp.glob('step/*/study_*/imagenet_resnet_mini_jax/trial_*'))
  assert [t.relative_to(exp).as_posix() for t in trials] == [
    f'step/{a}/study_{s}/imagenet_resnet_mini_jax/trial_1'
    for a in ('adam', 'heavy_ball')
    for s in (1, 2)
  ]
  for trial in trials:
    assert (trial / 'trial_complete.json').is_file()
    seed = json.loads((trial / 'meta_data_0.json').read_text())['rng_seed']
    assert seed == int(trial.parent.parent.name.split('_')[1])
    steps_logged = pd.read_csv(trial / 'eval_measurements.csv')['global_step']
    assert steps_logged.is_monotonic_increasing and steps_logged.iloc[-1] == 40
  for algorithm in ('adam', 'heavy_ball'):  # the programs the second study read, not compiled
    assert any(layout.compilation_cache_dir(exp / 'step' / algorithm).iterdir())

  out = tmp_path / 'report'
  report = subprocess.run(
    [
      sys.executable,
      '-m',
      'scoring_ext.report',
      '--experiment_dir',
      str(exp / 'step'),
      '--condition',
      'step',
      '--out',
      str(out),
    ],
    cwd=REPO,
    capture_output=True,
    text=True,
  )
  assert report.returncode == 0, report.stderr
  for name in (
    'audit.md',
    'report.md',
    'scores.csv',
    'time_to_target.csv',
    'quality.csv',
    'performance_profile_validation.png',
  ):
    assert (out / name).stat().st_size > 0, name
  assert 'heavy_ball' in (out / 'scores.csv').read_text()
