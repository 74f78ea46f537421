"""The local runner: log layout, timing and stop rules, train_state, divergence, errors."""

import json
import subprocess
import sys

import pandas as pd
import probe_log
import pytest
from conftest import FIXTURES, REPO

from bench_core.errors import BenchError
from local_runner.runner import RunConfig, run

PROBE = str(FIXTURES / 'probe_submission.py')


def probe_space(tmp_path, points):
  path = tmp_path / 'space.json'
  full = [{'learning_rate': 0.1, 'finish_at': -1, 'sleep': 0.0, 'blow_up_at': -1, **p}
          for p in points]
  path.write_text(json.dumps(full))
  return str(path)


def run_probe(tmp_path, workload, points=({},), **kw):
  probe_log.SEEN_TRAIN_STATES.clear()
  probe_log.SEEN_STEPS.clear()
  config = RunConfig(workload=workload, submission_path=PROBE,
                     tuning_search_space=probe_space(tmp_path, points),
                     experiment_dir=str(tmp_path / 'exp'), experiment_name='e', rng_seed=3,
                     num_tuning_trials=len(points), **kw)
  summaries = run(config, progress=lambda m: None)
  return summaries, tmp_path / 'exp' / 'e' / f'{workload}_jax'


def evals(trial_dir):
  return pd.read_csv(trial_dir / 'eval_measurements.csv')


def test_adam_on_imagenet_resnet_mini_reaches_target_and_writes_algoperf_layout(tmp_path):
  config = RunConfig(workload='imagenet_resnet_mini',
                     submission_path=str(REPO / 'submissions/adam/submission.py'),
                     tuning_search_space=str(REPO / 'tuning_search_spaces/adam.json'),
                     experiment_dir=str(tmp_path), experiment_name='x', rng_seed=1)
  [summary] = run(config, progress=lambda m: None)
  trial = tmp_path / 'x' / 'imagenet_resnet_mini_jax' / 'trial_1'
  for name in ('eval_measurements.csv', 'measurements.csv', 'hparams.json', 'meta_data_0.json',
               'flags_0.json', 'trial_complete.json'):
    assert (trial / name).is_file(), name
  df = evals(trial)
  assert list(df.columns) == sorted(df.columns)
  for col in ('accumulated_eval_time', 'accumulated_logging_time', 'accumulated_submission_time',
              'global_step', 'preemption_count', 'score', 'total_duration', 'train/loss',
              'train/accuracy', 'validation/loss', 'validation/accuracy', 'test/loss',
              'test/accuracy', 'validation/num_examples'):
    assert col in df.columns, col
  assert (df['score'] == df['accumulated_submission_time']).all()
  assert df['global_step'].is_monotonic_increasing and df['score'].is_monotonic_increasing
  assert df['global_step'].iloc[0] == 1  # first evaluation right after step 1
  # Stopped because both targets were reached, at the first evaluation reaching them.
  assert summary['validation_goal_reached'] and summary['test_goal_reached']
  assert df['validation/accuracy'].iloc[-1] >= 0.97 and df['test/accuracy'].iloc[-1] >= 0.965
  assert not ((df['validation/accuracy'].iloc[:-1] >= 0.97)
              & (df['test/accuracy'].iloc[:-1] >= 0.965)).any()
  meta = json.loads((trial / 'meta_data_0.json').read_text())
  assert meta['workload.max_allowed_runtime_sec'] == 20 and meta['rng_seed'] == 1
  assert meta['workload.target_metric_name'] == 'accuracy'
  assert json.loads((trial / 'hparams.json').read_text())['learning_rate'] == 0.005
  assert json.loads((trial / 'flags_0.json').read_text())['workload'] == 'imagenet_resnet_mini'


def test_max_global_steps_stops_with_a_final_evaluation(tmp_path, tiny_workload):
  [summary], root = run_probe(tmp_path, tiny_workload, max_global_steps=7)
  df = evals(root / 'trial_1')
  assert summary['global_step'] == 7 and probe_log.SEEN_STEPS == list(range(7))
  assert df['global_step'].iloc[0] == 1 and df['global_step'].iloc[-1] == 7


def test_eval_cadence_follows_eval_period(tmp_path, tiny_workload):
  [summary], root = run_probe(tmp_path, tiny_workload, [{'sleep': 0.02}], max_global_steps=60)
  df = evals(root / 'trial_1')
  # Steps of 20 ms and a 0.2 s period: about one evaluation per 10 steps, not one per step.
  gaps = df['global_step'].diff().dropna().iloc[:-1]
  assert len(df) >= 3 and (gaps >= 8).all()
  starts = (df['total_duration'] - df['accumulated_eval_time']).diff().dropna().iloc[:-1]
  assert (starts >= 0.2 - 0.05).all()


def test_time_budget_stops_the_run(tmp_path, tiny_workload):
  [summary], root = run_probe(tmp_path, tiny_workload, [{'sleep': 0.1, 'learning_rate': 0.0}],
                              max_allowed_runtime_sec=4.0)
  assert not summary['is_time_remaining'] and not summary['training_complete']
  # Each step sleeps 0.1 s and the budget is checked at evaluations (every 0.2 s), so the run
  # ends once submission time passes 4 s, at most one eval period and a step later.
  assert summary['score'] >= 4.0
  assert summary['global_step'] <= (4.0 + 0.2) / 0.1 + 1
  final = pd.read_csv(root / 'trial_1' / 'measurements.csv').iloc[-1]
  assert final['score'] == summary['score']
  if (root / 'trial_1' / 'eval_measurements.csv').exists():  # none if compiling took > 4 s
    assert evals(root / 'trial_1')['score'].max() < 4.0  # no evaluation once the budget is spent
  meta = json.loads((root / 'trial_1' / 'meta_data_0.json').read_text())
  assert meta['workload.max_allowed_runtime_sec'] == 4.0


def test_training_complete_error_ends_the_run(tmp_path, tiny_workload):
  [summary], root = run_probe(tmp_path, tiny_workload, [{'finish_at': 4, 'learning_rate': 0.0}])
  assert summary['global_step'] == 5 and summary['training_complete']
  assert evals(root / 'trial_1')['global_step'].iloc[-1] == 5


def test_train_state_passed_with_the_algoperf_keys(tmp_path, tiny_workload):
  run_probe(tmp_path, tiny_workload, max_global_steps=3)
  keys = {'accumulated_submission_time', 'accumulated_eval_time', 'accumulated_logging_time',
          'last_eval_time', 'last_step_end_time', 'is_time_remaining', 'training_complete',
          'validation_goal_reached', 'test_goal_reached'}
  assert all(set(s) == keys for s in probe_log.SEEN_TRAIN_STATES)
  times = [s['accumulated_submission_time'] for s in probe_log.SEEN_TRAIN_STATES]
  assert times[0] == 0 and times == sorted(times) and times[-1] > 0


def test_divergence_is_recorded_and_the_next_trial_still_runs(tmp_path, tiny_workload):
  summaries, root = run_probe(tmp_path, tiny_workload, [{'blow_up_at': 3}, {}],
                              max_global_steps=10)
  assert [s['diverged'] for s in summaries] == [True, False]
  diverged = json.loads((root / 'trial_1' / 'diverged.json').read_text())
  assert diverged['global_step'] == 4
  assert (root / 'trial_1' / 'trial_complete.json').is_file()
  assert not (root / 'trial_2' / 'diverged.json').exists()
  assert evals(root / 'trial_2')['global_step'].iloc[-1] == 10


def test_existing_experiment_needs_overwrite_or_resume(tmp_path, tiny_workload):
  run_probe(tmp_path, tiny_workload, max_global_steps=2)
  with pytest.raises(BenchError, match='already exists.*--overwrite.*--resume_last_run'):
    run_probe(tmp_path, tiny_workload, max_global_steps=2)
  # Resuming keeps the completed trial: nothing runs again.
  summaries, _ = run_probe(tmp_path, tiny_workload, max_global_steps=2, resume_last_run=True)
  assert summaries == [] and probe_log.SEEN_STEPS == []
  summaries, _ = run_probe(tmp_path, tiny_workload, max_global_steps=2, overwrite=True)
  assert len(summaries) == 1


def test_resume_reruns_an_interrupted_trial(tmp_path, tiny_workload):
  _, root = run_probe(tmp_path, tiny_workload, max_global_steps=2)
  (root / 'trial_1' / 'trial_complete.json').unlink()
  summaries, _ = run_probe(tmp_path, tiny_workload, max_global_steps=2, resume_last_run=True)
  assert len(summaries) == 1 and (root / 'trial_1' / 'trial_complete.json').is_file()


@pytest.mark.parametrize('field, value, message', [
  ('workload', 'no_such_workload', 'unknown workload .no_such_workload.'),
  ('workload', 'criteo1tb', 'official AlgoPerf workload'),
  ('submission_path', 'missing.py', 'missing.py does not exist'),
])
def test_bad_input_names_the_flag_or_file(tmp_path, field, value, message):
  kwargs = dict(workload='imagenet_resnet_mini', submission_path=PROBE,
                tuning_search_space=probe_space(tmp_path, [{}]), experiment_dir=str(tmp_path))
  kwargs[field] = str(tmp_path / value) if field == 'submission_path' else value
  with pytest.raises(BenchError, match=message):
    run(RunConfig(**kwargs))


def test_submission_lacking_an_api_function_is_refused(tmp_path):
  bad = tmp_path / 'bad.py'
  bad.write_text('def get_batch_size(name):\n  return 8\n')
  with pytest.raises(BenchError, match='lacks the AlgoPerf function.*init_optimizer_state'):
    run(RunConfig(workload='imagenet_resnet_mini', submission_path=str(bad),
                  tuning_search_space=probe_space(tmp_path, [{}]), experiment_dir=str(tmp_path)))


def test_cli_reports_a_malformed_search_space_without_traceback(tmp_path):
  space = tmp_path / 'space.json'
  space.write_text('{"learning_rate": {"feasible_points": [0.1]},')
  result = subprocess.run(
    [sys.executable, '-m', 'local_runner', '--workload=imagenet_resnet_mini',
     f'--submission_path={REPO}/submissions/adam/submission.py',
     f'--tuning_search_space={space}', f'--experiment_dir={tmp_path}/exp'],
    capture_output=True, text=True, cwd=REPO)
  assert result.returncode != 0
  assert f'{space}: not valid JSON' in result.stderr and 'Traceback' not in result.stderr


def test_stop_on_targets_off_runs_the_whole_budget(tmp_path, tiny_workload):
  [summary], root = run_probe(tmp_path, tiny_workload, max_global_steps=150, stop_on_targets=False)
  df = evals(root / 'trial_1')
  assert summary['global_step'] == 150 and summary['validation_goal_reached']
  assert (df['validation/accuracy'] >= 0.9).sum() >= 1 and df['global_step'].iloc[-1] == 150
