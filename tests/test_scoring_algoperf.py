"""scoring_ext against AlgoPerf's own scoring code, on excerpts of its published baseline logs.

Needs AlgoPerf's ``scoring`` package (the repository's ``scoring/`` folder, installed with
algoperf): ``make test-official``. Three comparisons on tests/data/algoperf_logs:

1. the evaluations read from each text log equal those of AlgoPerf's log parser
   (``scoring_utils.get_trials_df_dict``);
2. the per-workload time to target equals that of AlgoPerf's
   ``performance_profile.get_workloads_time_to_target`` (time column ``score``, its own
   workload targets, its multi-trial rule) fed with that parser's output;
3. the same through eval_measurements.csv files: AlgoPerf's ``get_experiment_df`` reads the
   CSVs written from the same evaluations, and ``scoring_ext`` reads them too;
4. ``--rules algoperf`` alone (no other scoring flag) gives AlgoPerf's times, through the
   library and through ``python -m scoring_ext.report``.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench_core import cli, layout
from scoring_ext import report, scoring
from scoring_ext.scoring import ScoringConfig
from scoring_ext.read import textlogs

HAS_ALGOPERF_SCORING = (
  importlib.util.find_spec('algoperf') is not None
  and importlib.util.find_spec('scoring') is not None
)
pytestmark = [
  pytest.mark.algoperf,
  pytest.mark.skipif(
    not HAS_ALGOPERF_SCORING,
    reason="AlgoPerf's scoring package (algoperf + scoring/) is not "
    'importable; make test-official runs this',
  ),
]

EXCERPT = Path(__file__).resolve().parent / 'data' / 'algoperf_logs' / 'external_tuning'
WORKLOADS = ('criteo1tb', 'ogbg')


@pytest.fixture(scope='module')
def algoperf():
  from scoring import performance_profile, scoring_utils

  return performance_profile, scoring_utils


def published_logs():
  return sorted(EXCERPT.glob('baseline/study_*/*_jax/*.log'))


def algoperf_rows_from_logs(scoring_utils) -> pd.DataFrame:
  """AlgoPerf's submission table (one row per trial, arrays per column), from its parser."""
  rows = []
  for log in published_logs():
    for run, frame in scoring_utils.get_trials_df_dict(str(log)).items():
      row = {
        'workload': log.parent.name,
        'study': log.parent.parent.name,
        'trial': (f'trial_{run}', str(log.parent)),
      }
      row.update({column: frame[column].to_numpy() for column in frame.columns})
      rows.append(row)
  return pd.DataFrame(rows)


def assert_only_the_trial_without_evaluations_differs(ours: dict) -> None:
  """The excerpt's ``fastmri`` trial ran (its metadata is there) and logged nothing: AlgoPerf's
  scorer does not see it, scoring_ext counts it as a miss under every rule set (issue 22), so
  ours has that one workload more, a miss; every other workload is AlgoPerf's."""
  assert sorted(ours) == sorted([*WORKLOADS, 'fastmri'])
  assert ours['fastmri'] == np.inf


def validation_medians(result) -> dict:
  medians = result.medians[result.medians['split'] == 'validation']
  return dict(zip(medians['workload'], medians['time_to_target']))


def test_text_log_evaluations_equal_algoperf_parser(algoperf):
  _, scoring_utils = algoperf
  assert published_logs()
  for log in published_logs():
    theirs = scoring_utils.get_trials_df_dict(str(log))
    ours, problems = textlogs.read_logs([log])
    assert not problems
    assert sorted(int(k) for k in theirs) == sorted(ours)
    for run, frame in theirs.items():
      mine = textlogs.evaluations_frame(ours[int(run)])
      assert len(mine) == len(frame) > 0
      for column in frame.columns:
        np.testing.assert_array_equal(
          mine[column].to_numpy(dtype=float), frame[column].to_numpy(dtype=float), err_msg=column
        )


def test_time_to_target_equals_algoperf_on_text_logs(algoperf):
  performance_profile, scoring_utils = algoperf
  submission = algoperf_rows_from_logs(scoring_utils)
  theirs = performance_profile.get_workloads_time_to_target(
    submission, 'baseline', time_col='score'
  )
  result = scoring.score_experiment(
    str(EXCERPT),
    ScoringConfig('time', target_source='algoperf', trial_rule='algoperf', past_budget='keep'),
  )
  ours = validation_medians(result)
  assert sorted(theirs.columns) == list(WORKLOADS)
  assert_only_the_trial_without_evaluations_differs(ours)
  for workload in WORKLOADS:
    assert ours[workload] == theirs.at['baseline', workload], workload
  # the excerpt is not trivial: a criteo1tb study misses, and in the others both trials reach
  # the target at the same evaluation index but not at the same time, so scoring_ext's default
  # rule (earliest time) gives another answer than AlgoPerf's
  assert not np.isfinite(result.per_study_detail['time_to_target']).all()
  earliest = scoring.score_experiment(
    str(EXCERPT), ScoringConfig('time', target_source='algoperf', past_budget='keep')
  )
  assert validation_medians(earliest)['criteo1tb'] < theirs.at['baseline', 'criteo1tb']


def test_time_to_target_equals_algoperf_on_csv_files(algoperf, tmp_path):
  performance_profile, scoring_utils = algoperf
  experiment = tmp_path / 'baseline'
  for log in published_logs():
    runs, _ = textlogs.read_logs([log])
    for k, run in runs.items():
      trial = experiment / log.parent.parent.name / log.parent.name / f'trial_{k}'
      trial.mkdir(parents=True)
      for name in (layout.META_DATA, layout.FLAGS):
        (trial / name).write_bytes((log.parent / f'trial_{k}' / name).read_bytes())
      frame = textlogs.evaluations_frame(run)
      frame[sorted(frame.columns)].to_csv(trial / layout.EVAL_MEASUREMENTS, index=False)
  submission = scoring_utils.get_experiment_df(str(experiment))
  # AlgoPerf's row order is os.listdir's; its index-tie rule takes the first row, so put the
  # rows in trial order, the order its text-log parser (and scoring_ext) use.
  order = submission['trial'].map(lambda t: int(t[0].split('_')[1]))
  submission = submission.assign(_order=order).sort_values(['study', '_order'])
  submission = submission.drop(columns='_order').reset_index(drop=True)
  theirs = performance_profile.get_workloads_time_to_target(
    submission, 'baseline', time_col='score'
  )
  result = scoring.score_experiment(
    str(tmp_path),
    ScoringConfig('time', target_source='algoperf', trial_rule='algoperf', past_budget='keep'),
  )
  assert set(result.trials['source']) == {'csv'}
  ours = validation_medians(result)
  for workload in WORKLOADS:
    assert ours[workload] == theirs.at['baseline', workload], workload


def test_rules_algoperf_alone_equals_algoperf(algoperf, tmp_path):
  performance_profile, scoring_utils = algoperf
  theirs = performance_profile.get_workloads_time_to_target(
    algoperf_rows_from_logs(scoring_utils), 'baseline', time_col='score'
  )
  ours = validation_medians(
    scoring.score_experiment(str(EXCERPT), ScoringConfig('time', rules='algoperf'))
  )
  assert_only_the_trial_without_evaluations_differs(ours)
  for workload in WORKLOADS:
    assert ours[workload] == theirs.at['baseline', workload], workload
  out = tmp_path / 'report'
  code = cli.run_main(
    report.main,
    [
      '--experiment_dir',
      str(EXCERPT),
      '--condition',
      'time',
      '--rules',
      'algoperf',
      '--out',
      str(out),
    ],
  )
  assert code == 0
  table = pd.read_csv(out / 'time_to_target.csv')
  medians = table[(table['level'] == 'median') & (table['split'] == 'validation')]
  times = dict(zip(medians['workload'], medians['time_to_target']))
  assert_only_the_trial_without_evaluations_differs(times)
  for workload in WORKLOADS:
    assert times[workload] == theirs.at['baseline', workload], workload
