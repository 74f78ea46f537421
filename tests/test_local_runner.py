"""The local runner: log layout, the evaluation and budget rules (on a fake clock), step
cadence, train_state, divergence, flag checks and clean failed starts."""

import json
import subprocess
import sys
from fractions import Fraction

import jax
import numpy as np
import pandas as pd
import probe_log
import pytest
from conftest import FIXTURES, REPO
from fake_clock import FakeClock

from bench_core.errors import BenchError
from local_runner import evaluation_rule
from local_runner.runner import RunConfig, run
from local_runner.train_state import TrainState
from local_runner.trial_loop import _step_rngs

PROBE = str(FIXTURES / 'probe_submission.py')
NO_TIME_LIMIT = 10**9

# Fake durations, binary fractions so that every sum is exact: a step takes 1/16 s, an
# evaluation 1/32 s; the tiny workload's eval_period_time_sec is 0.2 s.
STEP, EVAL = 1 / 16, 1 / 32


def probe_space(tmp_path, points):
  path = tmp_path / 'space.json'
  full = [
    {'learning_rate': 0.1, 'finish_at': -1, 'sleep': 0.0, 'prepare_sec': 0.0, 'blow_up_at': -1, **p}
    for p in points
  ]
  path.write_text(json.dumps(full))
  return str(path)


def run_probe(
  tmp_path, workload, points=({},), clock=None, eval_seconds=0.0, messages=None, name='e', **kw
):
  """Trials of the probe submission; with ``clock``, steps and evaluations advance it."""
  probe_log.reset(clock, eval_seconds)
  config = RunConfig(
    workload=workload,
    submission_path=PROBE,
    tuning_search_space=probe_space(tmp_path, points),
    experiment_dir=str(tmp_path / 'exp'),
    experiment_name=name,
    rng_seed=3,
    num_tuning_trials=len(points),
    **kw,
  )
  progress = (lambda m: None) if messages is None else messages.append
  try:
    summaries = run(config, progress=progress, **({'clock': clock} if clock else {}))
  finally:
    probe_log.use_clock(None)
  return summaries, tmp_path / 'exp' / name / f'{workload}_jax'


def evals(trial_dir):
  return pd.read_csv(trial_dir / 'eval_measurements.csv')


def time_rule_eval_steps(max_steps, step_sec, eval_sec, period_sec, prepare_sec=0.0):
  """The official rule, simulated independently in exact rationals: the steps evaluated."""
  step, eval_, period, prepare = map(Fraction, (step_sec, eval_sec, period_sec, prepare_sec))
  now, last_eval_end, steps = Fraction(0), None, []
  for k in range(1, max_steps + 1):
    now += step
    if last_eval_end is None or now - last_eval_end >= period or k == max_steps:
      now += prepare + eval_
      last_eval_end = now
      steps.append(k)
  return steps


# ---- the evaluation rule, exactly, on a fake clock --------------------------------------------


def test_time_rule_first_evaluation_after_step_1_then_every_period(tmp_path, tiny_workload):
  clock = FakeClock(start=0.0)  # even a clock that starts at 0 evaluates after step 1
  [summary], root = run_probe(
    tmp_path, tiny_workload, [{'sleep': STEP}], clock=clock, eval_seconds=EVAL, max_global_steps=14
  )
  df = evals(root / 'trial_1')
  # Step 1 (t = 1/16), evaluation until 3/32; 0.2 s later is step 5 (4 steps of 1/16 s after
  # the evaluation), then every 4 steps; step 14 is the last, with its final evaluation.
  assert list(df['global_step']) == [1, 5, 9, 13, 14]
  assert list(df['global_step']) == time_rule_eval_steps(14, STEP, EVAL, 0.2)
  assert list(df['score']) == [k * STEP for k in (1, 5, 9, 13, 14)]  # evaluations untimed
  assert list(df['accumulated_eval_time']) == [n * EVAL for n in range(1, 6)]
  assert list(df['total_duration']) == [
    k * STEP + n * EVAL for n, k in enumerate((1, 5, 9, 13, 14), start=1)
  ]
  assert summary['score'] == 14 * STEP and summary['num_evals'] == 5
  assert summary['evaluation_rule'] == 'after step 1, then every 0.2 s of wall time'


def test_prepare_for_eval_counts_as_submission_time(tmp_path, tiny_workload):
  prepare = 1 / 64
  [summary], root = run_probe(
    tmp_path,
    tiny_workload,
    [{'sleep': STEP, 'prepare_sec': prepare}],
    clock=FakeClock(),
    eval_seconds=EVAL,
    max_global_steps=9,
  )
  df = evals(root / 'trial_1')
  assert list(df['global_step']) == time_rule_eval_steps(9, STEP, EVAL, 0.2, prepare) == [1, 5, 9]
  assert list(df['score']) == [1 * STEP + prepare, 5 * STEP + 2 * prepare, 9 * STEP + 3 * prepare]


def test_time_budget_is_checked_on_submission_time_at_evaluations(tmp_path, tiny_workload):
  [summary], root = run_probe(
    tmp_path,
    tiny_workload,
    [{'sleep': STEP}],
    clock=FakeClock(),
    eval_seconds=EVAL,
    max_allowed_runtime_sec=0.75,
  )
  # Evaluations after steps 1, 5, 9 (0.5625 s < 0.75 s); at step 13 the next one is due but
  # 13/16 = 0.8125 s is past the budget: no evaluation, the trial stops there.
  assert list(evals(root / 'trial_1')['global_step']) == [1, 5, 9]
  assert summary['global_step'] == 13 and summary['score'] == 13 * STEP
  assert not summary['is_time_remaining'] and not summary['training_complete']
  assert summary['stop_reason'] == 'time budget spent'
  assert summary['condition'] == 'time'  # recorded in trial_complete.json for the scoring
  final = pd.read_csv(root / 'trial_1' / 'measurements.csv').iloc[-1]
  assert final['score'] == 13 * STEP and final['global_step'] == 13
  meta = json.loads((root / 'trial_1' / 'meta_data_0.json').read_text())
  assert meta['workload.max_allowed_runtime_sec'] == 0.75


SELF_TUNED = """
import optax
import probe_log

from submissions import _common

_, init_optimizer_state, _update, prepare_for_eval, data_selection = (
  _common.Submission('self_tuned', lambda hp, workload: optax.sgd(0.1), {}).functions())


def get_batch_size(workload_name):
  return 64


def update_params(*args, **kwargs):
  probe_log.pause(0.25)
  return _update(*args, **kwargs)
"""


@pytest.mark.parametrize('ruleset, steps', [('self', 6), ('external', 4)])
def test_self_tuning_ruleset_gets_one_and_a_half_budgets(tmp_path, tiny_workload, ruleset, steps):
  submission = tmp_path / 'self_tuned.py'
  submission.write_text(SELF_TUNED)
  space = tmp_path / 'empty.json'
  space.write_text('[{}]')
  probe_log.reset(FakeClock())
  try:
    [summary] = run(
      RunConfig(
        workload=tiny_workload,
        submission_path=str(submission),
        tuning_ruleset=ruleset,
        experiment_dir=str(tmp_path / 'exp'),
        tuning_search_space=str(space) if ruleset == 'external' else None,
        max_allowed_runtime_sec=1.0,
        rng_seed=1,
      ),
      progress=lambda m: None,
      clock=probe_log.CLOCK,
    )
  finally:
    probe_log.use_clock(None)
  # Steps of 0.25 s, each longer than the 0.2 s period: the budget is checked after every step
  # and the trial stops at the first step reaching it: 1.5 s (self-tuning) or 1 s.
  assert summary['global_step'] == steps and summary['score'] == steps * 0.25
  assert summary['num_evals'] == steps - 1


def test_trial_that_spends_its_budget_in_step_1_says_so(tmp_path, tiny_workload):
  messages = []
  [summary], root = run_probe(
    tmp_path,
    tiny_workload,
    [{'sleep': 2.0}],
    clock=FakeClock(),
    messages=messages,
    max_allowed_runtime_sec=1.0,
  )
  assert summary['global_step'] == 1 and summary['num_evals'] == 0
  assert 'compilation used the whole budget' in summary['no_evaluation_reason']
  assert any('ended before its first evaluation' in m for m in messages)
  record = json.loads((root / 'trial_1' / 'trial_complete.json').read_text())
  assert record['no_evaluation_reason'] == summary['no_evaluation_reason']
  assert not (root / 'trial_1' / 'eval_measurements.csv').exists()


# ---- step cadence -------------------------------------------------------------------------------


def test_step_cadence_evaluates_at_the_same_steps_and_metrics_at_any_speed(tmp_path, tiny_workload):
  runs = []
  for name, step_sec in (('fast', STEP), ('slow', 1.0)):
    [summary], root = run_probe(
      tmp_path,
      tiny_workload,
      [{'sleep': step_sec}],
      clock=FakeClock(),
      eval_seconds=EVAL,
      name=name,
      max_global_steps=10,
      eval_every_steps=4,
      max_allowed_runtime_sec=NO_TIME_LIMIT,
    )
    runs.append(evals(root / 'trial_1'))
    assert summary['evaluation_rule'] == 'after step 1, then every 4 steps'
  fast, slow = runs
  assert list(fast['global_step']) == list(slow['global_step']) == [1, 4, 8, 10]
  metrics = [c for c in fast.columns if c.startswith(('train/', 'validation/', 'test/'))]
  pd.testing.assert_frame_equal(fast[metrics], slow[metrics])
  assert list(slow['score']) == [1.0, 4.0, 8.0, 10.0] != list(fast['score'])
  # The time rule instead evaluates after every step when steps are longer than the period.
  assert time_rule_eval_steps(10, 1.0, EVAL, 0.2) == list(range(1, 11))


@pytest.mark.parametrize(
  'budget, every', [(1, 1), (49, 1), (99, 1), (100, 2), (800, 16), (2000, 40), (150_000, 3000)]
)
def test_default_cadence_is_at_most_two_percent_of_the_step_budget(budget, every):
  assert evaluation_rule.default_eval_every_steps(budget) == every
  assert every == 1 or every <= 0.02 * budget


def test_time_rule_and_step_cadence_as_functions():
  rule = evaluation_rule.TimeRule(2.0)
  assert rule.is_due(1, 0.0, None)  # no evaluation yet
  assert not rule.is_due(7, 11.99, 10.0) and rule.is_due(7, 12.0, 10.0)
  cadence = evaluation_rule.StepCadence(5)
  assert [k for k in range(1, 17) if cadence.is_due(k, 0.0, None)] == [1, 5, 10, 15]
  assert evaluation_rule.rule_for(2.0, None) == rule
  assert evaluation_rule.rule_for(2.0, 5) == cadence


# ---- train_state and stop conditions ----------------------------------------------------------


def test_train_state_passed_with_the_algoperf_keys_and_times(tmp_path, tiny_workload):
  clock = FakeClock(start=500.0)
  run_probe(
    tmp_path, tiny_workload, [{'sleep': STEP}], clock=clock, eval_seconds=EVAL, max_global_steps=3
  )
  seen = list(probe_log.SEEN_TRAIN_STATES)
  keys = {
    'accumulated_submission_time',
    'accumulated_eval_time',
    'accumulated_logging_time',
    'last_eval_time',
    'last_step_end_time',
    'is_time_remaining',
    'training_complete',
    'validation_goal_reached',
    'test_goal_reached',
  }
  assert seen and all(set(s) == keys for s in seen)
  # Submission time before steps 0, 1, 2; last_eval_time is 0 until the evaluation after step 1
  # ends (clock 500 + 1/16 + 1/32), as AlgoPerf starts it.
  assert [s['accumulated_submission_time'] for s in seen] == [0.0, STEP, 2 * STEP]
  assert [s['last_eval_time'] for s in seen] == [0.0, 500 + STEP + EVAL, 500 + STEP + EVAL]
  assert [s['last_step_end_time'] for s in seen] == [
    500.0,
    500 + STEP + EVAL,
    500 + 2 * STEP + EVAL,
  ]


def test_train_state_mapping_is_read_only():
  mapping = TrainState(accumulated_submission_time=3.0).as_mapping()
  assert mapping['accumulated_submission_time'] == 3.0 and mapping['last_eval_time'] == 0.0
  with pytest.raises(TypeError):
    mapping['is_time_remaining'] = False


def test_max_global_steps_stops_with_a_final_evaluation(tmp_path, tiny_workload):
  [summary], root = run_probe(tmp_path, tiny_workload, max_global_steps=7)
  df = evals(root / 'trial_1')
  assert summary['global_step'] == 7 and probe_log.SEEN_STEPS == list(range(7))
  assert df['global_step'].iloc[0] == 1 and df['global_step'].iloc[-1] == 7
  assert summary['stop_reason'] == 'training complete'
  # a step cap under a real time budget is still time control
  assert summary['condition'] == 'time'


def test_training_complete_error_ends_the_run(tmp_path, tiny_workload):
  [summary], root = run_probe(tmp_path, tiny_workload, [{'finish_at': 4, 'learning_rate': 0.0}])
  assert summary['global_step'] == 5 and summary['training_complete']
  assert evals(root / 'trial_1')['global_step'].iloc[-1] == 5


def test_divergence_is_recorded_and_the_next_trial_still_runs(tmp_path, tiny_workload):
  summaries, root = run_probe(tmp_path, tiny_workload, [{'blow_up_at': 3}, {}], max_global_steps=10)
  assert [s['diverged'] for s in summaries] == [True, False]
  assert summaries[0]['stop_reason'] == 'diverged'
  diverged = json.loads((root / 'trial_1' / 'diverged.json').read_text())
  assert diverged['global_step'] == 4
  assert (root / 'trial_1' / 'trial_complete.json').is_file()
  assert not (root / 'trial_2' / 'diverged.json').exists()
  assert evals(root / 'trial_2')['global_step'].iloc[-1] == 10


def test_stop_on_targets_off_runs_the_whole_budget(tmp_path, tiny_workload):
  [summary], root = run_probe(
    tmp_path, tiny_workload, max_global_steps=150, eval_every_steps=10, stop_on_targets=False
  )
  df = evals(root / 'trial_1')
  assert summary['global_step'] == 150 and summary['validation_goal_reached']
  assert list(df['global_step']) == [1, *range(10, 151, 10)]
  assert (df['validation/accuracy'] >= 0.9).sum() >= 2  # kept going after reaching it


def test_targets_stop_the_run_at_the_first_evaluation_reaching_both(tmp_path, tiny_workload):
  [summary], root = run_probe(tmp_path, tiny_workload, max_global_steps=150, eval_every_steps=10)
  df = evals(root / 'trial_1')
  assert summary['stop_reason'] == 'targets reached' and summary['global_step'] < 150
  reached = (df['validation/accuracy'] >= 0.9) & (df['test/accuracy'] >= 0.9)
  assert reached.iloc[-1] and not reached.iloc[:-1].any()


# ---- a real workload, the log layout --------------------------------------------------------


def test_adam_on_imagenet_resnet_mini_reaches_target_and_writes_algoperf_layout(tmp_path):
  # Step control (800 steps, an evaluation every 16): the outcome does not depend on the machine.
  config = RunConfig(
    workload='imagenet_resnet_mini',
    submission_path=str(REPO / 'submissions/adam/submission.py'),
    tuning_search_space=str(REPO / 'tuning_search_spaces/adam.json'),
    experiment_dir=str(tmp_path),
    experiment_name='x',
    rng_seed=1,
    max_global_steps=800,
    eval_every_steps=16,
    max_allowed_runtime_sec=NO_TIME_LIMIT,
  )
  [summary] = run(config, progress=lambda m: None)
  trial = tmp_path / 'x' / 'imagenet_resnet_mini_jax' / 'trial_1'
  for name in (
    'eval_measurements.csv',
    'measurements.csv',
    'hparams.json',
    'meta_data_0.json',
    'flags_0.json',
    'trial_complete.json',
  ):
    assert (trial / name).is_file(), name
  df = evals(trial)
  assert list(df.columns) == sorted(df.columns)
  for col in (
    'accumulated_eval_time',
    'accumulated_logging_time',
    'accumulated_submission_time',
    'global_step',
    'preemption_count',
    'score',
    'total_duration',
    'train/loss',
    'train/accuracy',
    'validation/loss',
    'validation/accuracy',
    'test/loss',
    'test/accuracy',
    'validation/num_examples',
  ):
    assert col in df.columns, col
  assert (df['score'] == df['accumulated_submission_time']).all()
  assert df['score'].is_monotonic_increasing
  assert list(df['global_step']) == [1, *range(16, 16 * len(df) - 15, 16)]
  # Stopped because both targets were reached, at the first evaluation reaching them.
  assert summary['validation_goal_reached'] and summary['test_goal_reached']
  assert df['validation/accuracy'].iloc[-1] >= 0.97 and df['test/accuracy'].iloc[-1] >= 0.965
  assert not (
    (df['validation/accuracy'].iloc[:-1] >= 0.97) & (df['test/accuracy'].iloc[:-1] >= 0.965)
  ).any()
  meta = json.loads((trial / 'meta_data_0.json').read_text())
  assert meta['workload.max_allowed_runtime_sec'] == NO_TIME_LIMIT and meta['rng_seed'] == 1
  assert meta['workload.target_metric_name'] == 'accuracy'
  assert json.loads((trial / 'hparams.json').read_text())['learning_rate'] == 0.005
  flags = json.loads((trial / 'flags_0.json').read_text())
  assert flags['workload'] == 'imagenet_resnet_mini' and flags['eval_every_steps'] == 16


# ---- experiment folders -------------------------------------------------------------------------


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


def test_a_failed_start_leaves_no_folder_behind(tmp_path, tiny_workload):
  with pytest.raises(
    BenchError,
    match=r'probe_submission.py: init_optimizer_state failed.*'
    r"'learning_rate' must be a finite number, got 'fast'",
  ):
    run_probe(tmp_path, tiny_workload, [{'learning_rate': 'fast'}], max_global_steps=2)
  assert not (tmp_path / 'exp').exists()
  # The corrected run starts without --overwrite.
  [summary], root = run_probe(tmp_path, tiny_workload, max_global_steps=2)
  assert summary['global_step'] == 2 and (root / 'trial_1' / 'trial_complete.json').is_file()


# ---- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
  'field, value, message',
  [
    ('workload', 'no_such_workload', 'unknown workload .no_such_workload.'),
    ('workload', 'criteo1tb', 'official AlgoPerf workload'),
    ('submission_path', 'missing.py', 'missing.py does not exist'),
    ('max_global_steps', 0, '--max_global_steps must be a positive integer, got 0'),
    ('max_global_steps', -5, '--max_global_steps must be a positive integer, got -5'),
    ('num_tuning_trials', 0, '--num_tuning_trials must be a positive integer, got 0'),
    ('eval_every_steps', 0, '--eval_every_steps must be a positive integer, got 0'),
    ('max_allowed_runtime_sec', 0.0, '--max_allowed_runtime_sec must be positive'),
    ('tuning_ruleset', 'internal', '--tuning_ruleset must be "external" or "self"'),
    ('hparam_start_index', 3, r'--hparam_start_index must be in \[0, 1\]'),
    ('hparam_start_index', 1, 'select none of the 1 trial'),
  ],
)
def test_bad_input_names_the_flag_or_file(tmp_path, field, value, message):
  kwargs = dict(
    workload='imagenet_resnet_mini',
    submission_path=PROBE,
    tuning_search_space=probe_space(tmp_path, [{}]),
    experiment_dir=str(tmp_path / 'exp'),
  )
  kwargs[field] = str(tmp_path / value) if field == 'submission_path' else value
  with pytest.raises(BenchError, match=message):
    run(RunConfig(**kwargs))
  assert not (tmp_path / 'exp').exists()


def test_submission_lacking_an_api_function_is_refused(tmp_path):
  bad = tmp_path / 'bad.py'
  bad.write_text('def get_batch_size(name):\n  return 8\n')
  with pytest.raises(BenchError, match='lacks the AlgoPerf function.*init_optimizer_state'):
    run(
      RunConfig(
        workload='imagenet_resnet_mini',
        submission_path=str(bad),
        tuning_search_space=probe_space(tmp_path, [{}]),
        experiment_dir=str(tmp_path),
      )
    )


def test_cli_refuses_bad_flags_without_traceback_or_folder(tmp_path):
  space = tmp_path / 'space.json'
  space.write_text('{"learning_rate": {"feasible_points": [0.1]},')
  common = [
    '--workload=imagenet_resnet_mini',
    f'--submission_path={REPO}/submissions/adam/submission.py',
    f'--experiment_dir={tmp_path}/exp',
  ]
  for extra, message in (
    ([f'--tuning_search_space={space}'], f'{space}: not valid JSON'),
    (
      [f'--tuning_search_space={space}', '--num_tuning_trials=0'],
      '--num_tuning_trials must be a positive integer, got 0',
    ),
  ):
    result = subprocess.run(
      [sys.executable, '-m', 'local_runner', *common, *extra],
      capture_output=True,
      text=True,
      cwd=REPO,
    )
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and 'Traceback' not in result.stderr
  assert not (tmp_path / 'exp').exists()


def test_step_keys_are_algoperfs_fold_in_and_split():
  rng = jax.random.PRNGKey(11)
  for step in (0, 1, 799):
    expected = jax.random.split(jax.random.fold_in(rng, step), 4)
    assert all(np.array_equal(a, b) for a, b in zip(_step_rngs(rng, step), expected))
