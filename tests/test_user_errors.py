"""Bad input from a user (issue 23): each case gives a named error before any work, and leaves
nothing behind; finished trials are compared with the request; trial folders are locked."""

import json
import os
import shlex
import signal
import subprocess
import sys

import numpy as np
import pytest
from conftest import FIXTURES, REPO
import tiny_workload as tiny_workload_module
from flax import serialization

import velo
from bench_core import arguments, cli, file_formats, layout
from bench_core.errors import BenchError
from hardware_transfer import step_prompt, transfer
from local_runner import search_space
from local_runner.runner import RunConfig, run
from study import budgets, cores, demo, launch, locate, probe, slurm, submit, sweep
from study.trial import TrialSpec
from velo import download
from velo.theta_spec import EXPECTED_THETA_SHAPES


def write(path, data):
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(json.dumps(data) if not isinstance(data, str) else data)
  return str(path)


def argparse_error(main, argv, capsys) -> str:
  """The message of an argparse refusal (exit status 2) of ``main(argv)``."""
  with pytest.raises(SystemExit) as exit_:
    cli.run_main(main, argv)
  assert exit_.value.code == 2
  return capsys.readouterr().err


def bench_error(main, argv, capsys) -> str:
  """The one-line error of ``main(argv)`` through the CLI wrapper (exit status 2)."""
  assert cli.run_main(main, argv) == cli.INPUT_ERROR_EXIT
  err = capsys.readouterr().err
  assert err.startswith('error: ') and 'Traceback' not in err
  return err


def tree(path):
  """Every path under ``path`` (to show that nothing was written)."""
  return sorted(str(p.relative_to(path)) for p in path.rglob('*')) if path.exists() else []


# ---- counts ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
  'main, argv, named',
  [
    (submit.main, ['--opt', 'nadamw', '--workload', 'ogbg_mini', '--seed', '-1'], '--seed'),
    (submit.main, ['--opt', 'nadamw', '--workload', 'ogbg_mini', '--seed', '0'], '--seed'),
    (sweep.main, ['--algorithms', 'adam', '--workloads', 'ogbg_mini', '--jobs', '0'], '--jobs'),
    (sweep.main, ['--algorithms', 'adam', '--workloads', 'ogbg_mini', '--jobs', '-1'], '--jobs'),
    (
      sweep.main,
      ['--algorithms', 'adam', '--workloads', 'ogbg_mini', '--seed_base', '-5'],
      '--seed_base',
    ),
    (
      sweep.main,
      ['--algorithms', 'adam', '--workloads', 'ogbg_mini', '--studies', '0'],
      '--studies',
    ),
    (demo.main, ['--jobs', '0'], '--jobs'),
    (demo.main, ['--step_jobs', '0'], '--step_jobs'),
    (
      probe.main,
      ['--opt', 'adam', '--workload', 'ogbg_mini', '--num_gpus', '0', '--out', 'm.json'],
      '--num_gpus',
    ),
    (download.main, ['--timeout', '-1'], '--timeout'),
    (download.main, ['--timeout', 'nan'], '--timeout'),
  ],
)
def test_a_bad_count_is_named_before_anything_is_written(
  main, argv, named, tmp_path, monkeypatch, capsys
):
  monkeypatch.chdir(tmp_path)
  err = argparse_error(main, argv, capsys)
  assert f'argument {named}: must be' in err
  assert tree(tmp_path) == []


def test_count_types_say_what_is_allowed():
  assert arguments.count(1)('3') == 3
  with pytest.raises(Exception, match='must be an integer >= 1, got 0'):
    arguments.count(1)('0')
  with pytest.raises(Exception, match="must be an integer >= 0, got 'x'"):
    arguments.count(0)('x')


# ---- paths that will be written -----------------------------------------------------------------


@pytest.fixture
def a_file(tmp_path):
  """A plain file: any path under it cannot be created."""
  path = tmp_path / 'a_file'
  path.write_text('x')
  return path


def test_check_writable_refuses_without_creating_anything(tmp_path, a_file):
  with pytest.raises(BenchError, match='--out .*cannot be created, .*a_file is a file'):
    arguments.check_writable(a_file / 'sub' / 'out.json', '--out')
  with pytest.raises(BenchError, match='--out .*is a folder'):
    arguments.check_writable(tmp_path, '--out')
  with pytest.raises(BenchError, match='exists and is not a folder'):
    arguments.check_writable(a_file, '--out_dir', kind='folder')
  assert arguments.check_writable(tmp_path / 'new' / 'deep' / 'x.json', '--out')
  assert tree(tmp_path) == ['a_file']


def test_transfer_refuses_an_unwritable_out_before_reading(tmp_path, a_file, capsys):
  measured = write(
    tmp_path / 'm.json', {'ogbg_mini': {'steps': 10, 'runtime_sec': 1.0, 'num_gpus': 1}}
  )
  err = bench_error(
    transfer.main, ['--measured', measured, '--out', str(a_file / 'b.json')], capsys
  )
  assert '--out' in err and 'is a file' in err


def test_transfer_writes_out_budgets_json_by_default(tmp_path, monkeypatch, capsys):
  monkeypatch.chdir(tmp_path)
  measured = write(
    tmp_path / 'm.json', {'ogbg_mini': {'steps': 10, 'runtime_sec': 1.0, 'num_gpus': 1}}
  )
  assert cli.run_main(transfer.main, ['--measured', measured]) == 0
  assert 'ogbg_mini' in json.loads((tmp_path / 'out' / 'budgets.json').read_text())


def test_sweep_refuses_an_unwritable_slurm_file_before_writing_any(tmp_path, a_file, capsys):
  exp = tmp_path / 'exp'
  argv = ['--algorithms', 'adam', '--workloads', 'ogbg_mini', '--studies', '1']
  argv += [
    '--conditions',
    'step',
    '--experiment_dir',
    str(exp),
    '--slurm',
    str(a_file / 's.sbatch'),
  ]
  err = bench_error(sweep.main, argv, capsys)
  assert '--slurm' in err and 'is a file' in err
  assert not exp.exists()


def test_demo_refuses_a_page_without_its_block_before_running(tmp_path, monkeypatch, capsys):
  page = tmp_path / 'demo_results.md'
  page.write_text('# no results block\n')
  ran = []
  monkeypatch.setattr(sweep, 'run_sweep', lambda *a, **k: ran.append(a) or [])
  exp = tmp_path / 'exp'
  argv = ['--workloads', 'ogbg_mini', '--studies', '1', '--algorithms', 'adam']
  argv += ['--experiment_dir', str(exp), '--report_dir', str(tmp_path / 'r'), '--page', str(page)]
  err = bench_error(demo.main, argv, capsys)
  assert '--page' in err and 'demo-results' in err
  assert ran == [] and not exp.exists()


def test_download_refuses_an_unwritable_out_before_downloading(
  tmp_path, a_file, monkeypatch, capsys
):
  fetched = []
  monkeypatch.setattr(download, '_fetch', lambda *a: fetched.append(a) or b'')
  err = bench_error(download.main, ['--out', str(a_file / 'theta.msgpack')], capsys)
  assert '--out' in err and 'is a file' in err
  assert fetched == []


# ---- plausible budgets, prompts and hyperparameters ----------------------------------------------


def test_a_budget_of_1e30_seconds_is_refused_naming_the_field(tmp_path):
  path = write(tmp_path / 'b.json', {'ogbg_mini': {'max_allowed_runtime_sec': 1e30}})
  with pytest.raises(
    BenchError, match=r'ogbg_mini.max_allowed_runtime_sec.*not plausible.*1 to 1e\+09'
  ):
    budgets.time_budget('ogbg_mini', path)


def test_a_large_but_possible_budget_is_accepted_with_a_warning(tmp_path, capsys):
  path = write(tmp_path / 'b.json', {'ogbg_mini': {'max_allowed_runtime_sec': 5 * 10**7}})
  assert budgets.time_budget('ogbg_mini', path) == 5 * 10**7
  assert 'warning: ' in capsys.readouterr().err


def test_a_step_budget_of_1e12_is_refused(tmp_path):
  path = write(tmp_path / 's.json', {'ogbg_mini': 10**12})
  with pytest.raises(
    BenchError, match="'ogbg_mini' = 1e\\+12 is not plausible as a number of steps"
  ):
    budgets.step_budget('ogbg_mini', path)


def test_step_prompt_refuses_a_prompt_of_1e15_and_writes_nothing(tmp_path, capsys):
  actual = write(tmp_path / 'a.json', {'ogbg_mini': 10**15})
  out = tmp_path / 'spaces'
  err = bench_error(step_prompt.main, ['--actual_steps', actual, '--out_dir', str(out)], capsys)
  assert 'not plausible as a number of steps' in err
  assert not out.exists()


def test_step_prompt_refuses_an_estimate_of_1e12_from_the_probes(tmp_path, capsys):
  b = write(tmp_path / 'b.json', {'ogbg_mini': {'max_allowed_runtime_sec': 10**6}})
  p = write(tmp_path / 'p.json', {'ogbg_mini': [{'steps': 10**6, 'runtime_sec': 1e-3}]})
  out = tmp_path / 'spaces'
  argv = ['--budgets', b, '--probes', p, '--out_dir', str(out)]
  err = bench_error(step_prompt.main, argv, capsys)
  assert 'the VeLO prompt of ogbg_mini' in err and not out.exists()


def test_step_prompt_with_actual_steps_needs_no_budget_and_writes_out_by_default(
  tmp_path, monkeypatch, capsys
):
  monkeypatch.chdir(tmp_path)
  actual = write(tmp_path / 'a.json', {'ogbg_mini': 1311})
  assert cli.run_main(step_prompt.main, ['--actual_steps', actual]) == 0
  written = tmp_path / 'out' / 'tuning_search_spaces' / 'velo' / 'ogbg_mini.json'
  assert json.loads(written.read_text()) == {'total_steps': {'feasible_points': [1311]}}
  b = write(tmp_path / 'b.json', {'ogbg_mini': {'max_allowed_runtime_sec': 20}})
  capsys.readouterr()
  err = bench_error(step_prompt.main, ['--actual_steps', actual, '--budgets', b], capsys)
  assert '--budgets is used only with --probes' in err


@pytest.mark.parametrize(
  'space, match',
  [
    ({'learning_rate': {'feasible_points': [1e6]}}, r'learning_rate.feasible_points\[0\] = 1e\+06'),
    ({'learning_rate': {'min': 1e-3, 'max': 1e5, 'scaling': 'log'}}, r'learning_rate.max = 100000'),
    ([{'learning_rate': 0.1, 'beta1': 1.5}], r'point 0 field beta1 = 1.5'),
    ({'weight_decay': {'feasible_points': [-1.0]}}, r'weight_decay.feasible_points\[0\] = -1'),
    ({'total_steps': {'feasible_points': [10**12]}}, r'total_steps.feasible_points\[0\] = 1e\+12'),
  ],
)
def test_implausible_hyperparameters_are_refused_naming_file_and_field(tmp_path, space, match):
  path = write(tmp_path / 'space.json', space)
  with pytest.raises(BenchError, match=match):
    search_space.load_search_space(path)


def test_a_large_learning_rate_is_accepted_with_a_warning(tmp_path, capsys):
  path = write(tmp_path / 'space.json', {'learning_rate': {'feasible_points': [20.0]}})
  search_space.load_search_space(path)
  assert 'learning_rate.feasible_points[0] = 20 is unusual' in capsys.readouterr().err


# ---- files the condition does not use ------------------------------------------------------------


def test_a_budgets_file_of_the_other_condition_is_still_validated(tmp_path):
  bad = write(tmp_path / 'bad.json', '{"ogbg_mini": ')
  step_trial = TrialSpec('adam', 'ogbg_mini', 'step', 1, 1, tmp_path / 'e', budgets=bad)
  with pytest.raises(BenchError, match='bad.json: not valid JSON'):
    budgets.check_all([step_trial])
  truncated = write(tmp_path / 'steps.json', '{"ogbg_mini": 12')
  time_trial = TrialSpec('adam', 'ogbg_mini', 'time', 1, 1, tmp_path / 'e', step_budgets=truncated)
  with pytest.raises(BenchError, match='steps.json: not valid JSON'):
    budgets.check_all([time_trial])


# ---- SLURM resources ---------------------------------------------------------------------------


@pytest.mark.parametrize(
  'extra, named',
  [
    (['--mem', 'lots'], '--mem'),
    (['--time_limit', 'forever'], '--time_limit'),
    (['--sbatch_line', 'not an option'], '--sbatch_line'),
    (['--sbatch_line', '--account=a\n#SBATCH --qos=x'], '--sbatch_line'),
    (['--partition', 'gpu; rm -rf x'], '--partition'),
  ],
)
def test_slurm_options_are_checked_before_the_script_is_written(tmp_path, extra, named, capsys):
  script = tmp_path / 'study.sbatch'
  argv = ['--algorithms', 'adam', '--workloads', 'ogbg_mini', '--studies', '1', '--conditions']
  argv += ['step', '--experiment_dir', str(tmp_path / 'exp'), '--slurm', str(script), *extra]
  err = bench_error(sweep.main, argv, capsys)
  assert err.startswith(f'error: {named} ')
  assert tree(tmp_path) == []


def test_slurm_cpus_per_task_zero_is_refused_not_dropped(tmp_path, capsys):
  argv = ['--algorithms', 'adam', '--workloads', 'ogbg_mini', '--slurm', str(tmp_path / 's')]
  assert 'argument --cpus_per_task: must be an integer >= 1' in argparse_error(
    sweep.main, argv + ['--cpus_per_task', '0'], capsys
  )


def test_slurm_accepts_the_forms_sbatch_takes():
  for limit in ('30', '30:00', '24:00:00', '2-0', '1-12:30', '1-12:30:00', 'UNLIMITED'):
    slurm.check_resources('gpu,cpu', 1, 4, '32G', limit, ['--account=abc', '-q high'])


# ---- runners, VeLO ------------------------------------------------------------------------------


def test_launch_on_the_official_runner_with_an_embedded_workload_says_so(capsys):
  argv = ['--runner', 'official', '--', '--workload=imagenet_resnet_mini']
  err = bench_error(launch.main, argv, capsys)
  assert "'imagenet_resnet_mini' is an embedded workload" in err
  assert "'imagenet_resnet' on the official runner" in err


def test_a_velo_sweep_without_weights_is_refused_in_the_preflight(tmp_path, monkeypatch):
  monkeypatch.setenv('VELO_CHECKPOINT', str(tmp_path / 'missing.msgpack'))
  trials = sweep.plan(['velo'], ['ogbg_mini'], 1, ['step'], 0, tmp_path / 'exp')
  with pytest.raises(BenchError, match="algorithm 'velo' needs the VeLO checkpoint"):
    sweep.check_plan(trials)
  assert not (tmp_path / 'exp').exists()


def test_a_float64_leaf_of_a_checkpoint_is_named(tmp_path):
  flat = {path: np.zeros(shape, np.float32) for path, shape in EXPECTED_THETA_SHAPES.items()}
  bad = sorted(flat)[3]
  flat[bad] = flat[bad].astype(np.float64)
  theta = {}
  for path, value in flat.items():
    node = theta
    *parents, leaf = path.split('/')
    for key in parents:
      node = node.setdefault(key, {})
    node[leaf] = value
  file = tmp_path / 'theta.msgpack'
  file.write_bytes(serialization.msgpack_serialize(theta))
  with pytest.raises(
    velo.VeloCheckpointError, match=f'leaf {bad} has dtype float64, expected float32'
  ):
    velo.load_theta(file)


# ---- finished trials compared with the request --------------------------------------------------


def finished_trial(tmp_path, budget_sec=20):
  """A finished nadamw trial on ogbg_mini (time control) as the local runner records it."""
  trial = TrialSpec('nadamw', 'ogbg_mini', 'time', 1, 1, tmp_path / 'exp')
  trial.trial_dir.mkdir(parents=True)
  layout.write_json(trial.trial_dir / layout.HPARAMS, trial.requested_hyperparameters())
  file_formats.mark_complete(
    trial.trial_dir, file_formats.TrialComplete('local', max_allowed_runtime_sec=budget_sec)
  )
  return trial


def test_submit_names_a_finished_trial_that_ran_under_another_budget(tmp_path, capsys):
  trial = finished_trial(tmp_path)
  before = tree(tmp_path / 'exp')
  other = write(tmp_path / 'b.json', {'ogbg_mini': {'max_allowed_runtime_sec': 30}})
  argv = ['--opt', 'nadamw', '--workload', 'ogbg_mini', '--experiment_dir', str(tmp_path / 'exp')]
  err = bench_error(submit.main, argv + ['--budgets', other], capsys)
  assert str(trial.trial_dir) in err and 'max_allowed_runtime_sec: ran with 20, requested 30' in err
  assert tree(tmp_path / 'exp') == before
  assert cli.run_main(submit.main, argv) == 0
  assert 'is already complete' in capsys.readouterr().out


def test_the_sweep_names_finished_trials_with_another_search_space(tmp_path):
  trial = finished_trial(tmp_path)
  hparams = json.loads((trial.trial_dir / layout.HPARAMS).read_text())
  layout.write_json(trial.trial_dir / layout.HPARAMS, {**hparams, 'learning_rate': 0.5})
  trials = sweep.plan(['nadamw'], ['ogbg_mini'], 1, ['time'], 0, tmp_path / 'exp')
  with pytest.raises(BenchError, match='hyperparameter learning_rate: ran with 0.5, requested'):
    sweep.check_plan(trials)


# ---- locks ------------------------------------------------------------------------------------


#: A hyperparameter point of the probe submission (tests/fixtures/probe_submission.py).
PROBE_POINT = {
  'learning_rate': 0.1,
  'finish_at': -1,
  'sleep': 0.0,
  'prepare_sec': 0.0,
  'blow_up_at': -1,
}


def hold_lock(lock_file):
  """A separate process holding ``lock_file`` (as an orphaned trial would) until killed."""
  code = (
    'import sys, time\n'
    'from bench_core import layout\n'
    f'with layout.exclusive_lock({str(lock_file)!r}, "x"):\n'
    '  print("held", flush=True)\n'
    '  time.sleep(600)\n'
  )
  holder = subprocess.Popen(
    [sys.executable, '-c', code], cwd=REPO, stdout=subprocess.PIPE, text=True
  )
  assert holder.stdout.readline().strip() == 'held'
  return holder


def test_a_trial_run_by_another_process_is_refused_until_that_process_is_gone(
  tmp_path, capsys, tiny_workload
):
  trial = TrialSpec('adam', 'ogbg_mini', 'step', 1, 1, tmp_path / 'exp')
  holder = hold_lock(layout.run_lock_path(trial.run_dir))
  try:
    assert layout.lock_holder(layout.run_lock_path(trial.run_dir)) == holder.pid
    argv = ['--algorithms', 'adam', '--workloads', 'ogbg_mini', '--studies', '1']
    argv += ['--conditions', 'step', '--experiment_dir', str(tmp_path / 'exp')]
    err = bench_error(sweep.main, argv, capsys)
    assert f'is being run by process {holder.pid}' in err
    assert not (tmp_path / 'exp' / 'sweep.json').exists()
    space = write(tmp_path / 'space.json', [PROBE_POINT])
    config = RunConfig(
      workload=tiny_workload,
      submission_path=str(FIXTURES / 'probe_submission.py'),
      tuning_search_space=space,
      experiment_dir=str(tmp_path / 'e2'),
      experiment_name='s',
    )
    other = hold_lock(layout.run_lock_path(tmp_path / 'e2' / 's' / f'{tiny_workload}_jax'))
    try:
      with pytest.raises(BenchError, match=f'in use by process {other.pid}'):
        run(config, progress=lambda m: None)
      assert not (tmp_path / 'e2' / 's' / f'{tiny_workload}_jax').exists()
    finally:
      other.kill()
      other.wait()
  finally:
    holder.send_signal(signal.SIGKILL)
    holder.wait()
  assert layout.lock_holder(layout.run_lock_path(trial.run_dir)) is None


def test_a_second_sweep_in_the_same_folder_is_refused(tmp_path, capsys):
  holder = hold_lock(tmp_path / 'exp' / layout.SWEEP_LOCK)
  try:
    argv = ['--algorithms', 'adam', '--workloads', 'ogbg_mini', '--studies', '1']
    argv += ['--conditions', 'step', '--experiment_dir', str(tmp_path / 'exp')]
    err = bench_error(sweep.main, argv, capsys)
    assert f'in use by process {holder.pid}' in err
    assert not (tmp_path / 'exp' / 'sweep.json').exists()
  finally:
    holder.kill()
    holder.wait()


# ---- divergence -----------------------------------------------------------------------------------


class HugeLossWorkload:
  """Mixed into the tiny workload: from step 3 on, the evaluation reports a train loss of
  1.5e15 (what a learning rate of 1e6 gave), with finite parameters."""

  def eval_model(self, *args, global_step=0, **kwargs):
    result = super().eval_model(*args, global_step=global_step, **kwargs)
    if global_step >= 3:
      result['train/loss'] = 1.5e15
    return result


def test_a_huge_finite_loss_counts_as_divergence(tmp_path, monkeypatch, tiny_workload):
  huge = type('HugeLoss', (HugeLossWorkload, tiny_workload_module.TinyWorkload), {})
  monkeypatch.setattr(tiny_workload_module, 'TinyWorkload', huge)
  space = write(tmp_path / 'space.json', [PROBE_POINT])
  config = RunConfig(
    workload=tiny_workload,
    submission_path=str(FIXTURES / 'probe_submission.py'),
    tuning_search_space=space,
    experiment_dir=str(tmp_path / 'exp'),
    rng_seed=1,
    max_global_steps=8,
    eval_every_steps=1,
  )
  [summary] = run(config, progress=lambda m: None)
  assert summary['diverged'] and summary['global_step'] == 3
  record = json.loads(
    (tmp_path / 'exp' / f'{tiny_workload}_jax' / 'trial_1' / layout.DIVERGED).read_text()
  )
  assert record['reason'].startswith('train/loss 1.5e+15 at the evaluation after step 3')
  assert not layout.is_diverged_loss(30.0) and layout.is_diverged_loss(float('nan'))


# ---- files and commands as a user meets them -------------------------------------------------------


def test_files_are_written_with_the_umask_mode(tmp_path):
  old = os.umask(0o022)
  try:
    layout.write_json(tmp_path / 'a.json', {})
    os.umask(0o077)
    layout.write_json(tmp_path / 'b.json', {})
  finally:
    os.umask(old)
  assert (tmp_path / 'a.json').stat().st_mode & 0o777 == 0o644
  assert (tmp_path / 'b.json').stat().st_mode & 0o777 == 0o600


def test_local_runner_help_exits_0():
  result = subprocess.run(
    [sys.executable, '-m', 'local_runner', '--help'], cwd=REPO, capture_output=True, text=True
  )
  assert result.returncode == 0 and '--workload' in result.stdout


@pytest.mark.parametrize(
  'main, prog', [(demo.main, 'python -m study.demo'), (download.main, 'python -m velo.download')]
)
def test_usage_names_the_module_command(main, prog, capsys):
  with pytest.raises(SystemExit) as exit_:
    main(['--help'])
  assert exit_.value.code == 0
  out = capsys.readouterr().out
  assert out.startswith(f'usage: {prog}')


@pytest.mark.parametrize(
  'main, helps',
  [
    (demo.main, ('embedded workloads to run', 'studies (seeds) per trial', 'time-control trials')),
    (sweep.main, ('embedded or official names', 'studies (seeds) per trial', 'trials run at once')),
  ],
)
def test_workloads_studies_and_jobs_have_help_text(main, helps, capsys):
  with pytest.raises(SystemExit):
    main(['--help'])
  help_text = ' '.join(capsys.readouterr().out.split())
  for text in helps:
    assert text in help_text


def make_dry_run(*variables):
  """The commands ``make -n`` would run (continuation lines joined), as argument lists."""
  result = subprocess.run(
    ['make', '-s', '-n', '-o', '.venv/.installed', *variables],
    cwd=REPO,
    capture_output=True,
    text=True,
    check=True,
  )
  return [shlex.split(line) for line in result.stdout.replace('\\\n', ' ').splitlines() if line]


def test_the_makefile_passes_paths_with_spaces_and_quotes_as_one_argument():
  [command] = make_dry_run('submit', "EXP=dir with space/it's exp", 'BUDGETS=my budgets.json')
  assert command[command.index('--experiment_dir') + 1] == "dir with space/it's exp"
  assert command[command.index('--budgets') + 1] == 'my budgets.json'


def test_make_step_prompt_writes_under_out_unless_told(tmp_path):
  commands = make_dry_run('step-prompt')
  assert [c[c.index('--out_dir') + 1] for c in commands] == [
    'out/tuning_search_spaces',
    'out/tuning_search_spaces/step',
  ]
  [time_command, _] = make_dry_run('step-prompt', 'SPACES=tuning_search_spaces')
  assert time_command[time_command.index('--out_dir') + 1] == 'tuning_search_spaces'


def test_demo_runs_one_trial_per_core_at_most_two_unless_told(tmp_path, monkeypatch):
  seen = {}

  def fake_run_sweep(trials, jobs=1, out=print):
    seen[trials[0].condition] = jobs
    return []

  monkeypatch.setattr(sweep, 'run_sweep', fake_run_sweep)
  monkeypatch.setattr(demo, 'report', lambda *a: None)  # no trials ran: nothing to score
  monkeypatch.setattr(demo, 'headline', lambda result: '')
  argv = ['--workloads', 'ogbg_mini', '--studies', '1', '--algorithms', 'adam']
  argv += ['--experiment_dir', str(tmp_path / 'exp'), '--report_dir', str(tmp_path / 'r')]
  assert demo.main(argv) == 0
  expected = min(2, len(cores.usable_cores()))
  assert seen == {'time': expected, 'step': expected}
  assert demo.main(argv + ['--jobs', '1']) == 0
  assert seen == {'time': 1, 'step': expected}
  [command] = make_dry_run('demo')
  assert '--jobs' not in command and '--step_jobs' not in command
  [command] = make_dry_run('demo', 'JOBS=1')
  assert command[command.index('--jobs') + 1] == '1'


def test_the_study_reads_the_users_prompts_before_the_tracked_ones(tmp_path, monkeypatch):
  monkeypatch.setattr(locate, 'LOCAL_SEARCH_SPACES', tmp_path / 'out')
  mine = write(
    tmp_path / 'out' / 'velo' / 'ogbg_mini.json', {'total_steps': {'feasible_points': [9]}}
  )
  assert str(locate.search_space_file('velo', 'ogbg_mini', 'time')) == mine
  assert locate.search_space_file('velo', 'ogbg_mini', 'step').parent.parent.name == 'step'
