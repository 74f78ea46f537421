"""The study layer's trial spec: search spaces, budgets checked up front, make submit, SLURM."""

import json
import sys

import pytest
from conftest import REPO

from bench_core import cli, file_formats
from bench_core.errors import BenchError
from study import budgets, runners, slurm, submit, sweep
from study.trial import TrialSpec


def test_placeholder_prompts_are_refused_unless_allowed(tmp_path, monkeypatch):
  monkeypatch.setenv('ALGOPERF_PYTHON', sys.executable)
  trial = TrialSpec('velo', 'ogbg', 'time', 1, 1, tmp_path)
  with pytest.raises(BenchError, match='placeholder.*--allow_placeholder_prompts'):
    trial.run_config()
  allowed = TrialSpec('velo', 'ogbg', 'time', 1, 1, tmp_path, allow_placeholder_prompts=True)
  assert allowed.run_config().tuning_search_space == str(
    REPO / 'tuning_search_spaces/placeholder/velo/ogbg.json'
  )
  step = TrialSpec('velo', 'ogbg', 'step', 1, 1, tmp_path)  # step prompts are real
  assert step.run_config().tuning_search_space == f'{REPO}/tuning_search_spaces/step/velo/ogbg.json'


def test_official_trials_use_the_algoperf_interpreter(tmp_path, monkeypatch):
  monkeypatch.setenv('ALGOPERF_PYTHON', '/opt/algoperf/bin/python')
  trial = TrialSpec('nadamw', 'criteo1tb', 'time', 2, 2, tmp_path, data_dir=str(tmp_path / 'd'))
  cmd = trial.command()
  assert cmd == [
    '/opt/algoperf/bin/python',
    '-m',
    'study.launch',
    '--config',
    str(trial.config_file),
  ]
  assert trial.run_config().data_dir == str(tmp_path / 'd')
  assert (
    TrialSpec('nadamw', 'criteo1tb_mini', 'time', 1, 1, tmp_path).command()[0] == sys.executable
  )
  assert (
    TrialSpec('adam', 'ogbg_mini', 'time', 1, 1, tmp_path, data_dir='d').run_config().data_dir
    is None
  )


@pytest.mark.parametrize(
  'content, message',
  [
    (None, 'b.json: file not found'),
    (
      {'ogbg_mini': {'max_allowed_runtime_sec': 10}},
      "no max_allowed_runtime_sec for workload 'criteo1tb_mini'",
    ),
    ({'criteo1tb_mini': {'max_allowed_runtime_sec': 'soon'}}, 'must be a positive number'),
    ([1, 2], 'expected a JSON object'),
  ],
)
def test_budgets_are_checked_before_any_trial_starts(tmp_path, content, message, capsys):
  path = tmp_path / 'b.json'
  if content is not None:
    path.write_text(json.dumps(content))
  argv = [
    '--algorithms',
    'adam',
    '--workloads',
    'criteo1tb_mini',
    '--studies',
    '1',
    '--conditions',
    'time',
    '--experiment_dir',
    str(tmp_path / 'exp'),
    '--budgets',
    str(path),
  ]
  assert cli.run_main(sweep.main, argv) == cli.INPUT_ERROR_EXIT
  assert message in capsys.readouterr().err
  assert not (tmp_path / 'exp').exists()  # nothing started


def test_step_budgets_of_embedded_and_official_workloads(tmp_path):
  assert budgets.step_budget('imagenet_resnet_mini') == 800  # its step_hint
  assert budgets.step_budget('criteo1tb') == 7000  # the protocol's
  steps = tmp_path / 's.json'
  steps.write_text(json.dumps({'ogbg': 10}))
  with pytest.raises(BenchError, match="s.json: no step budget for workload 'fastmri'"):
    budgets.step_budget('fastmri', str(steps))


def test_submit_names_unknown_workloads_and_skips_finished_trials(tmp_path, capsys, monkeypatch):
  assert cli.run_main(submit.main, ['--opt', 'adam', '--workload', 'nosuch_mini']) != 0
  assert "unknown workload 'nosuch_mini'" in capsys.readouterr().err
  trial = TrialSpec('adam', 'ogbg_mini', 'time', 1, 1, tmp_path)
  trial.trial_dir.mkdir(parents=True)
  (trial.trial_dir / 'trial_complete.json').write_text('{}')
  monkeypatch.setattr(submit.subprocess, 'call', lambda cmd: pytest.fail('must not run'))
  assert (
    cli.run_main(
      submit.main, ['--opt', 'adam', '--workload', 'ogbg_mini', '--experiment_dir', str(tmp_path)]
    )
    == 0
  )
  assert 'OVERWRITE=1' in capsys.readouterr().out


def test_slurm_defaults_work_on_a_cpu_partition(tmp_path, monkeypatch):
  monkeypatch.setenv('ALGOPERF_PYTHON', '/opt/algoperf/bin/python')
  trials = sweep.plan(
    ['adam', 'heavy_ball'],
    ['imagenet_resnet_mini', 'criteo1tb'],
    2,
    ['time', 'step'],
    0,
    tmp_path / 'exp',
  )
  script = tmp_path / 'sweep.sbatch'
  commands = slurm.write_slurm(
    script, trials, tmp_path / 'exp' / 'slurm_logs', partition='cpu'
  ).commands
  text = script.read_text()
  assert f'#SBATCH --array=0-{len(trials) - 1}' in text and '#SBATCH --partition=cpu' in text
  assert 'gpus' not in text and (tmp_path / 'exp' / 'slurm_logs').is_dir()
  lines = commands.read_text().splitlines()
  assert len(lines) == len(trials)
  for trial, line in zip(trials, lines):  # array index i runs line i + 1: trial i
    expected_python = (
      '/opt/algoperf/bin/python' if trial.workload == 'criteo1tb' else sys.executable
    )
    expected = (
      f'{expected_python} -m study.launch --config {trial.config_file}'
      if trial.workload == 'criteo1tb'
      else f'{expected_python} -m local_runner --run_config={trial.config_file}'
    )
    assert line == expected
    config = file_formats.load_run_config(trial.config_file)  # SLURM tasks run from the file
    assert config == trial.run_config() and not config.overwrite
    assert config.experiment_name == f'study_{trial.study}' and config.workload == trial.workload
  commands = slurm.write_slurm(
    script,
    trials,
    tmp_path / 'logs',
    partition=None,
    gpus=8,
    cpus=4,
    mem='32G',
    setup='source /env/bin/activate',
    extra=['--account=abc'],
  ).commands
  text = script.read_text()
  for line in (
    '#SBATCH --gpus-per-task=8',
    '#SBATCH --cpus-per-task=4',
    '#SBATCH --mem=32G',
    '#SBATCH --account=abc',
    'source /env/bin/activate',
  ):
    assert line in text
  assert all(
    line.startswith(('python -m study.launch --config', 'python -m local_runner --run_config='))
    for line in commands.read_text().splitlines()
  )


def test_official_python_is_found_or_named(tmp_path, monkeypatch):
  monkeypatch.delenv('ALGOPERF_PYTHON', raising=False)
  monkeypatch.setattr(runners, 'official_runner_importable', lambda: False)
  monkeypatch.setattr(runners, 'ALGOPERF_VENV', tmp_path / 'venv')
  with pytest.raises(
    BenchError, match="'fastmri' needs the official AlgoPerf runner.*fastmri_mini"
  ):
    runners.python_for('fastmri')
  (tmp_path / 'venv' / 'bin').mkdir(parents=True)
  (tmp_path / 'venv' / 'bin' / 'python').write_text('')
  assert runners.python_for('fastmri') == str(tmp_path / 'venv' / 'bin' / 'python')


def test_data_dir_expands_the_workload_name(tmp_path, monkeypatch):
  monkeypatch.setenv('ALGOPERF_PYTHON', sys.executable)
  trial = TrialSpec('adam', 'ogbg', 'time', 1, 1, tmp_path, data_dir=str(tmp_path / '{workload}'))
  assert trial.run_config().data_dir == str(tmp_path / 'ogbg')
