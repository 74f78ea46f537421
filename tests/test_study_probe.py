"""The probe command: step count, the trial it runs, and the measurement file it writes."""

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from bench_core import cli, file_formats
from bench_core.file_formats import Measured, Measurement
from study import probe, runners

REPO = Path(__file__).resolve().parents[1]


def test_probe_steps_is_the_ceiling_of_the_fraction():
  assert probe.probe_steps(0.05, 800) == 40  # 40 exactly
  assert probe.probe_steps(0.05, 10_667) == 534  # 533.35 -> 534
  assert probe.probe_steps(0.1, 30) == 3  # in floats 3.0000000000000004 -> 4
  assert probe.probe_steps(0.05, 186_667) == 9334  # 9333.35 -> 9334


def test_full_steps_are_step_hint_for_embedded_and_reference_for_official():
  assert probe.full_steps_of('imagenet_resnet_mini', None) == 800
  assert probe.full_steps_of('criteo1tb', None) == 10_667


def fake_runner(calls):
  """Stands in for the launched run: logs evaluations at steps 1 and the probe's step budget."""

  def call(command):
    [option] = [a for a in command if a.startswith('--run_config=')]
    config = file_formats.load_run_config(option.split('=', 1)[1])
    calls.append((command, config))
    steps = config.max_global_steps
    trial = config.trial_dir
    trial.mkdir(parents=True)
    # step 1 at 5 s (compilation); the remaining steps at 0.25 s each
    last_time = 5.0 + 0.25 * (steps - 1)
    pd.DataFrame(
      {
        'global_step': [1, steps],
        'accumulated_submission_time': [5.0, last_time],
        'score': [5.0, last_time],
      }
    ).to_csv(trial / 'eval_measurements.csv', index=False)
    (trial / 'meta_data_0.json').write_text(json.dumps({'hardware.device_count': 1}))
    return 0

  return call


def test_probe_runs_the_fraction_and_merges_the_measurement(tmp_path, monkeypatch, capsys):
  calls = []
  monkeypatch.setattr(probe.subprocess, 'call', fake_runner(calls))
  out = tmp_path / 'measured.json'
  out.write_text(json.dumps({'ogbg': {'steps': 1, 'runtime_sec': 1, 'num_gpus': 8}}))
  argv = [
    '--opt',
    'heavy_ball',
    '--workload',
    'imagenet_resnet_mini',
    '--fraction',
    '0.05',
    '--out',
    str(out),
    '--experiment_dir',
    str(tmp_path / 'exp'),
  ]
  assert cli.run_main(probe.main, argv) == 0
  # ceil(0.05 * 800) = 40 steps as a step-control trial; skip_steps=1: 39 steps in 9.75 s
  ((command, config),) = calls
  assert command[1:3] == ['-m', 'local_runner']  # an embedded workload: the local runner
  assert (config.condition, config.max_global_steps, config.overwrite) == ('step', 40, True)
  assert config.submission_path == f'{REPO}/submissions/heavy_ball/submission.py'
  assert config.tuning_search_space == f'{REPO}/tuning_search_spaces/heavy_ball.json'
  measured = file_formats.load_measurements(out)
  assert json.loads(out.read_text())['kind'] == file_formats.MEASUREMENTS
  assert measured['ogbg'] == Measured(Measurement(1, 1), 8)  # kept from the older file
  assert measured['imagenet_resnet_mini'] == Measured(Measurement(39, 9.75), 1)


def test_probe_as_probe_appends_to_the_probe_list(tmp_path, monkeypatch):
  monkeypatch.setattr(probe.subprocess, 'call', fake_runner([]))
  out = tmp_path / 'probes.json'
  for steps in ('11', '21'):
    argv = [
      '--opt',
      'velo',
      '--tuning_search_space',
      'tuning_search_spaces/velo/ogbg_mini.json',
      '--workload',
      'imagenet_resnet_mini',
      '--steps',
      steps,
      '--as_probe',
      '--out',
      str(out),
      '--experiment_dir',
      str(tmp_path / f'exp{steps}'),
    ]
    assert cli.run_main(probe.main, argv) == 0
  # 10 steps in 2.5 s, then 20 steps in 5 s
  assert json.loads(out.read_text())['kind'] == file_formats.VELO_PROBES
  assert file_formats.load_velo_probes(out) == {
    'imagenet_resnet_mini': [Measurement(10, 2.5), Measurement(20, 5.0)]
  }


def test_probe_too_short_for_skip_steps(tmp_path, capsys):
  rc = cli.run_main(
    probe.main,
    [
      '--opt',
      'adam',
      '--workload',
      'imagenet_resnet_mini',
      '--steps',
      '1',
      '--out',
      str(tmp_path / 'm.json'),
    ],
  )
  assert rc != 0 and 'not more than --skip_steps=1' in capsys.readouterr().err


def test_official_workload_without_algoperf_says_how_to_install(tmp_path, capsys, monkeypatch):
  monkeypatch.setattr(runners, 'official_runner_importable', lambda: False)
  monkeypatch.setattr(runners, 'ALGOPERF_VENV', tmp_path / 'no-venv')
  monkeypatch.delenv('ALGOPERF_PYTHON', raising=False)
  rc = cli.run_main(
    probe.main,
    [
      '--opt',
      'nesterov',
      '--workload',
      'criteo1tb',
      '--out',
      str(tmp_path / 'm.json'),
      '--experiment_dir',
      str(tmp_path / 'exp'),
    ],
  )
  err = capsys.readouterr().err
  assert rc != 0
  assert 'make install-algoperf' in err and "'criteo1tb_mini'" in err
  assert not (tmp_path / 'm.json').exists()


@pytest.mark.slow
def test_probe_on_the_local_runner(tmp_path):
  out = tmp_path / 'measured.json'
  argv = [
    '--opt',
    'heavy_ball',
    '--workload',
    'imagenet_resnet_mini',
    '--fraction',
    '0.05',
    '--out',
    str(out),
    '--experiment_dir',
    str(tmp_path / 'exp'),
  ]
  assert cli.run_main(probe.main, argv) == 0
  entry = file_formats.load_measurements(out)['imagenet_resnet_mini'].measurement
  assert entry.steps == 39  # 40 steps, step 1 skipped
  assert 0 < entry.runtime_sec < 60 and math.isfinite(entry.runtime_sec)
