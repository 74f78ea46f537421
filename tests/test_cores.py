"""Concurrent trials on cores of their own (study.cores, study.sweep.run_sweep)."""

import json
import sys
from pathlib import Path

import pytest

from study import cores, sweep


def test_slots_are_disjoint_and_cover_the_cores_evenly():
  assert cores.core_slots(2, [0, 1]) == [{0}, {1}]
  assert cores.core_slots(2, [0, 1, 2, 3, 4]) == [{0, 2, 4}, {1, 3}]
  assert cores.core_slots(3, [4, 5, 6]) == [{4}, {5}, {6}]


def test_one_job_or_more_jobs_than_cores_is_not_pinned():
  assert cores.core_slots(1, [0, 1]) is None
  assert cores.core_slots(3, [0, 1]) is None
  assert cores.describe(None) == 'not pinned to cores'


def test_default_jobs_is_one_per_core_at_most_two():
  assert cores.default_jobs([0]) == 1
  assert cores.default_jobs([0, 1]) == 2
  assert cores.default_jobs(list(range(64))) == 2


class AffinityTrial:
  """A stand-in for TrialSpec whose command records the cores its process may use."""

  def __init__(self, root: Path, index: int):
    self.run_dir = root / f'trial_{index}' / 'run'
    self.label = f'fake {index}'
    self.seed = index
    self.record = root / f'affinity_{index}.json'

  def write_run_config(self):
    self.run_dir.parent.mkdir(parents=True, exist_ok=True)

  def command(self):
    code = (
      'import json, os, sys, time; time.sleep(0.5); '
      'json.dump(sorted(os.sched_getaffinity(0)), open(sys.argv[1], "w"))'
    )
    return [sys.executable, '-c', code, str(self.record)]

  def is_complete(self):
    return self.record.is_file()


@pytest.mark.skipif(len(cores.usable_cores()) < 2, reason='needs at least 2 usable cores')
def test_a_sweep_of_two_jobs_runs_each_trial_on_a_slot_of_its_own(tmp_path):
  usable = cores.usable_cores()
  slots = [sorted(s) for s in cores.core_slots(2, usable)]
  trials = [AffinityTrial(tmp_path, i) for i in range(4)]
  messages = []
  failed = sweep.run_sweep(trials, jobs=2, out=messages.append)
  assert failed == []
  seen = [json.loads(t.record.read_text()) for t in trials]
  assert all(s in slots for s in seen), (seen, slots)
  assert 'each on cores of its own' in messages[0]


def test_one_job_leaves_the_affinity_alone(tmp_path):
  trials = [AffinityTrial(tmp_path, 0)]
  assert sweep.run_sweep(trials, jobs=1, out=lambda m: None) == []
  assert json.loads(trials[0].record.read_text()) == cores.usable_cores()
