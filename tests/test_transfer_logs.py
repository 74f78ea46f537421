"""Measurements from AlgoPerf log trees built in tmp_path, and the transfer CLI reading them."""

import json

import pandas as pd
import pytest

from bench_core.errors import BenchError
from hardware_transfer import log_measurements, transfer
from hardware_transfer.arithmetic import Measurement


def write_trial(root, workload, trial, evals, meta=None, framework='jax', name='probe'):
  """``<root>/<name>/<workload>_<framework>/trial_<trial>/`` with eval rows (step, time)."""
  trial_dir = root / name / f'{workload}_{framework}' / f'trial_{trial}'
  trial_dir.mkdir(parents=True)
  rows = [
    {
      'accumulated_eval_time': 0.5 * i,
      'accumulated_logging_time': 0.0,
      'accumulated_submission_time': t,
      'global_step': s,
      'preemption_count': 0,
      'score': t,
      'validation/loss': 1.0 / (i + 1),
    }
    for i, (s, t) in enumerate(evals)
  ]
  pd.DataFrame(rows).to_csv(trial_dir / 'eval_measurements.csv', index=False)
  (trial_dir / 'meta_data_0.json').write_text(json.dumps(meta or {'rng_seed': 1}))
  (trial_dir / 'flags_0.json').write_text(json.dumps({'workload': workload}))
  return trial_dir


# evaluations: step 1 at 6.0 s (compilation), step 21 at 8.0 s, step 41 at 10.0 s, step 50 at 10.9 s
EVALS = [(1, 6.0), (21, 8.0), (41, 10.0), (50, 10.9)]


def test_without_skipping_the_last_evaluation_counts_from_zero(tmp_path):
  trial = write_trial(tmp_path, 'ogbg', 1, EVALS)
  assert log_measurements.measurement_from_trial(trial) == Measurement(50, 10.9)


def test_skipping_measures_between_first_eval_at_or_after_n_and_the_last(tmp_path):
  trial = write_trial(tmp_path, 'ogbg', 1, EVALS)
  # N=1: from step 1 (6.0 s) to step 50 (10.9 s): 49 steps, 4.9 s
  m = log_measurements.measurement_from_trial(trial, skip_steps=1)
  assert m.steps == 49 and m.runtime_sec == pytest.approx(4.9)
  # N=5: first eval at or after step 5 is step 21 (8.0 s): 29 steps, 2.9 s
  m = log_measurements.measurement_from_trial(trial, skip_steps=5)
  assert m.steps == 29 and m.runtime_sec == pytest.approx(2.9)
  # N=21: exactly step 21 counts as "at or after"
  assert log_measurements.measurement_from_trial(trial, skip_steps=21).steps == 29


def test_skipping_past_the_second_to_last_evaluation_is_an_error(tmp_path):
  trial = write_trial(tmp_path, 'ogbg', 1, EVALS)
  with pytest.raises(BenchError, match=r'eval_measurements.csv.*skip_steps=42'):
    log_measurements.measurement_from_trial(trial, skip_steps=42)


def test_missing_column_names_the_file_and_column(tmp_path):
  trial = write_trial(tmp_path, 'ogbg', 1, EVALS)
  pd.DataFrame({'global_step': [1, 2]}).to_csv(trial / 'eval_measurements.csv', index=False)
  with pytest.raises(
    BenchError, match='eval_measurements.csv: lacks column.*accumulated_submission_time'
  ):
    log_measurements.measurement_from_trial(trial)


def test_find_trials_by_workload_in_trial_order(tmp_path):
  for k in (10, 2, 1):
    write_trial(tmp_path, 'imagenet_resnet_mini', k, EVALS)
  write_trial(tmp_path, 'ogbg', 1, EVALS, framework='pytorch')
  (tmp_path / 'notes').mkdir()
  (tmp_path / 'notes' / 'eval_measurements.csv').write_text('x\n1\n')  # not in the layout
  found = log_measurements.find_trials(tmp_path)
  assert list(found) == ['imagenet_resnet_mini', 'ogbg']
  assert [p.name for p in found['imagenet_resnet_mini']] == ['trial_1', 'trial_2', 'trial_10']


def test_empty_directory_is_an_error(tmp_path):
  with pytest.raises(BenchError, match='no <workload>_<framework>/trial_<k>'):
    log_measurements.find_trials(tmp_path)


def test_measured_from_logs_pools_trials_and_reads_gpu_count(tmp_path):
  write_trial(tmp_path, 'ogbg', 1, [(1, 2.0), (101, 12.0)], meta={'gpu_count': 8})
  write_trial(tmp_path, 'ogbg', 2, [(1, 3.0), (101, 14.0)])
  write_trial(tmp_path, 'imagenet_resnet_mini', 1, EVALS, meta={'hardware.device_count': 2})
  measured = log_measurements.measured_from_logs(tmp_path, skip_steps=1)
  # ogbg: (100 steps, 10 s) + (100 steps, 11 s) = 200 steps, 21 s; gpus from trial 1's meta data
  assert measured['ogbg']['steps'] == 200
  assert measured['ogbg']['runtime_sec'] == pytest.approx(21.0)
  assert measured['ogbg']['num_gpus'] == 8
  assert measured['imagenet_resnet_mini']['num_gpus'] == 2
  assert log_measurements.measured_from_logs(tmp_path, num_gpus=4)['ogbg']['num_gpus'] == 4


def test_probes_from_logs_one_probe_per_trial(tmp_path):
  write_trial(tmp_path / 'a', 'ogbg', 1, [(1, 2.0), (101, 12.0)])
  write_trial(tmp_path / 'b', 'ogbg', 1, [(1, 1.0), (201, 24.0)])
  probes = log_measurements.probes_from_logs([tmp_path / 'a', tmp_path / 'b'], skip_steps=1)
  assert [p.steps for p in probes['ogbg']] == [100, 200]
  assert [p.runtime_sec for p in probes['ogbg']] == pytest.approx([10.0, 23.0])


def test_transfer_cli_from_logs(tmp_path, capsys):
  # 100 steps in 11.5 s after step 1 -> 0.115 s/step; ogbg budget 0.115 * 80000 = 9200 s
  write_trial(tmp_path / 'logs', 'ogbg', 1, [(1, 5.0), (51, 10.75), (101, 16.5)])
  out = tmp_path / 'budgets.json'
  assert (
    transfer.main(
      ['--measured_logs', str(tmp_path / 'logs'), '--skip_steps', '1', '--out', str(out)]
    )
    == 0
  )
  budgets = json.loads(out.read_text())
  assert budgets['ogbg']['max_allowed_runtime_sec'] == 9200
  assert budgets['ogbg']['local_time_per_step'] == pytest.approx(0.115)
  assert budgets['ogbg']['num_gpus'] == 1
  assert '9200' in capsys.readouterr().out


def test_step_prompt_cli_from_probe_logs(tmp_path):
  from hardware_transfer import step_prompt

  # two VeLO probes after step 1: 100 steps in 12 s and 200 steps in 23 s
  write_trial(tmp_path / 'p1', 'ogbg', 1, [(1, 4.0), (101, 16.0)])
  write_trial(tmp_path / 'p2', 'ogbg', 1, [(1, 3.0), (201, 26.0)])
  (tmp_path / 'b.json').write_text(json.dumps({'ogbg': {'max_allowed_runtime_sec': 9200}}))
  out = tmp_path / 'spaces'
  assert (
    step_prompt.main(
      [
        '--budgets',
        str(tmp_path / 'b.json'),
        '--probe_logs',
        str(tmp_path / 'p1'),
        str(tmp_path / 'p2'),
        '--skip_steps',
        '1',
        '--out_dir',
        str(out),
      ]
    )
    == 0
  )
  # estimates 76666 and 80000 -> 78333; velo_short 58749
  velo = json.loads((out / 'velo' / 'ogbg.json').read_text())
  short = json.loads((out / 'velo_short' / 'ogbg.json').read_text())
  assert velo == {'total_steps': {'feasible_points': [78_333]}}
  assert short == {'total_steps': {'feasible_points': [58_749]}}
