"""Shared test setup: fixture modules importable, a tiny workload registered on demand."""

import csv
import os
import sys
from pathlib import Path

import pytest

from bench_core import catalogue
from local_runner import workloads
from study.budgets import NO_TIME_LIMIT_SEC

FIXTURES = Path(__file__).resolve().parent / 'fixtures'
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(FIXTURES))

#: VeLO golden vectors: $VELO_GOLDEN_DIR, else the copy in the repository (tests/data/velo_golden).
GOLDEN_DIR = Path(os.environ.get('VELO_GOLDEN_DIR') or REPO / 'tests' / 'data' / 'velo_golden')
GOLDEN_THETA = GOLDEN_DIR / 'theta.msgpack'


@pytest.fixture
def tiny_workload(monkeypatch):
  """Registers ``tiny_mini`` (logistic regression on the digits) and returns its name."""
  monkeypatch.setattr(catalogue, 'EMBEDDED_WORKLOADS', catalogue.EMBEDDED_WORKLOADS)
  monkeypatch.setattr(workloads, 'CLASSES', dict(workloads.CLASSES))
  workloads.register('tiny_mini', 'tiny_workload', 'TinyWorkload')
  return 'tiny_mini'


def run_short_trial(tmp_path, workload, submission, steps):
  """A ``steps``-step trial of ``submissions/<submission>`` through the local runner:
  (summary, rows of its eval_measurements.csv).

  The time budget is lifted (a VeLO submission compiles for longer than an embedded
  workload's 20 s) and the evaluations follow a step cadence of ``steps``; the rows are
  checked to come after step 1 and after the last step, the rule on every workload.
  """
  from local_runner.runner import RunConfig, run

  config = RunConfig(
    workload=workload,
    submission_path=str(REPO / f'submissions/{submission}/submission.py'),
    tuning_search_space=str(REPO / f'tuning_search_spaces/{submission}.json'),
    experiment_dir=str(tmp_path),
    experiment_name=submission,
    rng_seed=1,
    max_global_steps=steps,
    eval_every_steps=steps,
    max_allowed_runtime_sec=NO_TIME_LIMIT_SEC,
  )
  (summary,) = run(config, progress=lambda message: None)
  trial = tmp_path / submission / f'{workload}_jax' / 'trial_1' / 'eval_measurements.csv'
  with open(trial) as f:
    rows = list(csv.DictReader(f))
  assert [int(row['global_step']) for row in rows] == sorted({1, steps})
  return summary, rows
