"""Measurements from AlgoPerf log trees built in tmp_path, and the transfer CLI reading them."""

import json
import re

import pandas as pd
import pytest

from bench_core import cli
from bench_core.errors import BenchError
from hardware_transfer import log_measurements, step_prompt, transfer
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
  assert measured['ogbg'].measurement.steps == 200
  assert measured['ogbg'].measurement.runtime_sec == pytest.approx(21.0)
  assert measured['ogbg'].num_gpus == 8
  assert measured['imagenet_resnet_mini'].num_gpus == 2
  assert log_measurements.measured_from_logs(tmp_path, num_gpus=4)['ogbg'].num_gpus == 4


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


# ---- issue 22: probes of different algorithms, damaged probe logs --------------------------------


def probe(root, algorithm, trial, evals):
  """A probe trial of ``algorithm`` (its submission_path recorded in flags_0.json)."""
  trial_dir = write_trial(root / algorithm, 'ogbg_mini', trial, evals)
  (trial_dir / 'flags_0.json').write_text(
    json.dumps(
      {'workload': 'ogbg_mini', 'submission_path': f'submissions/{algorithm}/submission.py'}
    )
  )
  return trial_dir


def test_probes_of_different_algorithms_are_not_pooled(tmp_path):
  # two VeLO probes at 0.01157 s/step and a nesterov probe at 0.01994 s/step: pooled, the
  # three gave 0.01436 s/step (issue 22)
  probe(tmp_path, 'velo', 1, [(1, 5.0), (101, 6.157)])
  probe(tmp_path, 'velo', 2, [(1, 5.0), (101, 6.157)])
  probe(tmp_path, 'nesterov', 1, [(1, 5.0), (101, 6.994)])
  with pytest.raises(
    BenchError, match=r'ogbg_mini: the probe trials ran different algorithms'
  ) as e:
    log_measurements.measured_from_logs(tmp_path, skip_steps=1)
  assert 'nesterov: ' in str(e.value) and 'velo: ' in str(e.value)
  with pytest.raises(BenchError, match='different algorithms'):
    log_measurements.probes_from_logs([tmp_path / 'velo', tmp_path / 'nesterov'], skip_steps=1)
  velo = log_measurements.measured_from_logs(tmp_path / 'velo', skip_steps=1)['ogbg_mini']
  assert velo.measurement.runtime_sec / velo.measurement.steps == pytest.approx(0.01157)
  assert log_measurements.algorithm_of_trial(tmp_path / 'velo') == ''
  # the transfer: refused on the mixed folder, nothing written; VeLO's own probes give
  # floor(20 s x 0.01157 / (20 / 1431)) = 16 s (pooled, the three gave 20 s)
  out = tmp_path / 'budgets.json'
  argv = ['--measured_logs', str(tmp_path), '--skip_steps', '1', '--out', str(out)]
  assert cli.run_main(transfer.main, argv) == 2 and not out.exists()
  argv[1] = str(tmp_path / 'velo')
  assert cli.run_main(transfer.main, argv) == 0
  assert json.loads(out.read_text())['ogbg_mini']['max_allowed_runtime_sec'] == 16


@pytest.mark.parametrize(
  'text, message',
  [
    (  # the last row cut off mid-write
      'accumulated_submission_time,global_step\n5.0,1\n6.1,101\n7.2',
      ':4: the last row is cut off',
    ),
    ('accumulated_submission_time,global_step\n5.0,1\nnan,101\n', 'is empty or not a finite'),
    ('accumulated_submission_time,global_step\n5.0,1\n4.0,101\n', 'goes back as the steps go'),
    ('accumulated_submission_time,global_step\n5.0,1\n1e308,101\n', 'implausibly large'),
    ('accumulated_submission_time,global_step\n-5.0,1\n1.0,101\n', 'is negative'),
    ('accumulated_submission_time,global_step\n5.0,101\n6.0,101\n', 'is repeated'),
  ],
)
def test_a_damaged_probe_log_is_refused_by_name(tmp_path, text, message):
  trial = write_trial(tmp_path, 'ogbg', 1, EVALS)
  (trial / 'eval_measurements.csv').write_text(text)
  with pytest.raises(BenchError, match=re.escape(message)) as e:
    log_measurements.measurement_from_trial(trial)
  assert str(trial / 'eval_measurements.csv') in str(e.value)


def test_transfer_refuses_a_zero_budget_or_an_implausible_factor_before_writing(tmp_path, capsys):
  reference = tmp_path / 'reference.json'
  reference.write_text(
    json.dumps({'ogbg': {'algorithm': 'nadamw', 'steps': 100, 'runtime_sec': 1}})
  )
  out = tmp_path / 'budgets.json'
  cases = [
    ({'steps': 1000, 'runtime_sec': 0.5}, 'gives a budget of 0 s'),  # 0.0005 s/step x 100 steps
    ({'steps': 1, 'runtime_sec': 5000}, 'outside the plausible range'),  # factor 500000
  ]
  for entry, message in cases:
    measured = tmp_path / 'measured.json'
    measured.write_text(json.dumps({'ogbg': {**entry, 'num_gpus': 1}}))
    argv = ['--measured', str(measured), '--reference', str(reference), '--out', str(out)]
    assert cli.run_main(transfer.main, argv) == 2
    err = capsys.readouterr().err
    assert message in err and "workload 'ogbg'" in err and 'nothing written' in err
    assert not out.exists()


def test_step_prompt_refuses_a_zero_prompt_before_writing(tmp_path, capsys):
  budgets = tmp_path / 'b.json'
  budgets.write_text(json.dumps({'ogbg': {'max_allowed_runtime_sec': 1}}))
  probes = tmp_path / 'p.json'
  probes.write_text(json.dumps({'ogbg': [{'steps': 10, 'runtime_sec': 20.0}]}))  # 2 s/step
  out = tmp_path / 'spaces'
  argv = ['--budgets', str(budgets), '--probes', str(probes), '--out_dir', str(out)]
  assert cli.run_main(step_prompt.main, argv) == 2
  err = capsys.readouterr().err
  assert "workload 'ogbg': VeLO prompt 0 (velo_short 0)" in err and 'nothing written' in err
  assert not out.exists()
