"""`python -m scoring_ext.report` end to end on a generated local-runner-style tree."""

import contextlib
import io
import os
import subprocess
import sys

import pandas as pd
import pytest
from scoring_helpers import generate_tree, write_trial

from bench_core import cli
from bench_core.errors import BenchError
from scoring_ext import report, scoring
from scoring_ext.scoring import ScoringConfig
from scoring_ext import score_times as profile_cli
from study import demo

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPECTED_FILES = [
  'audit.md',
  'targets.csv',
  'time_to_target.csv',
  'scores.csv',
  'quality.csv',
  'prompt_sensitivity.csv',
  'report.md',
  'targets.tex',
  'scores.tex',
  'time_to_target_train.tex',
  'time_to_target_validation.tex',
  'quality.tex',
  'prompt_sensitivity.tex',
  'performance_profile_train.png',
  'performance_profile_train.pdf',
  'performance_profile_validation.png',
  'performance_profile_validation.pdf',
]


@pytest.fixture(scope='module')
def experiment(tmp_path_factory):
  root = tmp_path_factory.mktemp('local_runner') / 'experiment'
  generate_tree(
    str(root), n_algorithms=7, workloads=['criteo1tb_mini', 'ogbg_mini'], n_studies=2, n_evals=30
  )
  return str(root)


def run_report(argv):
  out, err = io.StringIO(), io.StringIO()
  with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    code = cli.run_main(report.main, argv)
  return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize('condition', ['time', 'step'])
def test_report_renders_all_outputs(experiment, tmp_path, condition):
  out = tmp_path / 'out'
  code, _, err = run_report(
    [
      '--experiment_dir',
      experiment,
      '--condition',
      condition,
      '--out',
      str(out),
      '--bootstrap',
      '20',
      '--seed',
      '1',
    ]
  )
  assert code == 0, err
  assert sorted(os.listdir(out)) == sorted(EXPECTED_FILES)
  for name in EXPECTED_FILES:
    assert (out / name).stat().st_size > 0, name
  text = (out / 'report.md').read_text()
  for heading in [
    '## Targets',
    '## Scores B',
    '## Median time to train target',
    '## Median time to validation target',
    '## Quality at the end of the budget',
    '## Prompt sensitivity',
    '](performance_profile_validation.png)',
  ]:
    assert heading in text
  assert (out / 'performance_profile_train.png').read_bytes()[:4] == b'\x89PNG'
  assert (out / 'performance_profile_train.pdf').read_bytes()[:4] == b'%PDF'
  assert r'\toprule' in (out / 'scores.tex').read_text()
  scores = pd.read_csv(out / 'scores.csv')
  assert list(scores.columns) == ['algorithm', 'split', 'score', 'ci_low', 'ci_high']
  assert len(scores) == 14 and scores['score'].between(0, 1).all()
  ttt = pd.read_csv(out / 'time_to_target.csv')
  assert set(ttt['level']) == {'trial', 'study', 'median'}
  assert len(ttt[ttt['level'] == 'trial']) == 7 * 2 * 2 * 2
  assert (out / 'audit.md').read_text().startswith('# Audit')


def test_report_subset_and_time_to_target_feeds_profile(experiment, tmp_path):
  out = tmp_path / 'out'
  code, _, err = run_report(
    [
      '--experiment_dir',
      experiment,
      '--condition',
      'step',
      '--out',
      str(out),
      '--algorithms',
      'adam',
      'nesterov',
      '--workloads',
      'ogbg_mini',
      '--targets',
      'paper',
      '--paper_targets_on_stand_ins',
    ]
  )
  assert code == 0, err
  assert not (out / 'prompt_sensitivity.csv').exists()
  assert set(pd.read_csv(out / 'scores.csv')['algorithm']) == {'adam', 'nesterov'}


@pytest.mark.parametrize(
  'args, message',
  [
    (['--algorithms', 'lion'], 'unknown algorithm(s) lion'),
    (['--workloads', 'wmt'], 'unknown workload(s) wmt'),
    (['--max_tau', '1'], '--max_tau must be > 1'),
    (['--budget_fraction', '0'], '--budget_fraction must be in (0, 1]'),
  ],
)
def test_bad_arguments_write_nothing(experiment, tmp_path, args, message):
  out = tmp_path / 'out'
  code, _, err = run_report(
    ['--experiment_dir', experiment, '--condition', 'time', '--out', str(out)] + args
  )
  assert code == 2
  assert message in err and 'Traceback' not in err
  assert not out.exists()


def test_missing_directory(tmp_path):
  code, _, err = run_report(
    [
      '--experiment_dir',
      str(tmp_path / 'none'),
      '--condition',
      'time',
      '--out',
      str(tmp_path / 'out'),
    ]
  )
  assert code == 2 and 'does not exist' in err
  assert not (tmp_path / 'out').exists()


def test_unknown_metric_is_a_clear_error(tmp_path):
  write_trial(
    tmp_path / 'exp',
    'adam',
    'study_0',
    'ogbg_mini',
    steps=[0, 1, 2],
    train=[0, 1, 2],
    validation=[0, 1, 2],
    metric='zork',
  )
  code, _, err = run_report(
    [
      '--experiment_dir',
      str(tmp_path / 'exp'),
      '--condition',
      'time',
      '--out',
      str(tmp_path / 'out'),
    ]
  )
  assert code == 2 and "unknown metric 'zork'" in err
  assert not (tmp_path / 'out').exists()


def test_command_line_entry_point(experiment, tmp_path):
  env = dict(os.environ, PYTHONPATH=ROOT, MPLBACKEND='Agg')
  done = subprocess.run(
    [
      sys.executable,
      '-m',
      'scoring_ext.report',
      '--experiment_dir',
      str(tmp_path / 'empty'),
      '--condition',
      'step',
      '--out',
      str(tmp_path / 'out'),
    ],
    capture_output=True,
    text=True,
    env=env,
    cwd=ROOT,
  )
  assert done.returncode == 2
  assert done.stderr.startswith('error:') and 'Traceback' not in done.stderr


def test_paper_targets_on_stand_ins_are_refused_without_the_flag(experiment, tmp_path):
  code, _, err = run_report(
    [
      '--experiment_dir',
      experiment,
      '--condition',
      'step',
      '--out',
      str(tmp_path / 'out'),
      '--targets',
      'paper',
    ]
  )
  assert code == 2 and 'is an embedded stand-in for' in err
  assert '--paper_targets_on_stand_ins' in err and not (tmp_path / 'out').exists()


def test_every_flag_is_explained_in_help():
  parser = report.build_parser()
  for action in parser._actions:
    if action.dest == 'help':
      continue
    assert action.help and len(action.help.split()) >= 6, action.dest
  text = parser.format_help()
  for phrase in [
    '--budget_fraction',
    'at which each trial',
    '--max_tau',
    'counts as a miss',
    '--targets',
    'derived (--rules study)',
    '--rules',
    'study (default)',
    '--budgets',
    'seconds under time',
    'local_time_per_step',
    '--trial_rule',
    "AlgoPerf's rule",
  ]:
    assert phrase in text, phrase


def test_profile_reads_the_reports_own_time_to_target(experiment, tmp_path):
  out = tmp_path / 'out'
  code, _, err = run_report(
    ['--experiment_dir', experiment, '--condition', 'time', '--out', str(out)]
  )
  assert code == 0, err
  scores = pd.read_csv(out / 'scores.csv')
  for split in ('validation', 'train'):
    args = ['--time_to_target', str(out / 'time_to_target.csv')]
    if split == 'train':
      args += ['--split', 'train']
    pcode, pout, perr = run_profile(args)
    assert pcode == 0, perr
    got = pd.read_csv(io.StringIO(pout)).set_index('algorithm')['score']
    want = scores[scores['split'] == split].set_index('algorithm')['score']
    pd.testing.assert_series_equal(got.sort_index(), want.sort_index(), check_names=False)
  pcode, _, perr = run_profile(
    ['--time_to_target', str(out / 'time_to_target.csv'), '--split', 'test']
  )
  assert pcode == 2 and "no median rows for split 'test'" in perr


def run_profile(argv):
  out, err = io.StringIO(), io.StringIO()
  with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    code = cli.run_main(profile_cli.main, argv)
  return code, out.getvalue(), err.getvalue()


def test_demo_quick_runs_three_studies_of_three_algorithms():
  """With two studies the median of a hit and a miss is a miss; demo-quick runs three, of
  three algorithms, so that it keeps its trial count (18, the old one had 20)."""
  makefile = open(os.path.join(ROOT, 'Makefile')).read()
  recipe = makefile.split('\ndemo-quick:', 1)[1].split('\n\n', 1)[0]
  assert '--studies 3' in recipe and '--algorithms adam nadamw nesterov' in recipe
  with pytest.raises(BenchError, match='--algorithms: lion not available here'):
    demo.main(['--algorithms', 'lion', '--experiment_dir', '/nonexistent/x'])


ALGOPERF_EXCERPT = os.path.join(ROOT, 'tests', 'data', 'algoperf_logs', 'external_tuning')


def test_rules_algoperf_sets_targets_trial_rule_and_past_budget_together(tmp_path):
  """--rules algoperf alone gives what the three flags gave together (AlgoPerf's times to
  target: tests/test_scoring_algoperf.py checks them against AlgoPerf's code); the report
  says which set was used, where it differs, and what a single flag overrode."""
  flags = scoring.score_experiment(
    ALGOPERF_EXCERPT,
    ScoringConfig('time', target_source='algoperf', trial_rule='algoperf', past_budget='keep'),
  )
  switch = scoring.score_experiment(ALGOPERF_EXCERPT, ScoringConfig('time', rules='algoperf'))
  pd.testing.assert_frame_equal(switch.medians, flags.medians)
  study = scoring.score_experiment(
    ALGOPERF_EXCERPT, ScoringConfig('time', target_source='algoperf')
  )
  criteo = {
    name: r.medians.set_index(['workload', 'split']).at[
      ('criteo1tb', 'validation'), 'time_to_target'
    ]
    for name, r in (('algoperf', switch), ('study', study))
  }
  assert round(criteo['algoperf'], 2) == 7222.52 and criteo['study'] < criteo['algoperf']
  code, _, _ = run_report(
    [
      '--experiment_dir',
      ALGOPERF_EXCERPT,
      '--condition',
      'time',
      '--out',
      str(tmp_path / 'a'),
      '--rules',
      'algoperf',
      '--past_budget',
      'drop',
    ]
  )
  assert code == 0
  text = (tmp_path / 'a' / 'report.md').read_text()
  assert "- rule set: `algoperf`, AlgoPerf's scoring code" in text
  assert (
    'differs from `study` in --targets algoperf (`study`: derived), --trial_rule algoperf' in text
  )
  assert 'overridden here: --past_budget drop' in text
  assert "- multi-trial rule: algoperf (AlgoPerf's" in text
  with pytest.raises(SystemExit) as e:
    run_report(
      [
        '--experiment_dir',
        ALGOPERF_EXCERPT,
        '--condition',
        'time',
        '--out',
        str(tmp_path / 'b'),
        '--rules',
        'other',
      ]
    )
  assert e.value.code == 2 and not (tmp_path / 'b').exists()
