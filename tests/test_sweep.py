"""The resumable sweep: layout, seeds, kill -9 and resume, SLURM array script."""

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from conftest import REPO
from local_runner import sweep
from local_runner.errors import RunnerError


def test_plan_gives_every_combination_once_with_per_study_seeds():
  trials = sweep.plan(['adam', 'nesterov'], ['imagenet_resnet_mini'], 3, ['time', 'step'], 10)
  assert len(trials) == len(set(trials)) == 12
  assert {(t.study, t.seed) for t in trials} == {(1, 11), (2, 12), (3, 13)}
  with pytest.raises(RunnerError, match='unknown condition'):
    sweep.plan(['adam'], ['w'], 1, ['wall'], 0)


def test_trial_commands_per_condition(tmp_path):
  time_trial, step_trial = sweep.plan(['adam'], ['imagenet_resnet_mini'], 1, ['time', 'step'], 0)
  cmd = sweep.trial_command(time_trial, tmp_path)
  assert cmd[1:3] == ['-m', 'local_runner'] and '--nostop_on_targets' in cmd
  assert f'--experiment_dir={tmp_path}/time/adam' in cmd and '--experiment_name=study_1' in cmd
  cmd = sweep.trial_command(step_trial, tmp_path)
  assert cmd[1:5] == ['-m', 'hardware_transfer.launch', '--condition', 'step']
  cmd = sweep.trial_command(time_trial, tmp_path, budgets='b.json')
  assert cmd[3:5] == ['--budgets', 'b.json']
  with pytest.raises(RunnerError, match='no submission'):
    sweep.trial_command(sweep.Trial('time', 'nope', 'imagenet_resnet_mini', 1, 1), tmp_path)


def test_slurm_array_maps_each_index_to_exactly_one_trial(tmp_path):
  trials = sweep.plan(['adam', 'heavy_ball'], ['imagenet_resnet_mini', 'criteo1tb'], 2,
                      ['time', 'step'], 0)
  script = tmp_path / 'sweep.sbatch'
  commands = sweep.write_slurm(script, trials, tmp_path / 'exp', 'budgets.json', partition='gpu',
                               gpus=2, time_limit='10:00:00', setup='source .venv/bin/activate')
  text = script.read_text()
  assert f'#SBATCH --array=0-{len(trials) - 1}' in text
  assert '#SBATCH --partition=gpu' in text and '#SBATCH --gpus-per-task=2' in text
  assert 'source .venv/bin/activate' in text and 'SLURM_ARRAY_TASK_ID + 1' in text
  lines = commands.read_text().splitlines()
  assert len(lines) == len(trials)
  for trial, line in zip(trials, lines):  # array index i runs line i + 1: trial i
    assert f'--experiment_name=study_{trial.study}' in line
    assert f'--workload={trial.workload}' in line and f'/{trial.condition}/{trial.algorithm}' in line
    assert '--resume_last_run' in line
  official_time = [line for t, line in zip(trials, lines)
                   if t.workload == 'criteo1tb' and t.condition == 'time']
  assert all('hardware_transfer.launch --budgets budgets.json' in line for line in official_time)


def test_sweep_killed_midway_resumes_and_the_report_renders(tmp_path):
  # Step control with 40-step budgets: short trials whose length does not depend on the load.
  exp, steps = tmp_path / 'exp', tmp_path / 'steps.json'
  steps.write_text(json.dumps({'imagenet_resnet_mini': 40}))
  cmd = [sys.executable, '-m', 'local_runner.sweep', '--algorithms', 'adam', 'heavy_ball',
         '--workloads', 'imagenet_resnet_mini', '--studies', '2', '--conditions', 'step',
         '--experiment_dir', str(exp), '--step_budgets', str(steps)]
  proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          start_new_session=True)
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
    for a in ('adam', 'heavy_ball') for s in (1, 2)]
  for trial in trials:
    assert (trial / 'trial_complete.json').is_file()
    seed = json.loads((trial / 'meta_data_0.json').read_text())['rng_seed']
    assert seed == int(trial.parent.parent.name.split('_')[1])
    steps_logged = pd.read_csv(trial / 'eval_measurements.csv')['global_step']
    assert steps_logged.is_monotonic_increasing and steps_logged.iloc[-1] == 40

  out = tmp_path / 'report'
  report = subprocess.run([sys.executable, '-m', 'scoring_ext.report', '--experiment_dir',
                           str(exp / 'step'), '--condition', 'step', '--out', str(out)],
                          cwd=REPO, capture_output=True, text=True)
  assert report.returncode == 0, report.stderr
  for name in ('audit.md', 'report.md', 'scores.csv', 'time_to_target.csv', 'quality.csv',
               'performance_profile_validation.png'):
    assert (out / name).stat().st_size > 0, name
  assert 'heavy_ball' in (out / 'scores.csv').read_text()
