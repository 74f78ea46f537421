"""Data that is not clean, tried as a new user would: a truncated eval_measurements.csv, NaN
losses, trials stopped before the step budget, a study grid where half the studies miss."""

import numpy as np
import pandas as pd
import pytest
from scoring_helpers import write_trial

from bench_core import eval_csv
from scoring_ext import scoring
from scoring_ext.scoring import ScoringConfig
from scoring_ext.read import logs
from scoring_ext.render import audit, display, outputs

STEPS = [0, 2, 4, 6]


@pytest.mark.parametrize(
  'data, expected',
  [
    (b'a,b\n1,2\n3,4\n', []),
    (
      b'a,b\n1,2\n3',
      [(3, 'the last row is cut off (the file does not end with a newline; 1 of 2 fields)')],
    ),
    (
      b'a,b\n1,2\n3,4',
      [(3, 'the last row is cut off (the file does not end with a newline; 2 of 2 fields)')],
    ),
    (b'a,b\n1,2,9\n3,4\n', [(2, '3 fields where the header has 2')]),
    (b'a,b\r\n1,2\r\n\r\n', []),
    (b'a,', [(1, 'the header is cut off (the file does not end with a newline; 2 of 2 fields)')]),
  ],
)
def test_damaged_lines(data, expected):
  assert eval_csv.damaged_lines(data) == expected


def cut_last_row(csv_path, keep_text):
  """Cut the file's last line just after `keep_text` (a prefix of one of its values)."""
  data = open(csv_path, 'rb').read()
  start = data.rstrip(b'\n').rfind(b'\n') + 1
  at = data.index(keep_text.encode(), start) + len(keep_text)
  with open(csv_path, 'wb') as f:
    f.write(data[:at])


@pytest.fixture
def truncated(tmp_path):
  """adam on criteo1tb_mini, 3 studies; study_2's last row was cut off mid-value
  (0.0612345 -> 0.06), as a copy taken while the runner rewrote the file."""
  finals = {
    'study_0': [1.0, 0.5, 0.08, 0.04],
    'study_1': [1.0, 0.5, 0.09, 0.05],
    'study_2': [1.0, 0.5, 0.0712345, 0.0612345],
  }
  for study, valid in finals.items():
    path = write_trial(
      tmp_path,
      'adam',
      study,
      'criteo1tb_mini',
      steps=STEPS,
      train=np.array(valid) - 0.01,
      validation=valid,
      max_global_steps=6,
    )
  cut_last_row(f'{path}/eval_measurements.csv', '0.06')
  return str(tmp_path), f'{path}/eval_measurements.csv'


def test_a_truncated_csv_drops_the_row_and_flags_the_trial(truncated):
  tree, csv_path = truncated
  result = scoring.score_experiment(tree, ScoringConfig('step'))
  trial = result.trials.set_index('study').loc['study_2']
  assert trial['status'] == 'ok' and trial['damaged_rows'] == 1 and trial['n_evals'] == 3
  (issue,) = [i for i in result.issues if i.where.startswith(csv_path)]
  assert issue.where == f'{csv_path}:5' and 'the last row is cut off' in issue.message
  # the final value of study_2 is its last whole row (0.0712345), not the cut 0.06
  quality = result.quality.set_index('quantity').loc['validation/loss']
  assert quality['mean'] == pytest.approx((0.04 + 0.05 + 0.0712345) / 3)
  assert quality['n_studies'] == 3
  text = audit.render_audit(tree, 'step', result.trials, result.issues, result.budgets, 'steps')
  assert '## Damaged files of scored trials' in text
  assert '| adam | criteo1tb_mini | study_2 | trial_1 | 1 damaged row(s) dropped |' in text


@pytest.fixture
def non_finite(tmp_path):
  """nadamw on imagenet_resnet_mini (accuracy, AlgoPerf target 0.9), 3 studies:
  study_0 clean; study_1's train/loss is NaN at its last evaluation (after reaching 0.9);
  study_2's train/loss is inf at step 4, after which its accuracy reads 0.95."""
  accuracy = [0.5, 0.8, 0.92, 0.95]
  loss = {
    'study_0': [1.0, 0.5, 0.3, 0.2],
    'study_1': [1.0, 0.5, 0.3, np.nan],
    'study_2': [1.0, 0.5, np.inf, 0.2],
  }
  study_2_accuracy = [0.5, 0.8, 0.85, 0.95]
  for study, train_loss in loss.items():
    values = study_2_accuracy if study == 'study_2' else accuracy
    write_trial(
      tmp_path,
      'nadamw',
      study,
      'imagenet_resnet_mini',
      steps=STEPS,
      train=values,
      validation=values,
      train_loss=train_loss,
      validation_target=0.9,
      max_global_steps=6,
    )
  return str(tmp_path)


def test_a_non_finite_loss_marks_the_trial_diverged(non_finite):
  experiment = logs.load_experiment(non_finite)
  trials = experiment.trials.set_index('study')
  assert not trials.at['study_0', 'diverged']
  assert trials.at['study_1', 'diverged'] and trials.at['study_1', 'diverged_step'] == 6
  assert trials.at['study_2', 'diverged_reason'] == 'non-finite train/loss at step 4'
  messages = ' '.join(i.message for i in experiment.issues)
  assert 'non-finite train/loss at step 4: the trial counts as diverged' in messages


def test_diverged_studies_are_misses_from_there_on_and_counted_in_quality(non_finite):
  result = scoring.score_experiment(non_finite, ScoringConfig('step', target_source='algoperf'))
  per_study = result.per_study.set_index('study')['time_to_target']
  # study_1 reached 0.9 at step 4, before its NaN; study_2's 0.95 comes after its inf loss
  assert per_study.to_dict() == {'study_0': 4.0, 'study_1': 4.0, 'study_2': np.inf}
  accuracy = result.quality.set_index('quantity').loc['validation/accuracy']
  assert accuracy['n_studies'] == 1 and accuracy['n_diverged'] == 2
  assert accuracy['mean'] == 0.95
  cells = display.quality_wide(result).iloc[0]
  assert cells['validation metric'] == '0.95 (n=1, 2 diverged)'


def test_every_quality_cell_shows_its_count():
  assert display.quality_cell(0.9917, 0.007, 3, 0) == '0.9917 ± 0.007 (n=3)'
  assert display.quality_cell(0.9967, np.nan, 1, 2) == '0.9967 (n=1, 2 diverged)'


def test_a_trial_stopped_on_time_warns_under_step_control(tmp_path):
  write_trial(
    tmp_path,
    'adam',
    'study_0',
    'ogbg_mini',
    steps=[0, 5, 10],
    train=[0, 1, 2],
    validation=[0, 1, 2],
    max_global_steps=10,
  )
  write_trial(
    tmp_path,
    'adam',
    'study_1',
    'ogbg_mini',
    steps=[0, 5, 7],
    train=[0, 1, 2],
    validation=[0, 1, 2],
    max_global_steps=10,
    record={'is_time_remaining': False},
  )
  write_trial(
    tmp_path,
    'adam',
    'study_2',
    'ogbg_mini',
    steps=[0, 5, 8],
    train=[0, 1, 2],
    validation=[0, 1, 2],
    max_global_steps=10,
  )  # the record does not say why
  step = scoring.score_experiment(str(tmp_path), ScoringConfig('step'))
  short = step.short_of_step_budget
  assert short[['study', 'last_step', 'budget', 'ran_out_of_time']].values.tolist() == [
    ['study_1', 7.0, 10.0, 'yes'],
    ['study_2', 8.0, 10.0, 'not recorded'],
  ]
  (warning,) = [i for i in step.issues if 'stopped before the step budget' in i.message]
  assert warning.where == 'ogbg_mini' and '2 trial(s) stopped before' in warning.message
  assert '; 1 ran out of time' in warning.message
  assert '## Stopped before the step budget' in outputs.render_outputs(step)['audit.md']
  time = scoring.score_experiment(str(tmp_path), ScoringConfig('time'))
  assert not [i for i in time.issues if 'step budget' in i.message]


def test_medians_of_hits_and_misses_are_explained(tmp_path):
  """demo-quick's situation: two studies, one hit and one miss -> median inf, B = 0."""
  write_trial(
    tmp_path,
    'adam',
    'study_0',
    'ogbg_mini',
    steps=STEPS,
    train=[0, 1, 2, 3],
    validation=[0, 0.2, 0.6, 0.7],
    validation_target=0.5,
    max_global_steps=6,
  )
  write_trial(
    tmp_path,
    'adam',
    'study_1',
    'ogbg_mini',
    steps=STEPS,
    train=[0, 1, 2, 3],
    validation=[0, 0.1, 0.2, 0.3],
    validation_target=0.5,
    max_global_steps=6,
  )
  result = scoring.score_experiment(str(tmp_path), ScoringConfig('step', target_source='algoperf'))
  table = display.median_times_wide(result, 'validation', counts=True)
  assert table.iloc[0]['ogbg_mini'] == 'inf (1/2)'
  text = outputs.render_outputs(result)['report.md']
  assert 'No algorithm reached the validation targets in the median over its studies' in text
  assert '(k/n): k of the n studies reached the target' in text
  medians = result.medians.iloc[0]
  assert (medians['n_reached'], medians['n_studies']) == (1, 2)


def test_report_csv_keeps_counts(truncated):
  result = scoring.score_experiment(truncated[0], ScoringConfig('step'))
  long = display.time_to_target_long(result)
  medians = long[long['level'] == 'median']
  assert medians['n_studies'].tolist() == [3, 3]
  assert pd.api.types.is_integer_dtype(medians['n_reached'])
