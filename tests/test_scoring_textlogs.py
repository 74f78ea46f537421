"""AlgoPerf's text logs: the parser, the log files of a run folder, and trials read from them
(excerpts of AlgoPerf's published baseline logs in tests/data/algoperf_logs)."""

import ast
import math
import os
from pathlib import Path

import pytest
from scoring_helpers import write_trial

from bench_core import file_formats, layout
from scoring_ext.read import logs, textlogs
from scoring_ext.render import audit

DATA = Path(__file__).resolve().parent / 'data' / 'algoperf_logs'
PREFIX = 'I0213 13:02:46.855334 139984811284288 submission_runner.py:551] '


def evaluation_line(step, metrics):
  return f'{PREFIX}Time since start: 12.50s, \tStep: {step}, \t{metrics}\n'


def test_literals_with_jax_scalars_nan_and_inf():
  got = textlogs.parse_literal(
    "{'a': Array(0.25, dtype=float32), 'b': nan, 'c': -inf, "
    "'d': DeviceArray(3, dtype=int32), 'e': [inf, 2]}"
  )
  assert got == {'a': 0.25, 'b': None, 'c': -math.inf, 'd': 3, 'e': [math.inf, 2]}
  with pytest.raises(ValueError):
    textlogs.parse_literal("{'a': open('x')}")


def as_lists(value):
  if isinstance(value, (list, tuple)):
    return [as_lists(v) for v in value]
  if isinstance(value, dict):
    return {k: as_lists(v) for k, v in value.items()}
  return value


def test_the_json_rewrite_reads_what_ast_reads():
  lines = [
    line.split(', \t')[-1] if 'Time since start' in line else line.split('Metrics: ')[1]
    for log in DATA.rglob('*.log')
    for line in log.read_text().splitlines()
    if ('Time since start' in line or 'Metrics: ' in line) and 'Array(' not in line
  ]
  assert len(lines) > 50
  for text in lines:
    assert textlogs._as_json(text) is not None
    assert as_lists(textlogs.parse_literal(text)) == as_lists(ast.literal_eval(text))
  # what the rewrite could get wrong goes to ast
  for text in ["{'a (b)': (1, 2)}", "{'c': \"it's\"}", "{'d': (1,)}", '{1: True}']:
    assert textlogs.parse_literal(text) == ast.literal_eval(text)


def test_runs_metrics_line_first_evaluation_lines_otherwise():
  lines = [
    'python3 submission_runner.py --workload=ogbg\n',
    f'{PREFIX}--- Tuning run 1/3 ---\n',
    evaluation_line(1, {'validation/loss': 0.9, 'score': 1.0}),
    evaluation_line(50, {'validation/loss': 0.5, 'score': 9.0}),
    f"{PREFIX}Metrics: {{'eval_results': [(1, {{'validation/loss': 0.8, 'score': 1.0}}), "
    f"(50, {{'validation/loss': 0.4, 'score': 9.0}})]}}\n",
    f'{PREFIX}--- Tuning run 2/3 ---\n',
    evaluation_line(1, {'validation/loss': 0.7, 'score': 2.0}),
    f"{PREFIX}Time since start: 3.0s, \tStep: 9, \t{{'validation/loss': oops}}\n",
    f'{PREFIX}--- Tuning run 3/3 ---\n',
  ]
  runs, problems = textlogs.parse_log(lines, 'x.log')
  assert sorted(runs) == [1, 2, 3]
  assert runs[1].from_metrics_line and runs[1].evaluations == (
    (1, {'validation/loss': 0.8, 'score': 1.0}),
    (50, {'validation/loss': 0.4, 'score': 9.0}),
  )
  assert not runs[2].from_metrics_line  # stopped before its Metrics line
  assert runs[2].evaluations == ((1, {'validation/loss': 0.7, 'score': 2.0}),)
  assert runs[3].evaluations == ()  # ended before its first evaluation
  assert [line for line, _ in problems] == [8]


def test_a_rerun_in_the_same_log_starts_the_run_afresh():
  lines = [
    f'{PREFIX}--- Tuning run 1/1 ---\n',
    evaluation_line(1, {'score': 1.0}),
    f'{PREFIX}--- Tuning run 1/1 ---\n',
    evaluation_line(7, {'score': 2.0}),
  ]
  runs, _ = textlogs.parse_log(lines, 'x.log')
  assert runs[1].evaluations == ((7, {'score': 2.0}),)


def test_logs_of_a_folder_oldest_first_and_newer_runs_replace_older(tmp_path):
  run_dir = tmp_path / 'ogbg_jax'
  run_dir.mkdir()
  names = [
    'ogbg_jax_02-04-2024-21-11-51.log',
    'ogbg_jax_01-30-2025-08-00-00.log',
    'ogbg_jax_12-31-2024-23-59-59.log',
    'notes.log',
  ]
  for name in names:
    (run_dir / name).write_text(
      f'{PREFIX}--- Tuning run 1/1 ---\n' + evaluation_line(1, {'score': float(len(name))})
    )
  (run_dir / 'ogbg_jax_02-04-2024.txt').write_text('')
  paths = layout.text_logs(run_dir)
  assert [p.name for p in paths] == [
    'notes.log',
    'ogbg_jax_02-04-2024-21-11-51.log',
    'ogbg_jax_12-31-2024-23-59-59.log',
    'ogbg_jax_01-30-2025-08-00-00.log',
  ]
  runs, problems = textlogs.read_logs(paths)
  assert runs[1].log == str(paths[-1])
  assert len(problems) == 3 and all('replaces' in why for _, _, why in problems)
  assert layout.text_logs(tmp_path / 'nope') == []


@pytest.fixture(scope='module')
def published():
  return logs.load_experiment(str(DATA / 'external_tuning'))


def test_published_external_tuning_excerpt(published):
  trials = published.trials.set_index(['study', 'workload', 'trial'])
  ok = trials[trials['status'] == 'ok']
  assert set(ok['source']) == {'log'} and len(ok) == 12
  assert set(ok['n_evals']) == {5, 8}  # criteo1tb 5 evaluations kept, ogbg 8
  first = published.evals[
    (published.evals['study'] == 'study_1')
    & (published.evals['workload'] == 'criteo1tb')
    & (published.evals['trial'] == 'trial_1')
  ].iloc[0]
  assert first['global_step'] == 1 and first['validation/loss'] == 0.5934494414247642
  assert first['time'] == 19.821783542633057  # its accumulated_submission_time
  # fastmri was published without a log: the trial started (metadata) but left nothing
  fastmri = trials.loc[('study_0', 'fastmri', 'trial_1')]
  assert fastmri['status'] == 'no_evals'
  assert 'no text log' in fastmri['status_detail']
  assert 'ended before its first evaluation, or crashed' in fastmri['status_detail']
  sources = audit.sources_table(published.trials).set_index('workload')
  assert sources.at['ogbg', 'text log'] == 6 and sources.at['fastmri', 'none'] == 1


def test_published_self_tuning_logs_without_tuning_runs_or_metrics_lines():
  experiment = logs.load_experiment(str(DATA / 'self_tuning'))
  assert list(experiment.trials['status']) == ['ok', 'ok']
  speech = experiment.evals[experiment.evals['workload'] == 'librispeech_deepspeech']
  # the log writes Array(29.339128, dtype=float32)
  assert speech.iloc[0]['validation/ctc_loss'] == pytest.approx(29.339128)
  assert len(speech) == 5 and speech['global_step'].is_monotonic_increasing
  notes = ' '.join(i.message for i in experiment.issues)
  assert 'no Metrics line: the run may not have finished' in notes


def copy_excerpt(tmp_path, study='study_1', workload='criteo1tb'):
  source = DATA / 'external_tuning' / 'baseline' / study / f'{workload}_jax'
  target = tmp_path / 'exp' / 'baseline' / study / f'{workload}_jax'
  for path in source.rglob('*'):
    if path.is_file():
      (target / path.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
      (target / path.relative_to(source)).write_bytes(path.read_bytes())
  return target


def test_a_trial_with_a_csv_uses_the_csv(tmp_path):
  run_dir = copy_excerpt(tmp_path)
  write_trial(
    tmp_path / 'exp',
    'baseline',
    'study_1',
    'criteo1tb',
    trial=2,
    steps=[0, 5],
    train=[0.5, 0.2],
    validation=[0.5, 0.3],
  )
  experiment = logs.load_experiment(str(tmp_path / 'exp'))
  sources = dict(zip(experiment.trials['trial'], experiment.trials['source']))
  assert sources == {'trial_1': 'log', 'trial_2': 'csv'}
  csv_trial = experiment.evals[experiment.evals['trial'] == 'trial_2']
  assert list(csv_trial['validation/loss']) == [0.5, 0.3]
  files = dict(zip(experiment.trials['trial'], experiment.trials['evaluations_file']))
  assert files['trial_1'] == str(layout.text_logs(run_dir)[0])


def test_trials_that_ended_before_their_first_evaluation(tmp_path):
  run_dir = copy_excerpt(tmp_path)
  log = layout.text_logs(run_dir)[0]
  with open(log, 'a') as f:
    f.write(f'{PREFIX}--- Tuning run 3/5 ---\n')  # started, crashed before evaluating
  (run_dir / 'trial_3').mkdir()
  (run_dir / 'trial_4').mkdir()  # completion record, nothing else
  file_formats.mark_complete(run_dir / 'trial_4', file_formats.TrialComplete('local', num_evals=0))
  (run_dir / 'trial_5').mkdir()  # a CSV with its header only, no record
  (run_dir / 'trial_5' / layout.EVAL_MEASUREMENTS).write_text('global_step,score\n')
  experiment = logs.load_experiment(str(tmp_path / 'exp'))
  detail = dict(zip(experiment.trials['trial'], experiment.trials['status_detail']))
  assert detail['trial_3'].startswith(
    'ended before its first evaluation - e.g. compilation used the whole budget, or crashed'
  )
  assert f'{os.path.basename(log)} has tuning run 3 but no evaluation' in detail['trial_3']
  assert detail['trial_4'].startswith('ended before its first evaluation')
  assert 'trial_complete.json is there' in detail['trial_4']
  assert 'text log' not in detail['trial_4']
  assert detail['trial_5'] == (
    f'nothing shows this trial ran: eval_measurements.csv has no evaluation, the text log '
    f'({os.path.basename(log)}) has no tuning run 5, no meta_data_0.json, no trial_complete.json'
  )
  status = dict(zip(experiment.trials['trial'], experiment.trials['status']))
  assert status == {
    'trial_1': 'ok',
    'trial_2': 'ok',
    'trial_3': 'no_evals',  # it ran (the log shows it): a miss
    'trial_4': 'no_evals',
    'trial_5': 'empty',  # damaged: left out, named
  }
