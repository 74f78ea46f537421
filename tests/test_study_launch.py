"""The launcher: the condition's budget (and step cadence) for the local runner, and the
official runner's overrides."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from bench_core import cli
from study import launch, official

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, 'PYTHONPATH': str(REPO)}


def write(path, data):
  path.write_text(json.dumps(data))
  return str(path)


# ---- the override itself ------------------------------------------------------------------


class FakeWorkload:
  """Stands for an AlgoPerf workload class: the budget is a read-only property."""

  def __init__(self, size=1):
    self.size = size

  @property
  def max_allowed_runtime_sec(self):
    return 7703


def test_with_max_runtime_overrides_the_property_only():
  cls = official.with_overrides(FakeWorkload, 42)
  assert issubclass(cls, FakeWorkload) and cls.__name__ == 'FakeWorkload'
  assert cls(size=3).max_allowed_runtime_sec == 42 and cls(size=3).size == 3
  assert FakeWorkload().max_allowed_runtime_sec == 7703  # the original untouched


def test_overriding_import_workload_for_instances_and_classes():
  def import_workload(
    workload_path, workload_class_name, return_class=False, workload_init_kwargs=None
  ):
    return FakeWorkload if return_class else FakeWorkload(**(workload_init_kwargs or {}))

  wrapped = official.overriding_import_workload(import_workload, max_runtime_sec=99)
  instance = wrapped(
    workload_path='w.py', workload_class_name='FakeWorkload', workload_init_kwargs={'size': 5}
  )
  assert instance.max_allowed_runtime_sec == 99 and instance.size == 5
  assert isinstance(instance, FakeWorkload)
  assert wrapped('w.py', 'FakeWorkload', return_class=True)().max_allowed_runtime_sec == 99


# ---- command-line handling -----------------------------------------------------------------


def test_budgets_file_lacking_the_workload(tmp_path, capsys):
  budgets = write(tmp_path / 'b.json', {'ogbg': {'max_allowed_runtime_sec': 10}})
  rc = cli.run_main(launch.main, ['--budgets', budgets, '--', '--workload=imagenet_resnet_mini'])
  err = capsys.readouterr().err
  assert rc != 0 and "b.json: no max_allowed_runtime_sec for workload 'imagenet_resnet_mini'" in err


@pytest.mark.parametrize(
  'argv, message',
  [
    (['--budgets', 'b.json', '--workload=x'], 'runner flags after "--"'),
    (['--budgets', 'b.json', '--', '--framework=jax'], 'lack --workload'),
    (
      ['--budgets', 'b.json', '--', '--workload=ogbg_mini', '--max_allowed_runtime_sec=5'],
      'remove --max_allowed_runtime_sec',
    ),
    (['--', '--workload=nosuch_mini'], "unknown workload 'nosuch_mini'"),
  ],
)
def test_launcher_flag_errors(argv, message, capsys):
  assert cli.run_main(launch.main, argv) != 0
  assert message in capsys.readouterr().err


def launched_command(monkeypatch, argv):
  """The local-runner command ``study.launch`` would start for ``argv``."""
  commands = []
  monkeypatch.setattr(launch.subprocess, 'call', lambda cmd: commands.append(cmd) or 0)
  assert cli.run_main(launch.main, argv) == 0
  (cmd,) = commands
  assert cmd[1:3] == ['-m', 'local_runner']
  return cmd[3:]


def test_step_condition_passes_steps_no_time_limit_and_a_step_cadence(
  tmp_path, monkeypatch, capsys
):
  steps = write(tmp_path / 's.json', {'imagenet_resnet_mini': 25, 'ogbg_mini': 1200})
  flags = launched_command(
    monkeypatch,
    [
      '--condition',
      'step',
      '--step_budgets',
      steps,
      '--',
      '--workload',
      'imagenet_resnet_mini',
      '--rng_seed=1',
    ],
  )
  # 25 steps: one evaluation per step (2 % of 25 is under one step)
  assert flags == [
    '--workload',
    'imagenet_resnet_mini',
    '--rng_seed=1',
    '--max_global_steps=25',
    f'--max_allowed_runtime_sec={10**9}',
    '--eval_every_steps=1',
  ]
  flags = launched_command(
    monkeypatch, ['--condition', 'step', '--step_budgets', steps, '--', '--workload=ogbg_mini']
  )
  assert flags[-3:] == [
    '--max_global_steps=1200',
    f'--max_allowed_runtime_sec={10**9}',
    '--eval_every_steps=24',
  ]  # 2 % of 1,200
  flags = launched_command(
    monkeypatch,
    [
      '--condition',
      'step',
      '--step_budgets',
      steps,
      '--',
      '--workload=ogbg_mini',
      '--eval_every_steps=100',
    ],
  )
  assert flags.count('--eval_every_steps=100') == 1 and not any(
    f.startswith('--eval_every_steps=24') for f in flags
  )  # the user's cadence is kept
  rc = cli.run_main(
    launch.main,
    [
      '--condition',
      'step',
      '--step_budgets',
      steps,
      '--',
      '--workload=imagenet_resnet_mini',
      '--max_global_steps=3',
    ],
  )
  assert rc != 0 and 'remove it from the runner flags' in capsys.readouterr().err


def test_step_condition_gives_velo_time_its_step_budget_in_the_search_space(tmp_path, monkeypatch):
  """velo_time learns its step budget from its hyperparameters: under step control the
  launcher passes a copy of the search space holding it, beside the run folder; a search
  space without step_budget (and time control) is passed as it is."""
  steps = write(tmp_path / 's.json', {'ogbg_mini': 1200})
  space = REPO / 'tuning_search_spaces' / 'velo_time.json'
  common = ['--workload=ogbg_mini', f'--experiment_dir={tmp_path / "exp"}', '--experiment_name=s1']
  flags = launched_command(
    monkeypatch,
    [
      '--condition',
      'step',
      '--step_budgets',
      steps,
      '--',
      *common,
      f'--tuning_search_space={space}',
    ],
  )
  derived = tmp_path / 'exp' / 's1' / 'ogbg_mini_jax_tuning_search_space.json'
  assert f'--tuning_search_space={derived}' in flags and str(space) not in ' '.join(flags)
  given = json.loads(space.read_text())
  assert json.loads(derived.read_text()) == {**given, 'step_budget': {'feasible_points': [1200]}}
  adam = REPO / 'tuning_search_spaces' / 'adam.json'
  flags = launched_command(
    monkeypatch,
    [
      '--condition',
      'step',
      '--step_budgets',
      steps,
      '--',
      *common,
      f'--tuning_search_space={adam}',
    ],
  )
  assert f'--tuning_search_space={adam}' in flags
  flags = launched_command(monkeypatch, ['--', *common, f'--tuning_search_space={space}'])
  assert f'--tuning_search_space={space}' in flags


def test_time_condition_passes_the_transferred_budget_and_no_cadence(tmp_path, monkeypatch, capsys):
  budgets = write(tmp_path / 'b.json', {'imagenet_resnet_mini': {'max_allowed_runtime_sec': 8}})
  flags = launched_command(
    monkeypatch, ['--budgets', budgets, '--', '--workload=imagenet_resnet_mini']
  )
  assert flags == ['--workload=imagenet_resnet_mini', '--max_allowed_runtime_sec=8']
  assert launched_command(monkeypatch, ['--', '--workload=imagenet_resnet_mini']) == [
    '--workload=imagenet_resnet_mini'
  ]  # the workload's own budget
  rc = cli.run_main(launch.main, ['--', '--workload=ogbg_mini', '--eval_every_steps=10'])
  assert rc != 0 and 'it is for step control' in capsys.readouterr().err


def test_official_runner_gets_no_step_cadence(capsys):
  rc = cli.run_main(
    launch.main, ['--condition', 'step', '--', '--workload=criteo1tb', '--eval_every_steps=10']
  )
  assert rc != 0 and 'the official runner evaluates every eval_period_time_sec' in (
    capsys.readouterr().err
  )


# ---- a real run on the local runner (slow: its outcome depends on real time) ----------------


@pytest.mark.slow
def test_local_run_stops_at_the_transferred_budget(tmp_path):
  override = 8  # the workload's own budget is 20 s
  budgets = write(
    tmp_path / 'b.json', {'imagenet_resnet_mini': {'max_allowed_runtime_sec': override}}
  )
  # adam with a learning rate so small that the targets (which would end the run early) stay
  # out of reach: only the time budget can stop it
  space = json.loads((REPO / 'tuning_search_spaces' / 'adam.json').read_text())
  space['learning_rate'] = {'feasible_points': [1e-7]}
  space['min_learning_rate'] = {'feasible_points': [1e-7]}
  space_path = write(tmp_path / 'adam_tiny_lr.json', space)
  proc = subprocess.run(
    [
      sys.executable,
      '-m',
      'study.launch',
      '--budgets',
      budgets,
      '--',
      '--workload=imagenet_resnet_mini',
      '--submission_path=submissions/adam/submission.py',
      f'--tuning_search_space={space_path}',
      f'--experiment_dir={tmp_path}',
      '--experiment_name=launch',
      '--rng_seed=1',
      '--overwrite',
    ],
    cwd=REPO,
    env=ENV,
    capture_output=True,
    text=True,
    timeout=120,
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  trial = tmp_path / 'launch' / 'imagenet_resnet_mini_jax' / 'trial_1'
  meta = json.loads((trial / 'meta_data_0.json').read_text())
  assert meta['workload.max_allowed_runtime_sec'] == override
  summary = json.loads((trial / 'trial_complete.json').read_text())
  assert summary['is_time_remaining'] is False  # stopped by the time budget
  assert not summary['validation_goal_reached']
  eval_period = meta['workload.eval_period_time_sec']
  final_time = pd.read_csv(trial / 'measurements.csv')['score'].max()
  assert override <= final_time < override + eval_period + 2.0  # one eval period (+ a slow step)
  evals_csv = trial / 'eval_measurements.csv'
  if evals_csv.exists():  # absent only if compiling step 1 took the whole budget
    assert (pd.read_csv(evals_csv)['accumulated_submission_time'] < override).all()


# ---- the official runner -----------------------------------------------------------------------

HAS_ALGOPERF = importlib.util.find_spec('algoperf') is not None


@pytest.mark.algoperf
@pytest.mark.skipif(
  not HAS_ALGOPERF,
  reason='the official algoperf package is not installed '
  '(make install-algoperf; make test-official runs this)',
)
def test_official_workload_class_gets_the_transferred_budget():
  from algoperf.workloads import workloads

  metadata = workloads.WORKLOADS['mnist']
  path = os.path.join(
    workloads.BASE_WORKLOADS_DIR, metadata['workload_path'] + '_jax', 'workload.py'
  )
  wrapped = official.overriding_import_workload(workloads.import_workload, max_runtime_sec=123)
  cls = wrapped(
    workload_path=path, workload_class_name=metadata['workload_class_name'], return_class=True
  )
  original = workloads.import_workload(
    workload_path=path, workload_class_name=metadata['workload_class_name'], return_class=True
  )
  assert cls().max_allowed_runtime_sec == 123
  assert original().max_allowed_runtime_sec != 123


def test_stop_on_targets_off_hides_reached_targets():
  class Workload:
    def has_reached_validation_target(self, eval_result):
      return True

    def has_reached_test_target(self, eval_result):
      return True

  keeps_going = official.with_overrides(Workload, stop_on_targets=False)()
  assert not keeps_going.has_reached_validation_target({})
  assert not keeps_going.has_reached_test_target({})
  assert official.with_overrides(Workload)().has_reached_test_target({})


def test_official_flags_are_made_to_work_from_any_directory(tmp_path):
  flags = [
    '--workload=mnist',
    f'--submission_path={REPO}/submissions/nadamw/submission.py',
    '--tuning_search_space=tuning_search_spaces/nadamw.json',
    '--experiment_dir=exp',
    '--resume_last_run',
    '--nostop_on_targets',
    '--data_dir',
    'data',
  ]
  workdir, out = official.prepared_flags(flags)
  assert workdir == REPO
  assert out[-2:] == ['--submission_path=submissions/nadamw/submission.py', '--overwrite']
  assert f'--experiment_dir={Path("exp").resolve()}' in out
  assert f'--data_dir={Path("data").resolve()}' in out and 'data' not in out
  assert '--resume_last_run' not in out and '--nostop_on_targets' not in out
  assert '--framework=jax' in out
  outside = tmp_path / 'mine.py'
  outside.write_text('')
  assert official.submission_location(outside) == (tmp_path, 'mine.py')


def test_expected_trials_follow_the_hparam_range():
  assert official.expected_trials([]) == [1]
  assert official.expected_trials(['--num_tuning_trials=5', '--hparam_start_index=2']) == [3, 4, 5]
  assert official.expected_trials(['--tuning_ruleset=self', '--num_tuning_trials=5']) == [1]
