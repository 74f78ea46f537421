"""Loading the log tree, metric directions, budgets, presets and the audit."""

import json
import os

import numpy as np
import pytest
from scoring_helpers import write_trial

from bench_core import catalogue
from bench_core.errors import BenchError
from scoring_ext import budgets
from scoring_ext.compute import presets
from scoring_ext.read import logs
from scoring_ext.render import audit

STEPS = [0, 5, 10]


def test_metric_directions():
  assert catalogue.metric_direction('validation/loss') == 'min'
  assert catalogue.metric_direction('wer') == 'min'
  assert catalogue.metric_direction('ssim') == 'max'
  assert catalogue.metric_direction('train/mean_average_precision') == 'max'
  with pytest.raises(ValueError, match="unknown metric 'perplexity_x'"):
    catalogue.metric_direction('perplexity_x')


def test_presets():
  assert presets.paper_target('time', 'validation', 'imagenet_resnet') == 0.71012
  assert presets.paper_target('step', 'train', 'ogbg') == 0.76547
  assert presets.paper_target('step', 'train', 'ogbg_mini') is None  # stand-ins: see targets
  assert presets.paper_target('step', 'train', 'wmt') is None
  table = presets.paper_targets()
  table['time']['train']['fastmri'] = 0.0
  assert presets.paper_target('time', 'train', 'fastmri') == 0.74543


def test_load_tidy_frame_sorted_and_typed(tmp_path):
  write_trial(
    tmp_path,
    'adam',
    'study_0',
    'ogbg_mini',
    steps=[10, 0, 5],
    train=[0.3, 0.1, 0.2],
    validation=[0.3, 0.1, 0.2],
  )
  write_trial(
    tmp_path,
    'adam',
    'study_0',
    'criteo1tb_mini',
    steps=STEPS,
    train=[1, 0.5, 0.4],
    validation=[1, 0.6, 0.5],
    framework='pytorch',
  )
  experiment = logs.load_experiment(str(tmp_path))
  evals = experiment.evals
  assert list(evals.columns[:9]) == [
    'trial_id',
    'algorithm',
    'study',
    'workload',
    'framework',
    'trial',
    'eval_index',
    'global_step',
    'time',
  ]
  ogbg = evals[evals['workload'] == 'ogbg_mini']
  assert list(ogbg['global_step']) == [0, 5, 10]
  assert list(ogbg['validation/mean_average_precision']) == [0.1, 0.2, 0.3]
  assert list(ogbg['time']) == [0.0, 50.0, 100.0]
  assert set(experiment.trials['framework']) == {'jax', 'pytorch'}
  assert experiment.trials['status'].eq('ok').all()


def test_nested_metadata_and_missing_meta_fallback(tmp_path):
  path = write_trial(
    tmp_path,
    'adam',
    'study_0',
    'fastmri_mini',
    steps=STEPS,
    train=[0, 1, 2],
    validation=[0, 1, 2],
    write_meta=False,
  )
  with open(os.path.join(path, 'meta_data_0.json'), 'w') as f:
    json.dump({'workload': {'max_allowed_runtime_sec': 77, 'step_hint': 9}}, f)
  trials = logs.load_experiment(str(tmp_path)).trials
  assert trials.loc[0, 'max_allowed_runtime_sec'] == 77
  assert trials.loc[0, 'target_metric'] == 'ssim'  # from the workload family
  assert np.isnan(trials.loc[0, 'max_global_steps'])
  step_budgets, issues = budgets.workload_budgets(trials, 'step')
  assert step_budgets['fastmri_mini'] == 9  # step_hint when max_global_steps is null
  assert any('step_hint' in i.message for i in issues)


def test_missing_and_empty_directories(tmp_path):
  with pytest.raises(BenchError, match='does not exist'):
    logs.load_experiment(str(tmp_path / 'nope'))
  with pytest.raises(BenchError, match='no trial directories'):
    logs.load_experiment(str(tmp_path))


def test_unknown_algorithm_is_an_error(tmp_path):
  write_trial(
    tmp_path, 'adam', 'study_0', 'ogbg_mini', steps=STEPS, train=[0, 1, 2], validation=[0, 1, 2]
  )
  with pytest.raises(BenchError, match=r'unknown algorithm\(s\) lion.*found: adam'):
    logs.load_experiment(str(tmp_path), algorithms=['lion'])


def test_bad_trials_are_left_out_with_warnings(tmp_path):
  good = dict(steps=STEPS, train=[0, 1, 2], validation=[0, 1, 2])
  write_trial(tmp_path, 'adam', 'study_0', 'ogbg_mini', **good)
  no_column = write_trial(
    tmp_path,
    'adam',
    'study_1',
    'ogbg_mini',
    **good,
    drop_columns=['validation/mean_average_precision'],
  )
  no_evals = write_trial(
    tmp_path, 'adam', 'study_2', 'ogbg_mini', steps=[], train=[], validation=[]
  )
  text_only = write_trial(tmp_path, 'adam', 'study_3', 'ogbg_mini', **good)
  os.remove(os.path.join(text_only, 'eval_measurements.csv'))
  write_trial(
    tmp_path,
    'adam',
    'study_4',
    'ogbg_mini',
    steps=STEPS,
    train=[0, np.nan, 2],
    validation=[0, 1, 2],
  )
  experiment = logs.load_experiment(str(tmp_path))
  status = dict(zip(experiment.trials['study'], experiment.trials['status']))
  assert status == {
    'study_0': 'ok',
    'study_1': 'bad_columns',
    'study_2': 'no_evals',
    'study_3': 'no_evals',
    'study_4': 'ok',
  }
  text = ' '.join(f'{i.where} {i.message}' for i in experiment.issues)
  assert f'{no_column}/eval_measurements.csv' in text
  assert 'missing column(s) validation/mean_average_precision' in text
  detail = dict(zip(experiment.trials['study'], experiment.trials['status_detail']))
  assert detail['study_2'].startswith('ended before its first evaluation')  # header-only CSV
  assert no_evals in text
  assert 'ended before its first evaluation' in text  # trial_complete.json, no CSV, no log
  assert '1 evaluation(s) with a NaN/inf mean_average_precision' in text


def test_all_trials_unusable_is_an_error(tmp_path):
  write_trial(tmp_path, 'adam', 'study_0', 'ogbg_mini', steps=[], train=[], validation=[])
  with pytest.raises(BenchError, match='no trial .* has usable evaluations'):
    logs.load_experiment(str(tmp_path))


def test_budgets_file(tmp_path):
  path = tmp_path / 'b.json'
  path.write_text(json.dumps({'time': {'ogbg_mini': 60}, 'step': {'ogbg_mini': 8}}))
  assert budgets.read_budgets_file(str(path), 'step') == {'ogbg_mini': 8.0}
  path.write_text(json.dumps({'ogbg_mini': 'soon'}))
  with pytest.raises(
    BenchError, match="b.json: field 'ogbg_mini' must be a positive number of seconds, got 'soon'"
  ):
    budgets.read_budgets_file(str(path), 'time')


def test_audit_lists_missing_diverged_and_incomplete(tmp_path):
  good = dict(steps=STEPS, train=[0, 1, 2], validation=[0, 1, 2])
  write_trial(tmp_path, 'adam', 'study_0', 'ogbg_mini', **good)
  write_trial(tmp_path, 'adam', 'study_1', 'ogbg_mini', **good, complete=False)
  write_trial(tmp_path, 'adam', 'study_0', 'fastmri_mini', **good)
  write_trial(tmp_path, 'velo', 'study_0', 'ogbg_mini', **good, diverged_step=7, complete=False)
  experiment = logs.load_experiment(str(tmp_path))
  missing = audit.missing_combinations(experiment.trials)
  assert set(map(tuple, missing.to_numpy())) == {
    ('adam', 'fastmri_mini', 'study_1'),
    ('velo', 'fastmri_mini', 'study_0'),
  }
  completion = logs.completion_issues(experiment.trials)
  assert [os.path.basename(os.path.dirname(os.path.dirname(i.where))) for i in completion] == [
    'study_1'
  ]
  coverage = audit.coverage_table(experiment.trials).set_index('algorithm')
  assert coverage.at['adam', 'ogbg_mini'] == '2/2'
  assert coverage.at['velo', 'fastmri_mini'] == 'missing'
  text = audit.render_audit(
    str(tmp_path),
    'time',
    experiment.trials,
    list(experiment.issues) + completion,
    budgets.workload_budgets(experiment.trials, 'time')[0],
    'seconds',
  )
  assert text.startswith('# Audit')
  assert '## Diverged trials' in text and '| velo | ogbg_mini | study_0 | trial_1 | 7 |' in text
  assert 'trial_complete.json' in text
