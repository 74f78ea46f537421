"""study.slurm without a scheduler: checks at generation time, the array task's own logic (run
by bash with SLURM's variables set and stand-ins for ``sbatch`` and ``python``), and the
report job. The same script on a real scheduler: ``test_slurm_cluster.py``."""

import csv
import os
import shlex
import subprocess
from pathlib import Path

import pytest
from scoring_helpers import generate_tree

from bench_core import cli, file_formats, layout
from bench_core.errors import BenchError
from study import slurm, slurm_report, sweep


def program(folder: Path, name: str, body: str) -> Path:
  folder.mkdir(parents=True, exist_ok=True)
  path = folder / name
  path.write_text('#!/bin/bash\n' + body + '\n')
  path.chmod(0o755)
  return path


def sweep_args(tmp_path, *extra):
  return [
    '--algorithms',
    'adam',
    '--workloads',
    'ogbg_mini',
    '--studies',
    '1',
    '--conditions',
    'step',
    '--experiment_dir',
    str(tmp_path / 'exp'),
    '--slurm',
    str(tmp_path / 'study.sbatch'),
    *extra,
  ]


def test_an_unknown_partition_or_budgets_file_is_refused_when_the_script_is_written(
  tmp_path, monkeypatch, capsys
):
  program(tmp_path / 'bin', 'sinfo', 'printf "cpu\\ngpu\\ngpu\\n"')
  monkeypatch.setenv('PATH', f'{tmp_path / "bin"}:{os.environ["PATH"]}')
  assert cli.run_main(sweep.main, sweep_args(tmp_path, '--partition', 'nosuch')) == 2
  assert (
    '--partition nosuch: no such partition on this cluster (sinfo lists: cpu, gpu)'
    in capsys.readouterr().err
  )
  assert (
    cli.run_main(
      sweep.main,
      sweep_args(tmp_path, '--conditions', 'time', '--budgets', str(tmp_path / 'missing.json')),
    )
    == 2
  )
  assert f'{tmp_path / "missing.json"}: file not found' in capsys.readouterr().err
  assert not (tmp_path / 'study.sbatch').exists()
  assert cli.run_main(sweep.main, sweep_args(tmp_path, '--partition', 'gpu')) == 0
  assert '--partition gpu: found by sinfo' in capsys.readouterr().out
  assert '#SBATCH --partition=gpu' in (tmp_path / 'study.sbatch').read_text()
  assert '#SBATCH --partition=gpu' in (tmp_path / 'study.report.sbatch').read_text()


def test_the_partition_is_left_to_sbatch_when_sinfo_cannot_answer(tmp_path, monkeypatch):
  monkeypatch.setenv('PATH', str(tmp_path / 'empty'))
  assert 'not checked: no sinfo on this machine' in slurm.check_partition('gpu')
  program(
    tmp_path / 'bin', 'sinfo', 'echo "sinfo: error: Unable to contact slurm controller" >&2\nexit 1'
  )
  monkeypatch.setenv('PATH', str(tmp_path / 'bin'))
  assert slurm.check_partition('gpu') == (
    '--partition gpu not checked: sinfo failed (sinfo: error: Unable to contact slurm controller)'
  )


def run_task(
  files: slurm.SlurmFiles, bin_dir: Path, task: int, array_job: int, status: int = 0
) -> str:
  """Task ``task`` of array job ``array_job``, as slurmd would start it; its output."""
  env = {
    **os.environ,
    'PATH': f'{bin_dir}:{os.environ["PATH"]}',
    'SLURM_ARRAY_TASK_ID': str(task),
    'SLURM_ARRAY_JOB_ID': str(array_job),
  }
  done = subprocess.run(
    ['bash', str(files.script)], env=env, capture_output=True, text=True, timeout=60
  )
  assert done.returncode == status, done.stderr
  return done.stdout + done.stderr


def test_a_task_runs_its_trial_skips_a_finished_one_and_submits_one_report_job_per_array(tmp_path):
  bin_dir, calls = tmp_path / 'bin', tmp_path / 'calls'
  program(bin_dir, 'sbatch', f'echo "$@" >> {calls}/sbatch\necho 900$SLURM_ARRAY_JOB_ID')
  python = program(
    bin_dir, 'fake-python', f'printf "%s\\n" "$@" > {calls}/python.$SLURM_ARRAY_TASK_ID'
  )
  calls.mkdir()
  trials = sweep.plan(['adam', 'heavy_ball'], ['ogbg_mini'], 1, ['step'], 0, tmp_path / 'exp')
  files = slurm.write_slurm(
    tmp_path / 'study.sbatch',
    trials,
    tmp_path / 'exp' / 'slurm_logs',
    partition=None,
    python=str(python),
  )
  file_formats.mark_complete(trials[0].trial_dir, file_formats.TrialComplete('local'))

  assert 'trial already complete, skipped' in run_task(files, bin_dir, 0, array_job=5)
  assert not (calls / 'python.0').exists()
  run_task(files, bin_dir, 1, array_job=5)
  assert (calls / 'python.1').read_text().splitlines() == trials[1].command(str(python))[1:]
  assert Path(f'{trials[1].run_dir}.lock').is_file()
  run_task(files, bin_dir, 1, array_job=5)  # a requeued task: no second report job
  run_task(files, bin_dir, 0, array_job=6)  # a resubmitted array gets its own
  submitted = (calls / 'sbatch').read_text().splitlines()
  assert submitted == [
    f'--parsable --dependency=afterany:{job} {files.report_script}' for job in (5, 6)
  ]
  logs = tmp_path / 'exp' / 'slurm_logs'
  assert (logs / 'report_job.5').read_text().strip() == '9005'
  assert (logs / 'report_job.6').read_text().strip() == '9006'
  assert f'no line 3 in {files.trials}' in run_task(files, bin_dir, 2, array_job=7, status=2)


def test_a_failing_report_submission_does_not_stop_the_trial(tmp_path):
  bin_dir = tmp_path / 'bin'
  program(
    bin_dir, 'sbatch', 'echo "sbatch: error: submission from compute nodes refused" >&2\nexit 1'
  )
  python = program(bin_dir, 'fake-python', f'touch {tmp_path}/ran')
  trials = sweep.plan(['adam'], ['ogbg_mini'], 1, ['step'], 0, tmp_path / 'exp')
  files = slurm.write_slurm(
    tmp_path / 'study.sbatch', trials, tmp_path / 'logs', partition=None, python=str(python)
  )
  run_task(files, bin_dir, 0, array_job=3)
  assert (tmp_path / 'ran').is_file()
  assert not (tmp_path / 'logs' / 'report_job.3').exists()


def test_the_report_job_scores_every_condition(tmp_path):
  files = slurm.write_slurm(
    tmp_path / 'study.sbatch',
    sweep.plan(['adam'], ['ogbg_mini'], 1, ['time', 'step'], 0, tmp_path / 'exp'),
    tmp_path / 'logs',
    partition=None,
    setup='source /env/bin/activate',
    report_dir=tmp_path / 'out',
  )
  text = files.report_script.read_text()
  assert 'source /env/bin/activate' in text and '--gpus' not in text
  assert shlex.split(text.strip().splitlines()[-1]) == [
    'python',
    '-m',
    'study.slurm_report',
    '--trials',
    str(files.trials),
    '--experiment_dir',
    str(tmp_path / 'exp'),
    '--conditions',
    'time',
    'step',
    '--out',
    str(tmp_path / 'out'),
  ]


def test_the_report_refuses_unfinished_trials_and_scores_a_finished_study(tmp_path, capsys):
  exp, out = tmp_path / 'exp', tmp_path / 'report'
  for condition in ('time', 'step'):
    generate_tree(
      str(exp / condition), n_algorithms=2, workloads=['ogbg_mini'], n_studies=2, n_evals=20
    )
  dirs = [Path(t.path) for c in ('time', 'step') for t in layout.find_scoring_trials(exp / c)]
  assert len(dirs) == 8
  (tmp_path / 'study.trials').write_text('\n'.join(map(str, dirs)) + '\n')
  args = [
    '--trials',
    str(tmp_path / 'study.trials'),
    '--experiment_dir',
    str(exp),
    '--conditions',
    'time',
    'step',
    '--out',
    str(out),
  ]
  (dirs[3] / layout.TRIAL_COMPLETE).unlink()
  assert cli.run_main(slurm_report.main, args) == 2
  err = capsys.readouterr().err
  assert '1 of 8 trials' in err and str(dirs[3]) in err
  assert not out.exists()
  file_formats.mark_complete(dirs[3], file_formats.TrialComplete('local'))
  assert cli.run_main(slurm_report.main, args) == 0
  for condition in ('time', 'step'):
    assert (out / condition / 'report.md').is_file()
    with open(out / condition / 'scores.csv', newline='') as f:
      assert {row['algorithm'] for row in csv.DictReader(f)} == {'adam', 'nadamw'}


def test_no_trials_or_a_negative_gpu_count_is_refused(tmp_path):
  with pytest.raises(BenchError, match='no trials'):
    slurm.write_slurm(tmp_path / 's.sbatch', [], tmp_path / 'logs', partition=None)
  trials = sweep.plan(['adam'], ['ogbg_mini'], 1, ['step'], 0, tmp_path / 'exp')
  with pytest.raises(BenchError, match='--gpus_per_task must be an integer >= 0'):
    slurm.write_slurm(tmp_path / 's.sbatch', trials, tmp_path / 'logs', partition=None, gpus=-1)
