"""The scoring pipeline on hand-built log trees with hand-computed answers.

Tree `two_workloads` (3 studies, 1 trial each; evals at steps 0,2,4,7,9,10;
time budget 100 s, step budget 10). criteo1tb_mini (loss, minimised) and
fastmri_mini (ssim, maximised). adam and velo_short log time = 10 x step,
velo logs time = 12 x step (slower per step).
"""

import dataclasses

import numpy as np
import pandas as pd
import pytest
from scoring_helpers import write_trial

from bench_core.errors import BenchError
from scoring_ext import scoring
from scoring_ext.compute import quality, targets, time_to_target
from scoring_ext.read import logs
from scoring_ext.scoring import ScoringConfig

STEPS = [0, 2, 4, 7, 9, 10]
STUDIES = ['study_0', 'study_1', 'study_2']
CRITEO = {  # validation/loss per study; train/loss = validation - 0.1
  'adam': [
    [1.0, 0.8, 0.6, 0.50, 0.45, 0.40],
    [1.0, 0.8, 0.6, 0.52, 0.45, 0.42],
    [1.0, 0.8, 0.6, 0.55, 0.45, 0.44],
  ],
  'velo': [
    [1.0, 0.7, 0.5, 0.45, 0.42, 0.41],
    [1.0, 0.7, 0.5, 0.48, 0.42, 0.41],
    [1.0, 0.7, 0.5, 0.40, 0.42, 0.41],
  ],
  'velo_short': [[1.0, 0.9, 0.9, 0.9, 0.9, 0.9]] * 3,
}
FASTMRI = {  # validation/ssim, the same in every study; train/ssim = validation + 0.1
  'adam': [0.1, 0.3, 0.5, 0.7, 0.75, 0.8],
  'velo': [0.1, 0.2, 0.3, 0.6, 0.8, 0.9],
  'velo_short': [0.1, 0.2, 0.3, 0.65, 0.7, 0.72],
}
SECONDS_PER_STEP = {'adam': 10.0, 'velo': 12.0, 'velo_short': 10.0}


@pytest.fixture(scope='module')
def two_workloads(tmp_path_factory):
  root = tmp_path_factory.mktemp('two_workloads')
  for algorithm, per_study in CRITEO.items():
    times = np.array(STEPS) * SECONDS_PER_STEP[algorithm]
    for study, valid in zip(STUDIES, per_study):
      common = dict(steps=STEPS, times=times, runtime=100.0, max_global_steps=10)
      write_trial(
        root,
        algorithm,
        study,
        'criteo1tb_mini',
        train=np.array(valid) - 0.1,
        validation=valid,
        validation_target=0.01,
        **common,
      )
      ssim = FASTMRI[algorithm]
      write_trial(
        root,
        algorithm,
        study,
        'fastmri_mini',
        train=np.array(ssim) + 0.1,
        validation=ssim,
        validation_target=0.7,
        framework='pytorch',
        **common,
      )
  return str(root)


def lookup(frame, **where):
  mask = np.ones(len(frame), dtype=bool)
  for column, value in where.items():
    mask &= frame[column].to_numpy() == value
  assert mask.sum() == 1, (where, frame)
  return frame[mask].iloc[0]


def medians_of(result, split):
  subset = result.medians[result.medians['split'] == split]
  return {(r.algorithm, r.workload): r.time_to_target for r in subset.itertuples()}


def scores_of(result, split):
  subset = result.scores[result.scores['split'] == split]
  return dict(zip(subset['algorithm'], subset['score']))


def test_step_condition_targets(two_workloads):
  result = scoring.score_experiment(two_workloads, ScoringConfig('step'))
  # point 0.75 x 10 = 7.5 steps -> the evaluation at step 7 (index 3)
  # criteo medians: adam 0.52, velo 0.45, velo_short 0.9 -> min 0.45 (velo)
  criteo = lookup(result.targets, workload='criteo1tb_mini', split='validation')
  assert criteo.target == pytest.approx(0.45) and criteo.best_algorithm == 'velo'
  assert criteo.direction == 'min'
  assert lookup(result.targets, workload='criteo1tb_mini', split='train').target == pytest.approx(
    0.35
  )
  # fastmri medians: adam 0.7, velo 0.6, velo_short 0.65 -> max 0.7 (adam)
  fastmri = lookup(result.targets, workload='fastmri_mini', split='validation')
  assert fastmri.target == pytest.approx(0.7) and fastmri.best_algorithm == 'adam'
  assert fastmri.direction == 'max'


def test_step_condition_times_to_target(two_workloads):
  result = scoring.score_experiment(two_workloads, ScoringConfig('step'))
  # criteo <= 0.45: adam reaches at step 9 in all studies (0.45 ties the target);
  # velo at steps 7, 9, 7 -> median 7; velo_short never.
  # fastmri >= 0.7: adam step 7; velo step 9; velo_short step 9 (0.7 ties).
  expected = {
    ('adam', 'criteo1tb_mini'): 9,
    ('velo', 'criteo1tb_mini'): 7,
    ('velo_short', 'criteo1tb_mini'): np.inf,
    ('adam', 'fastmri_mini'): 7,
    ('velo', 'fastmri_mini'): 9,
    ('velo_short', 'fastmri_mini'): 9,
  }
  for split in ('train', 'validation'):
    assert medians_of(result, split) == expected
  velo = result.per_trial[
    (result.per_trial['algorithm'] == 'velo')
    & (result.per_trial['workload'] == 'criteo1tb_mini')
    & (result.per_trial['split'] == 'validation')
  ]
  assert sorted(velo['time_to_target']) == [7, 7, 9]


def test_step_condition_scores(two_workloads):
  result = scoring.score_experiment(two_workloads, ScoringConfig('step'))
  # ratios: adam (9/7, 1), velo (1, 9/7), velo_short (inf, 9/7); 9/7 is first
  # on the grid 1 + 3k/99 at k = 10:
  # rho 0.5 -> 1: (9 * 0.5 + 0.75 + 89) / 99; rho 0 -> 0.5: (0.25 + 89 * 0.5) / 99
  for split in ('train', 'validation'):
    got = scores_of(result, split)
    assert got['adam'] == pytest.approx(94.25 / 99)
    assert got['velo'] == pytest.approx(94.25 / 99)
    assert got['velo_short'] == pytest.approx(44.75 / 99)


def test_time_condition_differs(two_workloads):
  result = scoring.score_experiment(two_workloads, ScoringConfig('time'))
  # point 75 s: adam/velo_short at step 7 (70 s), velo at step 4 (48 s).
  # criteo medians: adam 0.52, velo 0.5, velo_short 0.9 -> target 0.5
  assert lookup(
    result.targets, workload='criteo1tb_mini', split='validation'
  ).target == pytest.approx(0.5)
  # fastmri: adam 0.7, velo 0.3, velo_short 0.65 -> 0.7
  assert lookup(
    result.targets, workload='fastmri_mini', split='validation'
  ).target == pytest.approx(0.7)
  # criteo <= 0.5: adam 70, 90, 90 s -> 90; velo 48 s. fastmri >= 0.7: adam 70 s,
  # velo only at 108 s > budget -> inf, velo_short 90 s.
  assert medians_of(result, 'validation') == {
    ('adam', 'criteo1tb_mini'): 90.0,
    ('velo', 'criteo1tb_mini'): 48.0,
    ('velo_short', 'criteo1tb_mini'): np.inf,
    ('adam', 'fastmri_mini'): 70.0,
    ('velo', 'fastmri_mini'): np.inf,
    ('velo_short', 'fastmri_mini'): 90.0,
  }
  # adam ratios (90/48 = 1.875, 1): reached at k = 29 -> (28*0.5 + 0.75 + 70) / 99
  got = scores_of(result, 'validation')
  assert got['adam'] == pytest.approx(84.75 / 99)
  assert got['velo'] == pytest.approx(0.5)
  assert got['velo_short'] == pytest.approx(44.75 / 99)


def test_quality_at_budget(two_workloads):
  step = scoring.score_experiment(two_workloads, ScoringConfig('step')).quality
  adam = lookup(step, algorithm='adam', workload='criteo1tb_mini', quantity='validation/loss')
  assert adam['mean'] == pytest.approx(0.42) and adam['std'] == pytest.approx(0.02)
  assert adam['n_studies'] == 3 and adam['n_diverged'] == 0
  ssim = lookup(step, algorithm='velo', workload='fastmri_mini', quantity='train/ssim')
  assert ssim['mean'] == pytest.approx(1.0) and ssim['std'] == pytest.approx(0.0)
  # criteo's metric is the loss: no duplicate rows
  assert set(step.loc[step['workload'] == 'criteo1tb_mini', 'quantity']) == {
    'train/loss',
    'validation/loss',
  }
  # time: velo's last evaluation within 100 s is step 7 (84 s): 0.45, 0.48, 0.40
  time = scoring.score_experiment(two_workloads, ScoringConfig('time')).quality
  velo = lookup(time, algorithm='velo', workload='criteo1tb_mini', quantity='validation/loss')
  assert velo['mean'] == pytest.approx(1.33 / 3)
  assert velo['std'] == pytest.approx(0.0404145, abs=1e-6)


def test_prompt_sensitivity(two_workloads):
  table = scoring.score_experiment(two_workloads, ScoringConfig('step')).prompt
  row = lookup(table, workload='criteo1tb_mini', split='validation')
  assert row['velo'] == 7 and row['velo_short'] == np.inf
  assert lookup(table, workload='fastmri_mini', split='train')['velo_short'] == 9


def test_no_prompt_table_without_velo_short(two_workloads):
  result = scoring.score_experiment(
    two_workloads, ScoringConfig('step', algorithms=['adam', 'velo'])
  )
  assert result.prompt is None
  assert set(result.scores['algorithm']) == {'adam', 'velo'}


def test_algoperf_targets_with_a_workload_nobody_solves(two_workloads):
  result = scoring.score_experiment(two_workloads, ScoringConfig('step', target_source='algoperf'))
  assert set(result.targets['split']) == {'validation'}
  # criteo target 0.01: nobody; fastmri 0.7: adam 7, velo 9, velo_short 9
  medians = medians_of(result, 'validation')
  assert medians[('adam', 'criteo1tb_mini')] == np.inf
  assert medians[('velo', 'criteo1tb_mini')] == np.inf
  got = scores_of(result, 'validation')
  assert got['adam'] == pytest.approx(0.5)
  assert got['velo'] == pytest.approx(44.75 / 99)


def test_paper_targets_on_stand_ins_only_when_asked(two_workloads):
  with pytest.raises(
    BenchError,
    match="'criteo1tb_mini' is an embedded stand-in for 'criteo1tb'.*--paper_targets_on_stand_ins",
  ):
    scoring.score_experiment(two_workloads, ScoringConfig('step', target_source='paper'))
  result = scoring.score_experiment(
    two_workloads, ScoringConfig('step', target_source='paper', paper_stand_ins=True)
  )
  assert set(result.targets['source']) == {'paper (criteo1tb)', 'paper (fastmri)'}
  assert lookup(
    result.targets, workload='criteo1tb_mini', split='validation'
  ).target == pytest.approx(0.12408)
  assert lookup(result.targets, workload='fastmri_mini', split='train').target == pytest.approx(
    0.74535
  )


def test_budget_override(two_workloads):
  # step budget 5: the point is 3.75 -> step 2; criteo medians adam 0.8, velo 0.7
  result = scoring.score_experiment(
    two_workloads, ScoringConfig('step', budgets_override={'criteo1tb_mini': 5})
  )
  assert lookup(
    result.targets, workload='criteo1tb_mini', split='validation'
  ).target == pytest.approx(0.7)
  # reaching 0.7 at step 2 (velo) is within 5 steps; adam reaches it at step 4
  assert medians_of(result, 'validation')[('adam', 'criteo1tb_mini')] == 4


@pytest.fixture(scope='module')
def tuned_and_diverged(tmp_path_factory):
  """ogbg_mini (mAP): nesterov has two trials in study_0; heavy_ball diverged."""
  root = tmp_path_factory.mktemp('tuned')
  common = dict(steps=STEPS, max_global_steps=10)
  write_trial(
    root,
    'nesterov',
    'study_0',
    'ogbg_mini',
    trial=1,
    train=[0.0, 0.1, 0.3, 0.4, 0.45, 0.5],
    validation=[0.0, 0.1, 0.3, 0.4, 0.45, 0.5],
    **common,
  )
  write_trial(
    root,
    'nesterov',
    'study_0',
    'ogbg_mini',
    trial=2,
    train=[0.0, 0.1, 0.2, 0.3, 0.5, 0.6],
    validation=[0.0, 0.1, 0.2, 0.3, 0.5, 0.6],
    **common,
  )
  write_trial(
    root,
    'heavy_ball',
    'study_0',
    'ogbg_mini',
    steps=[0, 2, 4],
    train=[0.1, 0.2, np.nan],
    validation=[0.1, 0.2, np.nan],
    max_global_steps=10,
    diverged_step=5,
    complete=False,
  )
  return str(root)


def test_several_trials_per_study_and_divergence(tuned_and_diverged):
  result = scoring.score_experiment(tuned_and_diverged, ScoringConfig('step'))
  # target from nesterov's trial_2 (best final 0.6): 0.3 at step 7; heavy_ball
  # diverged before the point and counts as worst.
  target = lookup(result.targets, workload='ogbg_mini', split='validation')
  assert target.target == pytest.approx(0.3) and target.best_algorithm == 'nesterov'
  # study time = earliest over trials: trial_1 reaches 0.3 at step 4
  assert medians_of(result, 'validation') == {
    ('heavy_ball', 'ogbg_mini'): np.inf,
    ('nesterov', 'ogbg_mini'): 4,
  }
  assert scores_of(result, 'validation') == {'heavy_ball': 0.0, 'nesterov': 1.0}
  quality = lookup(
    result.quality,
    algorithm='nesterov',
    workload='ogbg_mini',
    quantity='validation/mean_average_precision',
  )
  assert quality['mean'] == pytest.approx(0.6) and np.isnan(quality['std'])
  diverged = lookup(
    result.quality,
    algorithm='heavy_ball',
    workload='ogbg_mini',
    quantity='validation/mean_average_precision',
  )
  assert diverged['n_studies'] == 0 and diverged['n_diverged'] == 1
  messages = ' '.join(i.message for i in result.issues)
  assert 'diverged' in messages


def test_bootstrap_is_reproducible_and_brackets(two_workloads):
  a = scoring.score_experiment(two_workloads, ScoringConfig('step', n_bootstrap=200, seed=3))
  b = scoring.score_experiment(two_workloads, ScoringConfig('step', n_bootstrap=200, seed=3))
  pd.testing.assert_frame_equal(a.scores, b.scores)
  assert (a.scores['ci_low'] <= a.scores['ci_high']).all()
  assert ((a.scores['ci_low'] >= 0) & (a.scores['ci_high'] <= 1)).all()
  assert {'ci_low', 'ci_high'} <= set(a.quality.columns)


def test_the_result_has_the_documented_columns_and_shapes(two_workloads):
  """The contract of ScoringResult: each frame's columns as its builder documents them, and
  each profile's arrays of shape (n_taus,) and (n_algorithms, n_taus)."""
  result = scoring.score_experiment(two_workloads, ScoringConfig('step', n_bootstrap=50))
  assert list(result.targets.columns) == targets.TARGET_COLUMNS
  assert list(result.target_medians.columns) == targets.TARGET_MEDIAN_COLUMNS
  assert list(result.per_trial.columns) == time_to_target.TRIAL_COLUMNS
  assert list(result.per_study_detail.columns) == time_to_target.STUDY_KEYS + [
    'time_to_target',
    'trial',
    'n_trials',
  ]
  assert list(result.per_study.columns) == time_to_target.STUDY_KEYS + ['time_to_target']
  assert list(result.medians.columns) == [
    'algorithm',
    'workload',
    'split',
    'time_to_target',
    'n_studies',
    'n_reached',
  ]
  assert list(result.scores.columns) == scoring.SCORE_COLUMNS + ['ci_low', 'ci_high']
  assert list(result.quality.columns) == quality.QUALITY_COLUMNS + ['ci_low', 'ci_high']
  assert list(result.prompt.columns) == ['workload', 'split', 'velo', 'velo_short']
  assert set(logs.TRIAL_KEYS + ['trial_id', 'status', 'target_metric']) <= set(result.trials)
  assert result.budgets.name == 'budget' and result.budgets.index.tolist() == list(result.workloads)
  assert list(result.profiles) == ['train', 'validation']
  for split, profile in result.profiles.items():
    assert profile.split == split and profile.algorithms == result.algorithms
    assert profile.taus.shape == (100,) and profile.taus[0] == 1 and profile.taus[-1] == 4
    assert profile.rho.shape == (len(result.algorithms), 100)
    assert ((profile.rho >= 0) & (profile.rho <= 1)).all()
  assert result.condition == 'step' and result.rules.name == 'study'
  assert (result.target_source, result.trial_rule, result.past_budget) == (
    'derived',
    'earliest',
    'drop',
  )


def test_a_config_is_a_value_named_after_its_condition():
  config = ScoringConfig('time', algorithms=['adam'], budgets_override={'ogbg_mini': 5})
  assert config.algorithms == ('adam',) and config == ScoringConfig(
    'time', algorithms=('adam',), budgets_override={'ogbg_mini': 5}
  )
  with pytest.raises(TypeError):
    config.budgets_override['ogbg_mini'] = 6  # read-only
  with pytest.raises(dataclasses.FrozenInstanceError):
    config.max_tau = 2.0
  with pytest.raises(TypeError):
    ScoringConfig('time', 'algoperf')  # every setting but the condition by name
