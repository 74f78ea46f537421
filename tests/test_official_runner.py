"""The real AlgoPerf: the project's submissions, commands and logs against ``submission_runner``
and AlgoPerf's own scoring code, no stand-in.

Marked ``algoperf``: ``make test-official`` runs them in an environment with AlgoPerf
installed (``make install-algoperf``); elsewhere they skip. The exported submissions run in a
second, plain AlgoPerf environment without this project (``make install-algoperf-plain``,
``$ALGOPERF_PLAIN_PYTHON``). Data, on CPU: AlgoPerf's
``mnist`` with learnable generated examples (``fixtures/official_data/sitecustomize.py``)
and a small synthetic Criteo TSV for ``criteo1tb_test``.
"""

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench_core import layout
from conftest import FIXTURES, GOLDEN_THETA, REPO
from study.trial import TrialSpec

HAS_ALGOPERF = (
  importlib.util.find_spec('algoperf') is not None
  and importlib.util.find_spec('submission_runner') is not None
)
pytestmark = [
  pytest.mark.algoperf,
  pytest.mark.skipif(
    not HAS_ALGOPERF,
    reason='the official algoperf package is not importable '
    '(make install-algoperf, then make test-official runs these)',
  ),
]

SUBMISSIONS = (
  'adam',
  'nadam',
  'nadamw',
  'heavy_ball',
  'nesterov',
  'velo',
  'velo_short',
  'velo_time',
)
MNIST_STEPS = 120


def official_env(**extra) -> dict:
  """The environment of a process that runs the official runner on the test data."""
  return {
    **os.environ,
    'PYTHONPATH': f'{FIXTURES / "official_data"}{os.pathsep}{REPO}',
    'VELO_BENCH_MOCK_MNIST': '1',
    'VELO_CHECKPOINT': str(GOLDEN_THETA),
    'ALGOPERF_PYTHON': sys.executable,
    **extra,
  }


def write_json(path, data) -> str:
  path.write_text(json.dumps(data))
  return str(path)


def run(command, **kwargs) -> subprocess.CompletedProcess:
  proc = subprocess.run(
    command,
    env=kwargs.pop('env', official_env()),
    capture_output=True,
    text=True,
    timeout=kwargs.pop('timeout', 600),
    **kwargs,
  )
  assert proc.returncode == 0, f'{command}\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}'
  return proc


def eval_rows(trial_dir) -> pd.DataFrame:
  return pd.read_csv(trial_dir / layout.EVAL_MEASUREMENTS)


# ---- every submission under the official runner, scored by both scorers ----------------------


@pytest.fixture(scope='module')
def mnist_study(tmp_path_factory):
  """Each submission for MNIST_STEPS steps of mnist (step control, evaluations every 0.5 s)."""
  tmp = tmp_path_factory.mktemp('official')
  steps = write_json(tmp / 'steps.json', {'mnist': MNIST_STEPS})
  trials = [
    TrialSpec(
      name,
      'mnist',
      'step',
      1,
      1,
      tmp / 'study',
      step_budgets=steps,
      data_dir=str(tmp / 'data'),
      eval_period_time_sec=0.5,
    )
    for name in SUBMISSIONS
  ]
  for trial in trials:
    trial.write_run_config()
    run(trial.command())
  return tmp / 'study', trials


def test_every_submission_runs_under_the_official_runner(mnist_study, tmp_path):
  root, trials = mnist_study
  for trial in trials:
    rows = eval_rows(trial.trial_dir)
    assert rows['global_step'].iloc[0] == 1 and rows['global_step'].iloc[-1] == MNIST_STEPS
    assert layout.read_json_object(trial.trial_dir / layout.TRIAL_COMPLETE)['runner'] == 'official'
    flags = layout.read_json_object(trial.trial_dir / layout.FLAGS)
    assert flags['submission_path'] == f'submissions/{trial.algorithm}/submission.py'
  learned = eval_rows(trials[SUBMISSIONS.index('heavy_ball')].trial_dir)['validation/loss']
  assert learned.iloc[-1] < learned.iloc[0]  # the mock data is learnable
  out = tmp_path / 'report'
  run(
    [
      sys.executable,
      '-m',
      'scoring_ext.report',
      '--experiment_dir',
      str(root / 'step'),
      '--condition',
      'step',
      '--out',
      str(out),
    ]
  )
  scores = pd.read_csv(out / 'scores.csv')
  assert set(scores['algorithm']) == set(SUBMISSIONS)


@pytest.mark.parametrize('condition, time_col', [('step', 'global_step'), ('time', 'score')])
def test_algoperf_scoring_gives_the_same_time_to_target(mnist_study, condition, time_col):
  """AlgoPerf's performance_profile on the project's logs, cell by cell against scoring_ext
  (validation target of the workload, one study, one trial)."""
  from scoring import performance_profile, scoring_utils

  from scoring_ext.scoring import ScoringConfig, score_experiment

  root, _ = mnist_study
  tree = root / 'step'
  # the runs are step control; under time their wall times are compared, on purpose
  ours = score_experiment(
    str(tree),
    ScoringConfig(condition, target_source='algoperf', allow_other_condition=condition == 'time'),
  )
  medians = ours.medians[ours.medians['split'] == 'validation'].set_index('algorithm')
  finite = 0
  for algorithm in SUBMISSIONS:
    frame = scoring_utils.get_experiment_df(str(tree / algorithm))
    theirs = performance_profile.get_workloads_time_to_target(frame, algorithm, time_col=time_col)
    expected = float(theirs.loc[algorithm, 'mnist'])
    got = float(medians.loc[algorithm, 'time_to_target'])
    assert got == pytest.approx(expected) or (np.isinf(got) and np.isinf(expected)), algorithm
    finite += np.isfinite(expected)
  assert finite >= 1  # some reach the target: not all inf


# ---- exported submissions under a plain AlgoPerf ------------------------------------------------

EXPORTED = ('adam', 'nadamw', 'velo', 'velo_time')
PROJECT_MODULES = ('velo', 'submissions', 'bench_core', 'algoperf_compat', 'study')


def plain_algoperf():
  """(python, AlgoPerf tree) of the plain AlgoPerf environment, or skip saying how to build it."""
  python = os.environ.get('ALGOPERF_PLAIN_PYTHON')
  if not python:
    pytest.skip(
      'no plain AlgoPerf environment: $ALGOPERF_PLAIN_PYTHON is unset '
      '(make test-official builds .venv-algoperf-plain and sets it)'
    )
  tree = Path(python).parents[1] / '.algoperf-tree'
  return python, Path(tree.read_text().strip())


def test_exported_submissions_match_the_repository_under_a_plain_algoperf(mnist_study, tmp_path):
  """The README's command: exported folders in an AlgoPerf checkout's
  submissions/external_tuning/, `python submission_runner.py ...` from its root, in an
  environment with AlgoPerf and the folders' requirements.txt and nothing of this project.
  The plain run gets the hyperparameters of the repository's run (mnist_study), and its first
  evaluation (after step 1) the same losses. Later evaluations are not compared: AlgoPerf's
  mnist evaluation iterators continue from one evaluation to the next, so what an
  evaluation sees depends on how many came before, and the runs evaluate on wall time."""
  python, tree = plain_algoperf()
  checkout = tmp_path / 'algoperf'
  shutil.copytree(tree, checkout, ignore=shutil.ignore_patterns('.git', '__pycache__'))
  exported = checkout / 'submissions' / 'external_tuning'
  steps = write_json(tmp_path / 'steps.json', {'mnist': MNIST_STEPS})
  run(
    [sys.executable, '-m', 'submissions.export', '--out', str(exported), '--opt', *EXPORTED]
    + ['--workload', 'mnist', '--condition', 'step', '--step_budgets', steps],
    cwd=REPO,
  )
  mock = tmp_path / 'mock_data'  # the learnable mock MNIST, and nothing else of the repository
  mock.mkdir()
  shutil.copy(FIXTURES / 'official_data' / 'sitecustomize.py', mock)
  env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'VIRTUAL_ENV')}
  env.update(PYTHONPATH=str(mock), VELO_BENCH_MOCK_MNIST='1', VELO_CHECKPOINT=str(GOLDEN_THETA))
  unreachable = f'import importlib.util as u; assert not any(map(u.find_spec, {PROJECT_MODULES}))'
  run([python, '-c', unreachable], env=env, cwd=mock)
  _, trials = mnist_study
  for name in EXPORTED:
    folder = f'submissions/external_tuning/{name}'
    # satisfied by AlgoPerf's own pins: nothing to download, nothing changed
    run(
      [python, '-m', 'pip', 'install', '--no-index', '-q', '-r', f'{folder}/requirements.txt'],
      env=env,
      cwd=checkout,
    )
    run(
      [
        python,
        'submission_runner.py',
        '--framework=jax',
        '--workload=mnist',
        f'--submission_path={folder}/submission.py',
        f'--tuning_search_space={folder}/tuning_search_space.json',
        f'--experiment_dir={tmp_path / "exp"}',
        f'--experiment_name={name}',
        f'--data_dir={tmp_path / "data"}',
        '--rng_seed=1',
        f'--max_global_steps={MNIST_STEPS}',
        '--overwrite',
      ],
      env=env,
      cwd=checkout,
    )
    plain_trial = tmp_path / 'exp' / name / 'mnist_jax' / 'trial_1'
    ours_trial = trials[SUBMISSIONS.index(name)].trial_dir
    assert layout.read_json_object(plain_trial / layout.HPARAMS) == layout.read_json_object(
      ours_trial / layout.HPARAMS
    ), name
    plain, ours = eval_rows(plain_trial).iloc[0], eval_rows(ours_trial).iloc[0]
    losses = [c for c in plain.index if c.endswith('/loss')]
    assert plain['global_step'] == ours['global_step'] == 1 and 'validation/loss' in losses
    np.testing.assert_allclose(
      plain[losses].to_numpy(float), ours[losses].to_numpy(float), rtol=1e-5, err_msg=name
    )


# ---- make submit, the sweep and the SLURM script with an official workload -------------------


def test_make_submit_on_an_official_workload_in_both_conditions(tmp_path):
  budgets = write_json(tmp_path / 'b.json', {'mnist': {'max_allowed_runtime_sec': 3}})
  steps = write_json(tmp_path / 's.json', {'mnist': 40})
  for control in ('time', 'step'):
    proc = run(
      [
        'make',
        '--no-print-directory',
        'submit',
        'OPT=nadamw',
        'WORKLOAD=mnist',
        f'CONTROL={control}',
        f'EXP={tmp_path / "exp"}',
        f'BUDGETS={budgets}',
        f'STEP_BUDGETS={steps}',
        f'DATA_DIR={tmp_path / "data"}',
      ],
      cwd=REPO,
    )
    assert 'as soon as both targets are reached' in proc.stdout
    trial = tmp_path / 'exp' / control / 'nadamw' / 'study_1' / 'mnist_jax' / 'trial_1'
    assert layout.is_complete(trial)
    meta = layout.read_json_object(trial / layout.META_DATA)
    flags = layout.read_json_object(trial / layout.FLAGS)
    assert flags['data_dir'] == str(tmp_path / 'data')
    if control == 'time':
      assert meta['workload.max_allowed_runtime_sec'] == 3  # the transferred budget
    else:
      assert flags['max_global_steps'] == 40 and eval_rows(trial)['global_step'].iloc[-1] == 40
  again = run(
    [
      'make',
      '--no-print-directory',
      'submit',
      'OPT=nadamw',
      'WORKLOAD=mnist',
      'CONTROL=step',
      f'EXP={tmp_path / "exp"}',
      f'STEP_BUDGETS={steps}',
    ],
    cwd=REPO,
  )
  assert 'already complete' in again.stdout and 'OVERWRITE=1' in again.stdout


def test_sweep_killed_in_a_trial_and_rerun(tmp_path):
  budgets = write_json(tmp_path / 'b.json', {'mnist': {'max_allowed_runtime_sec': 3}})
  steps = write_json(tmp_path / 's.json', {'mnist': 40})
  exp = tmp_path / 'exp'
  command = [
    sys.executable,
    '-m',
    'study.sweep',
    '--algorithms',
    'adam',
    'nesterov',
    '--workloads',
    'mnist',
    '--studies',
    '1',
    '--conditions',
    'time',
    'step',
    '--experiment_dir',
    str(exp),
    '--budgets',
    budgets,
    '--step_budgets',
    steps,
    '--data_dir',
    str(tmp_path / 'data'),
  ]
  sweep = subprocess.Popen(
    command,
    env=official_env(),
    stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL,
    start_new_session=True,
  )
  second = exp / 'time' / 'nesterov' / 'study_1' / 'mnist_jax' / 'trial_1'
  deadline = time.monotonic() + 300
  while not (second / layout.HPARAMS).is_file():  # the second trial has started
    assert sweep.poll() is None and time.monotonic() < deadline, 'the second trial never started'
    time.sleep(0.2)
  os.killpg(sweep.pid, signal.SIGKILL)  # the sweep and its running trial
  sweep.wait()
  first = exp / 'time' / 'adam' / 'study_1' / 'mnist_jax' / 'trial_1'
  assert layout.is_complete(first) and not layout.is_complete(second)
  first_evals = (first / layout.EVAL_MEASUREMENTS).read_bytes()

  proc = run(command)
  assert '1 already complete' in proc.stdout
  assert (first / layout.EVAL_MEASUREMENTS).read_bytes() == first_evals  # not rerun
  for condition in ('time', 'step'):
    for algorithm in ('adam', 'nesterov'):
      run_dir = exp / condition / algorithm / 'study_1' / 'mnist_jax'
      assert [p.name for p in layout.trial_dirs(run_dir)] == ['trial_1']
      assert layout.is_complete(run_dir / 'trial_1')
      rows = eval_rows(run_dir / 'trial_1')
      assert rows['global_step'].is_monotonic_increasing
      assert rows['global_step'].iloc[0] == 1  # one run, from scratch


def test_slurm_script_commands_run_as_their_array_tasks(tmp_path):
  budgets = write_json(tmp_path / 'b.json', {'mnist': {'max_allowed_runtime_sec': 3}})
  steps = write_json(tmp_path / 's.json', {'mnist': 30})
  script = tmp_path / 'study.sbatch'
  run(
    [
      sys.executable,
      '-m',
      'study.sweep',
      '--algorithms',
      'nadamw',
      '--workloads',
      'mnist',
      '--studies',
      '1',
      '--conditions',
      'time',
      'step',
      '--experiment_dir',
      str(tmp_path / 'exp'),
      '--budgets',
      budgets,
      '--step_budgets',
      steps,
      '--slurm',
      str(script),
    ]
  )
  lines = script.with_suffix('.commands').read_text().splitlines()
  assert len(lines) == 2 and all(
    line.startswith(f'{sys.executable} -m study.launch') for line in lines
  )
  array = {'SLURM_ARRAY_JOB_ID': '7'}  # no sbatch here: the report job is not submitted
  for task in range(len(lines)):
    run(['bash', str(script)], env=official_env(SLURM_ARRAY_TASK_ID=str(task), **array))
  trials = sorted((tmp_path / 'exp').glob('*/nadamw/study_1/mnist_jax/trial_1'))
  assert len(trials) == 2 and all(layout.is_complete(t) for t in trials)
  before = (trials[0] / layout.EVAL_MEASUREMENTS).read_bytes()
  requeued = run(['bash', str(script)], env=official_env(SLURM_ARRAY_TASK_ID='0', **array))
  assert 'trial already complete, skipped' in requeued.stdout  # a requeued task skips
  assert (trials[0] / layout.EVAL_MEASUREMENTS).read_bytes() == before


# ---- a workload that reads its data from --data_dir ---------------------------------------------


def synthetic_criteo(data_dir, rows: int = 256, seed: int = 0) -> None:
  """Criteo TSV files (label, 13 integers, 26 hex categoricals) for every split."""
  rng = np.random.default_rng(seed)
  data_dir.mkdir(parents=True)

  def lines():
    for _ in range(rows):
      dense = [str(v) for v in rng.integers(0, 100, 13)]
      sparse = [f'{v:08x}' for v in rng.integers(0, 2**32, 26)]
      yield '\t'.join([str(rng.integers(0, 2)), *dense, *sparse])

  for name in ['day_0_00'] + [f'day_23_{i:02d}' for i in range(36)]:
    (data_dir / name).write_text('\n'.join(lines()) + '\n')


def test_criteo1tb_test_reads_its_data_dir(tmp_path):
  synthetic_criteo(tmp_path / 'criteo')
  steps = write_json(tmp_path / 's.json', {'criteo1tb_test': 5})
  trial = TrialSpec(
    'nadamw',
    'criteo1tb_test',
    'step',
    1,
    1,
    tmp_path / 'exp',
    step_budgets=steps,
    data_dir=str(tmp_path / 'criteo'),
    extra_runner_flags=('--skip_evals',),  # evaluations would stream 83 M rows: train only
  )
  trial.write_run_config()
  run(trial.command(), env=official_env(VELO_BENCH_BATCH_SIZES=json.dumps({'criteo1tb_test': 64})))
  assert layout.is_complete(trial.trial_dir)
  flags = layout.read_json_object(trial.trial_dir / layout.FLAGS)
  assert flags['data_dir'] == str(tmp_path / 'criteo') and flags['max_global_steps'] == 5
  assert layout.read_json_object(trial.trial_dir / layout.META_DATA)['workload.step_hint'] > 0
