"""The launcher: a trial's run configuration (the condition's budget, the step cadence, the
search space) written once and read by the runner; the official runner's flags, built in one
place, and its budget, given by the mechanism the local runner uses too."""

import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from bench_core import cli, file_formats, run_config
from bench_core.errors import BenchError
from local_runner import __main__ as local_main
from local_runner import runner as local_runner
from study import launch, official, runner_flags
from study.trial import TrialSpec

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, 'PYTHONPATH': str(REPO)}
ADAM = REPO / 'submissions' / 'adam' / 'submission.py'
ADAM_SPACE = REPO / 'tuning_search_spaces' / 'adam.json'


def write(path, data):
  path.write_text(json.dumps(data))
  return str(path)


# ---- the budget, one mechanism for both runners ---------------------------------------------


class FakeWorkload:
  """Stands for an AlgoPerf workload class: the budget is a read-only property."""

  def __init__(self, size=1):
    self.size = size

  @property
  def max_allowed_runtime_sec(self):
    return 7703


def official_config(tmp_path, **fields):
  return TrialSpec('adam', 'mnist', 'time', 1, 1, tmp_path, **fields).run_config()


def test_budgeted_overrides_the_property_only():
  cls = run_config.budgeted(FakeWorkload, 42)
  assert issubclass(cls, FakeWorkload) and cls.__name__ == 'FakeWorkload'
  assert cls(size=3).max_allowed_runtime_sec == 42 and cls(size=3).size == 3
  assert FakeWorkload().max_allowed_runtime_sec == 7703  # the original untouched
  assert run_config.budgeted(FakeWorkload) is FakeWorkload  # nothing to override


def test_overriding_import_workload_for_instances_and_classes(tmp_path):
  def import_workload(
    workload_path, workload_class_name, return_class=False, workload_init_kwargs=None
  ):
    return FakeWorkload if return_class else FakeWorkload(**(workload_init_kwargs or {}))

  config = dataclasses.replace(official_config(tmp_path), max_allowed_runtime_sec=99)
  wrapped = official.overriding_import_workload(import_workload, config)
  instance = wrapped(
    workload_path='w.py', workload_class_name='FakeWorkload', workload_init_kwargs={'size': 5}
  )
  assert instance.max_allowed_runtime_sec == 99 and instance.size == 5
  assert isinstance(instance, FakeWorkload)


def test_local_runner_takes_its_budget_by_the_same_mechanism(tmp_path, monkeypatch):
  """The local runner builds its workload as ``run_config.budgeted`` of the class."""
  calls = []
  real = run_config.budgeted
  monkeypatch.setattr(
    run_config, 'budgeted', lambda cls, *a: calls.append((cls.__name__, *a)) or real(cls, *a)
  )
  monkeypatch.setattr(local_runner, '_run_trials', lambda config, workload, *rest: workload)
  workload = local_runner.run(
    local_runner.RunConfig(
      workload='ogbg_mini',
      submission_path=str(ADAM),
      experiment_dir=str(tmp_path),
      tuning_search_space=str(ADAM_SPACE),
      max_allowed_runtime_sec=9,
    )
  )
  assert calls == [('OgbgMiniWorkload', 9, None)] and workload.max_allowed_runtime_sec == 9


# ---- the run configuration: resolved once, written once, read by the runner ------------------


def test_submit_writes_the_configuration_once_and_the_local_runner_reads_it(tmp_path, monkeypatch):
  """make submit -> python -m local_runner --run_config=F (study.launch --config F passes an
  embedded trial on the same way): the file is written once (by submit), and the local runner
  builds its run from it."""
  writes, commands = [], []
  real_write = file_formats.dump_run_config
  monkeypatch.setattr(
    file_formats, 'dump_run_config', lambda c, *a: writes.append(c) or real_write(c, *a)
  )
  monkeypatch.setattr('study.submit.subprocess.call', lambda cmd: commands.append(cmd) or 0)
  steps = write(tmp_path / 's.json', {'ogbg_mini': 300})
  argv = ['--opt', 'velo_time', '--workload', 'ogbg_mini', '--condition', 'step']
  argv += ['--step_budgets', steps, '--experiment_dir', str(tmp_path / 'exp')]
  assert cli.run_main(__import__('study.submit').submit.main, argv) == 0
  (config,) = writes
  ((python, m, module, option),) = commands
  assert (m, module) == ('-m', 'local_runner') and option.startswith('--run_config=')
  path = option.split('=', 1)[1]
  assert file_formats.load_run_config(path) == config
  assert config.max_global_steps == 300 and config.eval_every_steps == 6  # 2 % of 300
  assert config.hyperparameter_overrides == {'step_budget': 300}
  assert json.loads(Path(config.tuning_search_space).read_text())['step_budget'] == {
    'feasible_points': [300]
  }  # velo_time learns its step budget from its search space
  launched = []
  monkeypatch.setattr(launch.subprocess, 'call', lambda cmd: launched.append(cmd) or 0)
  assert cli.run_main(launch.main, ['--config', path]) == 0
  assert launched == [[sys.executable, '-m', 'local_runner', f'--run_config={path}']]
  assert len(writes) == 1  # launching wrote nothing
  local_main.FLAGS([sys.executable, f'--run_config={path}'])
  try:
    read = local_main.config_from_flags()
  finally:
    local_main.FLAGS.unparse_flags()
  assert (read.workload, read.max_global_steps, read.eval_every_steps) == ('ogbg_mini', 300, 6)
  assert read.max_allowed_runtime_sec == config.max_allowed_runtime_sec
  assert read.tuning_search_space == config.tuning_search_space and read.resume_last_run


def test_a_file_of_another_kind_is_refused_as_a_run_configuration(tmp_path):
  path = write(tmp_path / 'b.json', {'ogbg_mini': {'max_allowed_runtime_sec': 14}})
  with pytest.raises(
    BenchError, match='b.json: this is a time budgets file.*expected a run configuration'
  ):
    file_formats.load_run_config(path)
  config = TrialSpec('adam', 'ogbg_mini', 'time', 1, 1, tmp_path).run_config()
  data = {'kind': file_formats.RUN_CONFIG, **config.to_json(), 'budget': 3}
  with pytest.raises(BenchError, match='unknown field.*budget'):
    file_formats.load_run_config(write(tmp_path / 'c.json', data))


# ---- command-line handling -----------------------------------------------------------------


def test_budgets_file_lacking_the_workload(tmp_path, capsys):
  budgets = write(tmp_path / 'b.json', {'ogbg': {'max_allowed_runtime_sec': 10}})
  rc = cli.run_main(launch.main, ['--budgets', budgets, '--', *hand_flags(tmp_path)])
  err = capsys.readouterr().err
  assert rc != 0 and "b.json: no max_allowed_runtime_sec for workload 'imagenet_resnet_mini'" in err


def hand_flags(tmp_path, workload='imagenet_resnet_mini', space=ADAM_SPACE):
  """Runner flags as a user types them after ``--``."""
  return [
    f'--workload={workload}',
    f'--submission_path={ADAM}',
    f'--tuning_search_space={space}',
    f'--experiment_dir={tmp_path / "exp"}',
    '--experiment_name=s1',
  ]


@pytest.mark.parametrize(
  'argv, message',
  [
    (['--budgets', 'b.json', '--workload=x'], 'runner flags after "--"'),
    (['--budgets', 'b.json', '--', '--framework=jax'], 'lack --workload'),
    (['--', '--workload=ogbg_mini'], 'lack --submission_path'),
    (['--', '--workload=nosuch_mini'], "unknown workload 'nosuch_mini'"),
    (['--config', 'c.json', '--', '--workload=ogbg_mini'], 'not both'),
  ],
)
def test_launcher_flag_errors(argv, message, capsys):
  assert cli.run_main(launch.main, argv) != 0
  assert message in capsys.readouterr().err


def test_the_launcher_sets_the_budget(tmp_path, capsys):
  flags = [*hand_flags(tmp_path, 'ogbg_mini'), '--max_allowed_runtime_sec=5']
  assert cli.run_main(launch.main, ['--', *flags]) != 0
  assert 'remove --max_allowed_runtime_sec' in capsys.readouterr().err
  flags = [*hand_flags(tmp_path), '--max_global_steps=3']
  assert cli.run_main(launch.main, ['--condition', 'step', '--', *flags]) != 0
  assert 'remove it from the runner flags' in capsys.readouterr().err


def launched_config(monkeypatch, argv):
  """The run configuration ``study.launch`` hands the local runner for ``argv``."""
  commands = []
  monkeypatch.setattr(launch.subprocess, 'call', lambda cmd: commands.append(cmd) or 0)
  assert cli.run_main(launch.main, argv) == 0
  (cmd,) = commands
  assert cmd[1:3] == ['-m', 'local_runner'] and cmd[3].startswith('--run_config=')
  return file_formats.load_run_config(cmd[3].split('=', 1)[1]), cmd[4:]


def test_step_condition_gives_steps_no_time_limit_and_a_step_cadence(tmp_path, monkeypatch):
  steps = write(tmp_path / 's.json', {'imagenet_resnet_mini': 25, 'ogbg_mini': 1200})
  step = ['--condition', 'step', '--step_budgets', steps, '--']
  config, extra = launched_config(
    monkeypatch, [*step, *hand_flags(tmp_path), '--rng_seed', '1', '--num_tuning_trials=2']
  )
  # 25 steps: one evaluation per step (2 % of 25 is under one step)
  assert (config.max_global_steps, config.max_allowed_runtime_sec) == (25, 10**9)
  assert config.eval_every_steps == 1 and config.rng_seed == 1
  assert extra == ['--num_tuning_trials=2']  # flags a configuration does not model: passed on
  config, _ = launched_config(monkeypatch, [*step, *hand_flags(tmp_path, 'ogbg_mini')])
  assert (config.max_global_steps, config.eval_every_steps) == (1200, 24)  # 2 % of 1,200
  config, _ = launched_config(
    monkeypatch, [*step, *hand_flags(tmp_path, 'ogbg_mini'), '--eval_every_steps=100']
  )
  assert config.eval_every_steps == 100  # the user's cadence is kept


def test_step_condition_gives_velo_time_its_step_budget_in_the_search_space(tmp_path, monkeypatch):
  """velo_time learns its step budget from its hyperparameters: under step control the
  configuration names a copy of the search space holding it, beside the run folder; a search
  space without step_budget (and time control) is named as it is."""
  steps = write(tmp_path / 's.json', {'ogbg_mini': 1200})
  space = REPO / 'tuning_search_spaces' / 'velo_time.json'
  step = ['--condition', 'step', '--step_budgets', steps, '--']
  config, _ = launched_config(monkeypatch, [*step, *hand_flags(tmp_path, 'ogbg_mini', space)])
  derived = tmp_path / 'exp' / 's1' / 'ogbg_mini_jax_tuning_search_space.json'
  assert config.tuning_search_space == str(derived) and config.search_space_source == str(space)
  given = json.loads(space.read_text())
  assert json.loads(derived.read_text()) == {**given, 'step_budget': {'feasible_points': [1200]}}
  config, _ = launched_config(monkeypatch, [*step, *hand_flags(tmp_path, 'ogbg_mini')])
  assert config.tuning_search_space == str(ADAM_SPACE) and not config.hyperparameter_overrides
  config, _ = launched_config(monkeypatch, ['--', *hand_flags(tmp_path, 'ogbg_mini', space)])
  assert config.tuning_search_space == str(space)


def test_time_condition_gives_the_transferred_budget_and_no_cadence(tmp_path, monkeypatch, capsys):
  budgets = write(tmp_path / 'b.json', {'imagenet_resnet_mini': {'max_allowed_runtime_sec': 8}})
  config, _ = launched_config(monkeypatch, ['--budgets', budgets, '--', *hand_flags(tmp_path)])
  assert config.max_allowed_runtime_sec == 8 and config.eval_every_steps is None
  config, _ = launched_config(monkeypatch, ['--', *hand_flags(tmp_path)])
  assert config.max_allowed_runtime_sec == 20  # the workload's own budget
  flags = [*hand_flags(tmp_path, 'ogbg_mini'), '--eval_every_steps=10']
  assert cli.run_main(launch.main, ['--', *flags]) != 0
  assert 'it is for step control' in capsys.readouterr().err


def test_official_runner_gets_no_step_cadence(tmp_path, capsys):
  flags = [*hand_flags(tmp_path, 'criteo1tb'), '--eval_every_steps=10']
  rc = cli.run_main(launch.main, ['--condition', 'step', '--', *flags])
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
def test_official_workload_class_gets_the_transferred_budget(tmp_path, monkeypatch):
  monkeypatch.setenv('ALGOPERF_PYTHON', sys.executable)
  from algoperf.workloads import workloads

  metadata = workloads.WORKLOADS['mnist']
  path = os.path.join(
    workloads.BASE_WORKLOADS_DIR, metadata['workload_path'] + '_jax', 'workload.py'
  )
  wrapped = official.overriding_import_workload(
    workloads.import_workload,
    dataclasses.replace(official_config(tmp_path), max_allowed_runtime_sec=123),
  )
  cls = wrapped(
    workload_path=path, workload_class_name=metadata['workload_class_name'], return_class=True
  )
  original = workloads.import_workload(
    workload_path=path, workload_class_name=metadata['workload_class_name'], return_class=True
  )
  assert cls().max_allowed_runtime_sec == 123
  assert original().max_allowed_runtime_sec != 123


def test_stop_on_targets_off_hides_reached_targets(tmp_path):
  class Workload:
    def has_reached_validation_target(self, eval_result):
      return True

    def has_reached_test_target(self, eval_result):
      return True

  keeps_going = official.with_overrides(Workload, official_config(tmp_path))()
  assert not keeps_going.has_reached_validation_target({})
  assert not keeps_going.has_reached_test_target({})
  stops = official_config(tmp_path, stop_on_targets=True)
  assert official.with_overrides(Workload, stops)().has_reached_test_target({})


def test_official_flags_are_built_from_the_configuration_in_one_place(tmp_path, monkeypatch):
  """``runner_flags.official_argv``: every path absolute but the submission's, relative to
  the folder it is imported from; --overwrite always (study.official keeps finished runs)."""
  monkeypatch.chdir(tmp_path)
  config = official_config(
    Path('exp'), data_dir='data', max_global_steps=7, extra_runner_flags=('--skip_evals',)
  )
  workdir, argv = runner_flags.official_argv(config)
  assert workdir == REPO
  assert argv == [
    '--workload=mnist',
    '--framework=jax',
    '--submission_path=submissions/adam/submission.py',
    f'--tuning_search_space={REPO}/tuning_search_spaces/adam.json',
    f'--experiment_dir={tmp_path}/exp/time/adam',
    '--rng_seed=1',
    '--overwrite',
    '--experiment_name=study_1',
    f'--data_dir={tmp_path}/data',
    '--max_global_steps=7',
    '--skip_evals',
  ]
  outside = tmp_path / 'mine.py'
  outside.write_text('')
  assert runner_flags.submission_location(outside) == (tmp_path, 'mine.py')


def test_runner_flags_are_read_in_absl_forms():
  given, extra = runner_flags.parse(
    ['--workload', 'ogbg', '--nostop_on_targets', '--rng_seed=3', '--save_checkpoints=false']
  )
  assert given == {'workload': 'ogbg', 'stop_on_targets': False, 'rng_seed': 3}
  assert extra == ('--save_checkpoints=false',)


def test_expected_trials_follow_the_hparam_range(tmp_path):
  def trials(*flags):
    return runner_flags.expected_trials(official_config(tmp_path, extra_runner_flags=flags))

  assert trials() == [1]
  assert trials('--num_tuning_trials=5', '--hparam_start_index=2') == [3, 4, 5]
  assert trials('--tuning_ruleset=self', '--num_tuning_trials=5') == [1]
