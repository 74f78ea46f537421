"""Runs without evaluations, damaged logs, early stops and absurd settings (issue 22).

A trial that ran and logged no evaluation is a miss everywhere; a damaged log is refused or
named, in the audit and on the console, and never changes a score silently.
"""

import contextlib
import io
import json
import os
import shutil

import numpy as np
import pandas as pd
import pytest
from scoring_helpers import generate_tree, write_trial

from bench_core import cli
from bench_core.errors import BenchError
from scoring_ext import report, scoring
from scoring_ext.render import audit, display, outputs
from scoring_ext.scoring import ScoringConfig

KEY = ('nadamw', 'fastmri_mini', 'validation')


@pytest.fixture(scope='module')
def tree(tmp_path_factory):
  """3 algorithms x 2 workloads x 3 studies; nadamw reaches the fastmri_mini validation
  target in study_1 and study_2 only."""
  root = tmp_path_factory.mktemp('damage') / 'tree'
  generate_tree(
    str(root), n_algorithms=3, workloads=['ogbg_mini', 'fastmri_mini'], n_studies=3, n_evals=400
  )
  return str(root)


@pytest.fixture
def copy(tree, tmp_path):
  target = str(tmp_path / 'tree')
  shutil.copytree(tree, target)
  return target


def csv_of(root, algorithm='nadamw', study='study_1', workload='fastmri_mini'):
  return os.path.join(root, algorithm, study, f'{workload}_jax', 'trial_1', 'eval_measurements.csv')


def record_of(root, algorithm='nadamw', study='study_1', workload='fastmri_mini'):
  return os.path.join(root, algorithm, study, f'{workload}_jax', 'trial_1', 'trial_complete.json')


def median(result, key=KEY):
  row = result.medians.set_index(['algorithm', 'workload', 'split']).loc[key]
  return float(row['time_to_target']), int(row['n_studies']), int(row['n_reached'])


def scores(result):
  return result.scores.set_index(['algorithm', 'split'])['score']


def status(result, study='study_1', algorithm='nadamw', workload='fastmri_mini'):
  trials = result.trials.set_index(['algorithm', 'study', 'workload'])
  return trials.loc[(algorithm, study, workload)]


def run_report(argv):
  out, err = io.StringIO(), io.StringIO()
  with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    code = cli.run_main(report.main, argv)
  return code, out.getvalue(), err.getvalue()


# ---- a trial without evaluations is a miss -------------------------------------------------------


def test_a_trial_without_evaluations_is_a_miss_at_every_level(tree, copy):
  clean = scoring.score_experiment(tree, ScoringConfig('time'))
  per_study = clean.per_study.set_index(['algorithm', 'workload', 'split', 'study'])
  times = per_study.loc[KEY]['time_to_target']
  assert not np.isfinite(times['study_0']) and np.isfinite(times[['study_1', 'study_2']]).all()
  with open(csv_of(copy)) as f:
    header = f.readline()
  with open(csv_of(copy), 'w') as f:
    f.write(header)  # the trial ran (meta data, completion record) and logged no evaluation
  emptied = scoring.score_experiment(copy, ScoringConfig('time'))
  assert status(emptied)['status'] == 'no_evals'
  trial = emptied.per_trial.set_index(['algorithm', 'workload', 'split', 'study']).sort_index()
  assert trial.loc[(*KEY, 'study_1'), 'time_to_target'] == np.inf
  # the median over three studies with two misses is a miss: n stays 3
  assert median(emptied) == (np.inf, 3, 1)
  # exactly as if the trial had logged evaluations that reached nothing
  never = pd.read_csv(csv_of(tree))
  never[[c for c in never.columns if c.endswith('/ssim')]] = 0.0
  missed = os.path.join(os.path.dirname(copy), 'missed')
  shutil.copytree(tree, missed)
  never.to_csv(csv_of(missed), index=False)
  reference = scoring.score_experiment(missed, ScoringConfig('time', target_source='algoperf'))
  same = scoring.score_experiment(copy, ScoringConfig('time', target_source='algoperf'))
  pd.testing.assert_frame_equal(same.medians, reference.medians)
  pd.testing.assert_series_equal(scores(same), scores(reference))
  assert (
    scores(same)['nadamw', 'validation']
    < scores(scoring.score_experiment(tree, ScoringConfig('time', target_source='algoperf')))[
      'nadamw', 'validation'
    ]
  )
  # the quality table counts the study and says why it has no value
  quality = emptied.quality.set_index(['algorithm', 'workload', 'quantity'])
  row = quality.loc[('nadamw', 'fastmri_mini', 'validation/ssim')]
  assert row['n_studies'] == 2 and row['n_no_evals'] == 1
  cells = display.quality_wide(emptied).set_index(['workload', 'algorithm'])
  assert '(n=2, 1 no evaluation)' in cells.loc[('fastmri_mini', 'nadamw'), 'validation metric']


def test_the_issues_reproduction_median_of_two_against_median_with_a_miss(tree, copy):
  """Issue 22: with one of three studies' CSV emptied, the median was that of the other two
  (n_studies 2); it is the median with the miss (n_studies 3)."""
  clean = scoring.score_experiment(tree, ScoringConfig('time', target_source='algoperf'))
  per_study = clean.per_study.set_index(['algorithm', 'workload', 'split', 'study'])
  key = ('nadam', 'fastmri_mini', 'validation')
  times = per_study.loc[key]['time_to_target'].to_numpy()
  assert np.isfinite(times).all()
  os.remove(csv_of(copy, 'nadam', 'study_0'))  # as the demo's runs: no CSV at all
  result = scoring.score_experiment(copy, ScoringConfig('time', target_source='algoperf'))
  others = times[1:]
  assert median(result, key) == (float(np.median([np.inf, *others])), 3, 2)
  assert median(result, key)[0] == max(others) != float(np.median(others))


def test_the_report_shows_misses_and_ends_the_console_with_a_summary(copy, tmp_path):
  os.remove(csv_of(copy))
  code, out, _ = run_report(
    ['--experiment_dir', copy, '--condition', 'time', '--out', str(tmp_path / 'out')]
  )
  assert code == 0
  lines = out.strip().splitlines()
  assert any(
    'nadamw/study_1/fastmri_mini_jax/trial_1' in line and 'counted as a miss' in line
    for line in lines
  )
  assert lines[-1].startswith('audit: 18 trial directories, 18 scored, 1 without evaluations')
  assert '0 damaged (left out)' in lines[-1]
  text = (tmp_path / 'out' / 'report.md').read_text()
  assert '(1/3)' in text  # nadamw's fastmri_mini validation median: 1 of 3 studies reached
  assert '1 without evaluations (counted as misses)' in text
  audit = (tmp_path / 'out' / 'audit.md').read_text()
  assert '## Trials without evaluations (counted as misses)' in audit
  table = pd.read_csv(tmp_path / 'out' / 'time_to_target.csv')
  medians = table[(table['level'] == 'median') & (table['algorithm'] == 'nadamw')]
  row = medians[(medians['workload'] == 'fastmri_mini') & (medians['split'] == 'validation')]
  assert int(row['n_studies'].iloc[0]) == 3


# ---- damaged logs -------------------------------------------------------------------------------


def edit_csv(root, change, **where):
  frame = pd.read_csv(csv_of(root, **where))
  change(frame)
  frame.to_csv(csv_of(root, **where), index=False)


def assert_left_out_and_named(result, expected, kind='bad_clock', **where):
  trial = status(result, **where)
  assert trial['status'] == kind
  assert expected in trial['status_detail']
  messages = [i for i in result.issues if i.where == trial['path']]
  assert any('damaged' in i.message and 'left out' in i.message for i in messages)
  lines = audit.console_lines(result.trials, result.issues, result.stopped_early)
  assert any(trial['path'] in line and expected in line for line in lines)
  assert '1 damaged (left out)' in lines[-1]


def test_a_negative_time_is_refused_and_scores_stay_those_of_the_clean_trials(tree, copy):
  def negative(frame):
    frame.loc[3, 'accumulated_submission_time'] = -5.0

  edit_csv(copy, negative)
  result = scoring.score_experiment(copy, ScoringConfig('time'))
  assert_left_out_and_named(result, 'accumulated_submission_time is negative in data row')
  assert (result.per_trial['time_to_target'] >= 0).all()
  assert scores(result).max() == 1.0  # not "no algorithm reached the targets"
  assert 'No algorithm reached' not in outputs.render_outputs(result)['report.md']


def test_a_time_that_goes_back_is_refused(copy):
  def back(frame):
    frame.loc[100, 'accumulated_submission_time'] = 1.0

  edit_csv(copy, back)
  result = scoring.score_experiment(copy, ScoringConfig('time'))
  assert_left_out_and_named(result, 'goes back as the steps go on: data row 100')


def test_a_repeated_step_is_refused(copy):
  def repeat(frame):
    frame.loc[50, 'global_step'] = frame.loc[49, 'global_step']

  edit_csv(copy, repeat)
  result = scoring.score_experiment(copy, ScoringConfig('time'))
  assert_left_out_and_named(result, 'global_step is repeated')


def test_an_absurd_time_is_refused(copy):
  def absurd(frame):
    frame.loc[frame.index[-1], 'accumulated_submission_time'] = 1e308

  edit_csv(copy, absurd)
  result = scoring.score_experiment(copy, ScoringConfig('time'))
  assert_left_out_and_named(result, 'implausibly large')


def test_rows_out_of_step_order_are_named_and_scored_in_step_order(tree, copy):
  frame = pd.read_csv(csv_of(copy))
  frame.iloc[[10, 11]] = frame.iloc[[11, 10]].to_numpy()
  frame.to_csv(csv_of(copy), index=False)
  result = scoring.score_experiment(copy, ScoringConfig('time'))
  trial = status(result)
  assert trial['status'] == 'ok' and trial['damage'] == 'rows out of step order'
  assert any(
    'global_step goes backward down the file: data row 12' in i.message for i in result.issues
  )
  pd.testing.assert_frame_equal(
    result.medians, scoring.score_experiment(tree, ScoringConfig('time')).medians
  )


def test_a_csv_that_contradicts_the_completion_record_is_refused(copy):
  with open(csv_of(copy)) as f:
    header = f.readline()
  with open(csv_of(copy), 'w') as f:
    f.write(header)
  with open(record_of(copy), 'w') as f:
    json.dump({'global_step': 400, 'num_evals': 51, 'condition': 'time'}, f)
  result = scoring.score_experiment(copy, ScoringConfig('time'))
  assert_left_out_and_named(
    result, 'has no evaluation but trial_complete.json records 51', kind='contradicts_record'
  )
  assert 'compilation' not in status(result)['status_detail']


def test_a_missing_meta_data_file_is_named(copy):
  os.remove(os.path.join(os.path.dirname(csv_of(copy)), 'meta_data_0.json'))
  result = scoring.score_experiment(copy, ScoringConfig('time'))
  trial = status(result)
  assert trial['status'] == 'ok' and trial['damage'] == 'no meta_data_0.json'
  lines = audit.console_lines(result.trials, result.issues, result.stopped_early)
  assert any(trial['path'] in line and 'no meta_data_0.json' in line for line in lines)
  assert '1 scored with damaged files' in lines[-1]


# ---- early stops --------------------------------------------------------------------------------


def test_an_early_stop_under_time_control_is_warned_and_flagged_in_quality(copy):
  frame = pd.read_csv(csv_of(copy))
  frame.iloc[:1].to_csv(csv_of(copy), index=False)  # the evaluation after the first step only
  with open(record_of(copy), 'w') as f:
    json.dump({'num_evals': 1, 'stop_reason': 'training complete', 'condition': 'time'}, f)
  result = scoring.score_experiment(copy, ScoringConfig('time'))
  early = result.stopped_early.set_index(['algorithm', 'workload', 'study'])
  assert (
    "stop_reason 'training complete'" in early.loc[('nadamw', 'fastmri_mini', 'study_1')]['reason']
  )
  assert any('stopped before the time budget' in i.message for i in result.issues)
  cells = display.quality_wide(result).set_index(['workload', 'algorithm'])
  assert '1 stopped early' in cells.loc[('fastmri_mini', 'nadamw'), 'validation metric']
  assert (
    'stopped early' in audit.console_lines(result.trials, result.issues, result.stopped_early)[-1]
  )


def test_without_a_stop_record_an_early_stop_is_told_by_the_evaluation_period(tmp_path):
  for study, last in (('study_0', 100), ('study_1', 30)):
    path = write_trial(
      tmp_path,
      'adam',
      study,
      'ogbg_mini',
      steps=np.arange(0, last + 1, 10),
      train=np.linspace(0, 1, last // 10 + 1),
      validation=np.linspace(0, 1, last // 10 + 1),
    )
    meta = json.load(open(os.path.join(path, 'meta_data_0.json')))
    meta['workload.eval_period_time_sec'] = 100.0
    json.dump(meta, open(os.path.join(path, 'meta_data_0.json'), 'w'))
  result = scoring.score_experiment(str(tmp_path), ScoringConfig('time'))
  # budget 1000 s; study_0's last evaluation at 1000 s, study_1's at 300 s (> 1 period before)
  assert list(result.stopped_early['study']) == ['study_1']
  assert 'evaluation period (100 s)' in result.stopped_early['reason'].iloc[0]


# ---- the condition a trial ran under, absurd settings -------------------------------------------


def test_a_tree_of_the_other_condition_is_refused(copy):
  with open(record_of(copy)) as f:
    record = json.load(f)
  with open(record_of(copy), 'w') as f:
    json.dump({**record, 'condition': 'time'}, f)
  scoring.score_experiment(copy, ScoringConfig('time'))
  with pytest.raises(BenchError, match='--condition step: 1 trial.*ran under time control') as e:
    scoring.score_experiment(copy, ScoringConfig('step'))
  assert record_of(copy).rsplit('/', 1)[0] in str(e.value)
  anyway = scoring.score_experiment(copy, ScoringConfig('step', allow_other_condition=True))
  assert any('scored anyway (--allow_other_condition)' in i.message for i in anyway.issues)


def test_an_older_step_tree_is_recognised_by_its_budgets(tmp_path):
  write_trial(
    tmp_path,
    'adam',
    'study_0',
    'ogbg_mini',
    steps=[1, 5],
    train=[0, 1],
    validation=[0, 1],
    runtime=1e9,
    max_global_steps=5,
  )
  assert scoring.score_experiment(str(tmp_path), ScoringConfig('step')).trials[
    'condition'
  ].tolist() == ['step']
  with pytest.raises(BenchError, match='a step budget, no time limit'):
    scoring.score_experiment(str(tmp_path), ScoringConfig('time'))


def test_absurd_bootstrap_sizes_are_refused_before_any_work(tmp_path):
  missing = str(tmp_path / 'does_not_exist')
  for n in (100_000_000, -1):
    with pytest.raises(BenchError, match='--bootstrap must be between 0 and 100000'):
      scoring.score_experiment(missing, ScoringConfig('time', n_bootstrap=n))
  code, _, err = run_report(
    [
      '--experiment_dir',
      missing,
      '--condition',
      'time',
      '--out',
      str(tmp_path / 'o'),
      '--bootstrap',
      '100000000',
    ]
  )
  assert code == 2 and '--bootstrap' in err and not (tmp_path / 'o').exists()


def test_an_absurd_reference_hardware_factor_is_refused_before_any_work(tmp_path):
  hardware = tmp_path / 'hardware.json'
  hardware.write_text(
    json.dumps({'ogbg': {'local_time_per_step': 1.5e-16, 'reference_time_per_step': 1.0}})
  )
  with pytest.raises(BenchError, match=r"hardware.json: workload 'ogbg'.*1.5e-16.*plausible"):
    scoring.score_experiment(
      str(tmp_path / 'absent'),
      ScoringConfig('time', reference_dirs=['x'], reference_hardware=[str(hardware)]),
    )


def test_a_workload_where_every_trial_logged_nothing_is_scored_as_misses(copy):
  for algorithm in ('adam', 'nadam', 'nadamw'):
    for study in ('study_0', 'study_1', 'study_2'):
      os.remove(csv_of(copy, algorithm, study, 'ogbg_mini'))
  for targets in ('derived', 'algoperf'):
    result = scoring.score_experiment(copy, ScoringConfig('time', target_source=targets))
    ogbg = result.medians[result.medians['workload'] == 'ogbg_mini']
    assert len(ogbg) and not np.isfinite(ogbg['time_to_target']).any()
    assert (ogbg['n_studies'] == 3).all() and (ogbg['n_reached'] == 0).all()
    assert 'ogbg_mini' in result.workloads
    quality = result.quality[result.quality['workload'] == 'ogbg_mini']
    assert (quality['n_no_evals'] == 3).all() and (quality['n_studies'] == 0).all()
    assert '(n=0, 3 no evaluation)' in outputs.render_outputs(result)['report.md']
