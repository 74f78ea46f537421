"""Several trials per study: scoring_ext's rule (earliest time) and AlgoPerf's (first evaluation
index, then that trial's time), trial counts in the audit, evaluations past the budget.

Tree (ogbg_mini, maximised mAP, AlgoPerf target 0.5, time budget 100 s, time = step):

- adam study_0 trial_1 evaluates every 10 steps and first reaches 0.5 at its 4th evaluation
  (index 3, t = 30); trial_2 evaluates every 2 steps and reaches it at index 12 (t = 24).
  earliest -> 24 (trial_2); AlgoPerf -> index 3 < 12 -> trial_1, t = 30.
- adam study_1 has one trial, reaching 0.5 at t = 50.
- nadamw study_0 reaches 0.5 only at t = 120, past the 100 s budget; study_1 at t = 60.
"""

import contextlib
import io

import numpy as np
import pandas as pd
import pytest
from scoring_helpers import write_trial

from bench_core import cli
from scoring_ext import report, scoring
from scoring_ext.scoring import ScoringConfig
from scoring_ext.compute import time_to_target as ttt
from scoring_ext.render import audit

COMMON = dict(runtime=100.0, validation_target=0.5, max_global_steps=200)


def curve(steps, first_hit):
  """mAP per evaluation: 0.1 before `first_hit` (a step), 0.6 from there on."""
  return np.where(np.asarray(steps) >= first_hit, 0.6, 0.1)


@pytest.fixture(scope='module')
def tree(tmp_path_factory):
  root = tmp_path_factory.mktemp('multitrial')

  def trial(algorithm, study, k, steps, first_hit):
    values = curve(steps, first_hit)
    write_trial(
      root,
      algorithm,
      study,
      'ogbg_mini',
      trial=k,
      steps=steps,
      times=steps,
      train=values,
      validation=values,
      **COMMON,
    )

  trial('adam', 'study_0', 1, np.arange(0, 50, 10), 30)
  trial('adam', 'study_0', 2, np.arange(0, 42, 2), 24)
  trial('adam', 'study_1', 1, np.arange(0, 80, 10), 50)
  trial('nadamw', 'study_0', 1, np.arange(0, 130, 10), 120)
  trial('nadamw', 'study_1', 1, np.arange(0, 100, 10), 60)
  return str(root)


def validation(result, table='medians'):
  frame = getattr(result, table)
  return frame[frame['split'] == 'validation']


def score(tree, **kwargs):
  return scoring.score_experiment(tree, ScoringConfig('time', target_source='algoperf', **kwargs))


def test_the_two_rules_differ_when_cadences_differ(tree):
  earliest = validation(score(tree), 'per_study_detail').set_index(['algorithm', 'study'])
  algoperf = validation(score(tree, trial_rule='algoperf'), 'per_study_detail').set_index(
    ['algorithm', 'study']
  )
  assert earliest.loc[('adam', 'study_0'), ['time_to_target', 'trial']].tolist() == [
    24.0,
    'trial_2',
  ]
  assert algoperf.loc[('adam', 'study_0'), ['time_to_target', 'trial']].tolist() == [
    30.0,
    'trial_1',
  ]
  assert earliest.loc[('adam', 'study_0'), 'n_trials'] == 2
  # a study with one trial is the same under both rules
  assert (
    earliest.loc[('adam', 'study_1'), 'time_to_target']
    == algoperf.loc[('adam', 'study_1'), 'time_to_target']
    == 50.0
  )


def test_medians_and_counts_under_each_rule(tree):
  earliest = validation(score(tree)).set_index('algorithm')
  algoperf = validation(score(tree, trial_rule='algoperf')).set_index('algorithm')
  assert earliest.at['adam', 'time_to_target'] == 37.0  # median(24, 50)
  assert algoperf.at['adam', 'time_to_target'] == 40.0  # median(30, 50)
  # nadamw's study_0 reaches the target only past the budget: a miss, so median(inf, 60)
  assert earliest.at['nadamw', 'time_to_target'] == np.inf
  assert earliest.at['nadamw', 'n_reached'] == 1 and earliest.at['nadamw', 'n_studies'] == 2


def test_evaluations_past_the_budget_count_only_when_kept(tree):
  kept = validation(score(tree, past_budget='keep'), 'per_study_detail')
  nadamw = kept[kept['algorithm'] == 'nadamw'].set_index('study')['time_to_target']
  assert nadamw.to_dict() == {'study_0': 120.0, 'study_1': 60.0}
  assert (
    validation(score(tree, past_budget='keep'))
    .set_index('algorithm')
    .at['nadamw', 'time_to_target']
    == 90.0
  )


def test_ties_on_the_index_go_to_the_lowest_trial_number():
  per_trial = pd.DataFrame(
    {
      'algorithm': 'a',
      'workload': 'w',
      'split': 'validation',
      'study': 's',
      'trial': ['trial_10', 'trial_2', 'trial_3'],
      'trial_id': [0, 1, 2],
      'time_to_target': [5.0, 9.0, 7.0],
      'hit_index': [4, 4, 4],
    }
  )
  chosen = ttt.study_times_to_target(per_trial, 'algoperf').iloc[0]
  assert (chosen['trial'], chosen['time_to_target']) == ('trial_2', 9.0)
  assert ttt.study_times_to_target(per_trial, 'earliest').iloc[0]['trial'] == 'trial_10'


def test_audit_shows_trials_per_study(tree):
  result = score(tree)
  table = audit.trials_per_study_table(result.trials).set_index('algorithm')
  assert table.at['adam', 'ogbg_mini'] == '2/1'
  assert table.at['nadamw', 'ogbg_mini'] == '1/1'


def test_report_says_which_rule_and_keeps_the_chosen_trial(tree, tmp_path):
  out = tmp_path / 'out'
  err = io.StringIO()
  with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
    code = cli.run_main(
      report.main,
      [
        '--experiment_dir',
        tree,
        '--condition',
        'time',
        '--out',
        str(out),
        '--targets',
        'algoperf',
        '--trial_rule',
        'algoperf',
        '--past_budget',
        'keep',
      ],
    )
  assert code == 0, err.getvalue()
  text = (out / 'report.md').read_text()
  assert "- multi-trial rule: algoperf (AlgoPerf's: the trial whose evaluation index" in text
  assert "- evaluations past the budget: counted, as in AlgoPerf's scoring code" in text
  assert '- multi-trial rule: algoperf' in (out / 'audit.md').read_text()
  assert '## Trials per study' in (out / 'audit.md').read_text()
  long = pd.read_csv(out / 'time_to_target.csv')
  study = long[
    (long['level'] == 'study') & (long['algorithm'] == 'adam') & (long['study'] == 'study_0')
  ].iloc[0]
  assert (study['trial'], study['time_to_target'], study['n_trials']) == ('trial_1', 30.0, 2)
