"""The SLURM array job on a real scheduler: a throwaway one-node cluster on localhost.

One study (2 algorithms x 1 embedded workload x 2 studies x both conditions, short budgets)
is generated with ``study.sweep --slurm`` and submitted with ``sbatch``. While it runs, the
first task is cancelled in the middle of its trial and a finished task is requeued; once the
array has ended the first task alone is resubmitted. Checked: every trial finished exactly
once, the requeued task skipped its finished trial, the cancelled trial was rerun from
scratch with nothing half-written left, one report job per array job (the first refused the
unfinished tree, the second scored it), and the cluster is gone afterwards.

Marked ``slurm`` (``make test-slurm``, a few minutes); skipped, with the reason, where the
cluster cannot start (not root, ``slurm-wlm`` / ``munge`` not installed).
"""

import csv
import hashlib
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import slurm_cluster

from study import slurm

pytestmark = pytest.mark.slurm

ALGORITHMS = ('adam', 'heavy_ball')
WORKLOAD = 'imagenet_resnet_mini'
TIME_BUDGET_SEC = 10  # time control: a transferred budget of a few seconds
STEP_BUDGET = 40
WAIT_SEC = 600  # bound on each wait for the scheduler


@pytest.fixture
def cluster():
  reason = slurm_cluster.missing_reason()
  if reason:
    print(f'SLURM test skipped: {reason}')
    pytest.skip(reason)
  cluster = slurm_cluster.SlurmCluster()
  with cluster:
    yield cluster
    print(cluster.logs())  # shown when the test failed
  assert all(p.poll() is not None for p in cluster.daemons.values())
  assert cluster.stray_job_processes() == []


def generate(cluster, exp: Path, *extra: str) -> subprocess.CompletedProcess:
  budgets, steps = exp.parent / 'budgets.json', exp.parent / 'steps.json'
  budgets.write_text(json.dumps({WORKLOAD: {'max_allowed_runtime_sec': TIME_BUDGET_SEC}}))
  steps.write_text(json.dumps({WORKLOAD: STEP_BUDGET}))
  return subprocess.run(
    [
      sys.executable,
      '-m',
      'study.sweep',
      '--algorithms',
      *ALGORITHMS,
      '--workloads',
      WORKLOAD,
      '--studies',
      '2',
      '--conditions',
      'time',
      'step',
      '--budgets',
      str(budgets),
      '--step_budgets',
      str(steps),
      '--experiment_dir',
      str(exp),
      '--slurm',
      str(exp / 'study.sbatch'),
      '--cpus_per_task',
      '1',
      *extra,
    ],
    env=cluster.env,
    capture_output=True,
    text=True,
    timeout=300,
  )


def wait_for(ready, what: str, still_possible=lambda: True, timeout: float = WAIT_SEC):
  deadline = time.monotonic() + timeout
  while not ready():
    if not still_possible():
      raise AssertionError(f'{what}: no longer possible')
    if time.monotonic() > deadline:
      raise TimeoutError(f'waiting for {what}')
    time.sleep(0.2)


def ended(cluster, job: str) -> bool:
  return cluster.states(job).get(job) in ('COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT')


def snapshot(folder: Path) -> dict:
  """name -> (sha256, mtime_ns) of every file under ``folder``."""
  return {
    str(f.relative_to(folder)): (hashlib.sha256(f.read_bytes()).hexdigest(), f.stat().st_mtime_ns)
    for f in sorted(folder.rglob('*'))
    if f.is_file()
  }


def report_job_of(logs: Path, array_job: str) -> str:
  marker = logs / f'report_job.{array_job}'
  wait_for(lambda: marker.is_file() and marker.read_text().strip(), f'{marker}')
  return marker.read_text().strip().split(';')[0]


def runs_by_trial(logs: Path) -> dict:
  """trial folder -> [training starts, training ends] over every array task's log."""
  counts = {}
  for log in logs.glob('*_*.out'):
    if log.name.startswith('report_'):
      continue
    text = log.read_text()
    trial_dir = re.search(r'^task \d+ of array job \d+ .*: (\S+)$', text, re.M).group(1)
    entry = counts.setdefault(trial_dir, [0, 0])
    entry[0] += len(re.findall(rf'^{WORKLOAD} trial 1/1 \(seed \d+[^)\n]*\) -> ', text, re.M))
    entry[1] += len(re.findall(rf'^{WORKLOAD} trial 1: \d+ steps', text, re.M))
  return counts


def test_array_job_runs_requeues_and_resumes_on_a_real_scheduler(cluster, tmp_path):
  exp = tmp_path / 'exp'
  refused = generate(cluster, exp, '--partition', 'nosuch')
  assert refused.returncode == 2, refused.stderr
  assert '--partition nosuch: no such partition' in refused.stderr
  assert slurm_cluster.PARTITION in refused.stderr
  made = generate(cluster, exp, '--partition', slurm_cluster.PARTITION)
  assert made.returncode == 0, made.stderr
  script, logs = exp / 'study.sbatch', exp / 'slurm_logs'
  trials = [Path(line) for line in script.with_suffix('.trials').read_text().splitlines()]
  assert len(trials) == 2 * 2 * 2

  array = cluster.sbatch(str(script))
  first = trials[0]  # time control: runs for its whole budget, long enough to catch
  wait_for(
    lambda: (first / 'eval_measurements.csv').is_file(),
    f'{first} to start training',
    lambda: not ended(cluster, f'{array}_0'),
  )
  assert not (first / 'trial_complete.json').exists()
  cluster.run('scancel', f'{array}_0')

  # Requeue a finished task while the array still runs (its report job is pending then).
  wait_for(
    lambda: any((t / 'trial_complete.json').is_file() for t in trials[1:]), 'a trial to finish'
  )
  requeued = next(i for i, t in enumerate(trials) if i and (t / 'trial_complete.json').is_file())
  wait_for(lambda: ended(cluster, f'{array}_{requeued}'), f'task {requeued} to end')
  before = snapshot(trials[requeued])
  cluster.run('scontrol', 'requeue', f'{array}_{requeued}')
  report = report_job_of(logs, array)
  states = cluster.wait_ended(array, timeout=WAIT_SEC)
  assert states[f'{array}_0'] == 'CANCELLED', states
  assert all(states[f'{array}_{i}'] == 'COMPLETED' for i in range(1, len(trials))), states
  assert snapshot(trials[requeued]) == before
  requeued_log = (logs / f'{array}_{requeued}.out').read_text()
  assert '(restart 1)' in requeued_log and 'trial already complete, skipped' in requeued_log

  # The cancelled trial is unfinished; the report job refuses the tree and names it.
  assert cluster.wait_ended(report, timeout=WAIT_SEC) == {report: 'FAILED'}
  assert not (first / 'trial_complete.json').exists()
  assert str(first) in (logs / f'report_{report}.out').read_text()
  assert not (exp / 'report').exists()
  (first / 'left_by_the_cancelled_run').write_text('')

  again = cluster.sbatch('--array=0', str(script))
  second_report = report_job_of(logs, again)
  assert cluster.wait_ended(again, timeout=WAIT_SEC) == {f'{again}_0': 'COMPLETED'}
  assert cluster.wait_ended(second_report, timeout=WAIT_SEC) == {second_report: 'COMPLETED'}
  assert sorted(cluster.jobs_named(slurm.REPORT_JOB_NAME)) == sorted([report, second_report])

  # Every trial finished exactly once; the cancelled one restarted from scratch.
  counts = runs_by_trial(logs)
  assert counts == {str(t): [2 if t == first else 1, 1] for t in trials}
  for t in trials:
    assert [p.name for p in t.parent.iterdir() if p.is_dir()] == ['trial_1']
    assert (t / 'trial_complete.json').is_file()
  assert not (first / 'left_by_the_cancelled_run').exists()
  assert sorted(p.name for p in first.iterdir()) == sorted(p.name for p in trials[1].iterdir())
  assert list(exp.rglob('*.tmp')) == []
  with open(first / 'eval_measurements.csv', newline='') as f:
    steps = [int(row['global_step']) for row in csv.DictReader(f)]
  assert steps == sorted(set(steps)) and steps[0] == 1

  # The second report job scored the whole tree, both conditions.
  for condition in ('time', 'step'):
    with open(exp / 'report' / condition / 'scores.csv', newline='') as f:
      assert {row['algorithm'] for row in csv.DictReader(f)} == set(ALGORITHMS)
    assert (exp / 'report' / condition / 'report.md').is_file()
