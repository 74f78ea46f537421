"""Every submission under the real AlgoPerf ``submission_runner`` on 1 and on 4 host devices
(``JAX_NUM_CPU_DEVICES=4``; ``XLA_FLAGS`` would not do, ``submission_runner.py`` overwrites
it when imported): one compilation of the train step
per trial, the same losses on 4 devices as on 1, the optimizer state replicated throughout.

Each submission runs ``STEPS`` steps of ``mnist`` (step control) through
``tests/fixtures/placement_probe.py`` (copied out of the repository, where the runner imports
it as a file of its own), which delegates to the submission and records where its
optimizer state and parameters live after every step. The evaluation period is longer than
any run, so AlgoPerf evaluates exactly after step 1 and after the last step on both device
counts. JAX's compile log (``JAX_LOG_COMPILES=1``) of each run gives the compilations.
Marked ``algoperf`` (``make test-official``).
"""

import collections
import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from test_official_runner import HAS_ALGOPERF, SUBMISSIONS, official_env, write_json

import velo
from bench_core import catalogue, layout
from conftest import FIXTURES
from study import locate

pytestmark = [
  pytest.mark.algoperf,
  pytest.mark.skipif(
    not HAS_ALGOPERF,
    reason='the official algoperf package is not importable '
    '(make install-algoperf, then make test-official runs these)',
  ),
]

STEPS = 4
DEVICES = (1, 4)
HAND_CRAFTED = catalogue.HAND_CRAFTED_ALGORITHMS
#: The project's jits of one trial: the optimizer state's init, then the train step (one
#: jit, or the gradient and a separately compiled update under VeLO's compiler options).
INIT_JIT = 'fresh_optimizer_state'
ONE_JIT_STEP = ('train_step',)
SPLIT_STEP = ('loss_and_grads', 'optimizer_update')
#: One line per XLA compilation; JAX may log it twice (its handler and absl's), with the
#: same duration, so compilations are told apart by (function, duration).
COMPILED = re.compile(r'Finished XLA compilation of jit\((\w+)\) in ([0-9.]+) sec')
LOSS_COLUMNS = ('train/loss', 'validation/loss', 'test/loss')


def compilations(log: str) -> collections.Counter:
  """How many times each function was compiled, from a ``JAX_LOG_COMPILES=1`` log."""
  return collections.Counter(name for name, _ in set(COMPILED.findall(log)))


def trial_command(tmp, steps: str, probe, name: str, devices: int):
  root = tmp / f'{name}_{devices}'
  command = [
    sys.executable,
    '-m',
    'study.launch',
    '--condition',
    'step',
    '--step_budgets',
    steps,
    '--eval_period_time_sec',
    '1e9',  # evaluations after step 1 and after the last step only
    '--',
    '--workload=mnist',
    '--framework=jax',
    f'--submission_path={probe}',
    f'--tuning_search_space={locate.search_space_file(name, "mnist", "step", False)}',
    f'--experiment_dir={root}',
    '--experiment_name=devices',
    '--rng_seed=1',
    '--overwrite',
    '--nostop_on_targets',
    # AlgoPerf's checkpoint of a replicated array on several devices fails in this
    # environment's orbax under jax 0.7.0 (jax.sharding.set_mesh is no context manager
    # there), for any submission: docs/devices.md
    '--nosave_checkpoints',
    f'--data_dir={tmp / "data"}',
  ]
  env = official_env(
    JAX_LOG_COMPILES='1',
    PLACEMENT_PROBE_SUBMISSION=name,
    PLACEMENT_PROBE_OUT=str(root / 'probe.jsonl'),
    # not XLA_FLAGS: submission_runner.py (2c90454f) overwrites it when imported
    JAX_NUM_CPU_DEVICES=str(devices),
  )
  root.mkdir()
  return command, env, root


@pytest.fixture(scope='module')
def device_runs(tmp_path_factory):
  """``{(submission, devices): (eval rows, probe records, compile log)}``; the two device
  counts of a submission run side by side (the reference machine has 2 cores)."""
  tmp = tmp_path_factory.mktemp('devices')
  steps = write_json(tmp / 'steps.json', {'mnist': STEPS})
  probe = tmp / 'placement_probe.py'
  shutil.copyfile(FIXTURES / 'placement_probe.py', probe)
  runs = {}
  for name in SUBMISSIONS:
    started = []
    for devices in DEVICES:
      command, env, root = trial_command(tmp, steps, probe, name, devices)
      proc = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
      )
      started.append((devices, root, proc))
    for devices, root, proc in started:
      log, _ = proc.communicate(timeout=600)
      assert proc.returncode == 0, f'{name} on {devices} devices:\n{log[-5000:]}'
      (trial,) = root.glob('devices/mnist_jax/trial_1')
      records = [json.loads(line) for line in (root / 'probe.jsonl').read_text().splitlines()]
      runs[name, devices] = (pd.read_csv(trial / layout.EVAL_MEASUREMENTS), records, log)
  return runs


@pytest.mark.parametrize('devices', DEVICES)
@pytest.mark.parametrize('name', SUBMISSIONS)
def test_the_train_step_compiles_once_per_trial(device_runs, name, devices):
  rows, probe, log = device_runs[name, devices]
  assert [r['step'] for r in probe] == list(range(STEPS))  # the steps ran
  assert {r['devices'] for r in probe} == {devices}
  assert rows['global_step'].tolist() == [1, STEPS]  # and the two evaluations
  counts = compilations(log)
  assert counts['_eval_model'] >= 1  # the log holds AlgoPerf's compilations too
  # mnist's VeLO search spaces keep VeLO's default memory layout, whose compiler options are
  # empty (velo.compiler_options): its update then compiles in the one jit, as Adam's does.
  step_jits = ONE_JIT_STEP if name in HAND_CRAFTED or not velo.compiler_options() else SPLIT_STEP
  assert {jit: counts[jit] for jit in (INIT_JIT, *ONE_JIT_STEP, *SPLIT_STEP)} == {
    INIT_JIT: 1,
    **{jit: int(jit in step_jits) for jit in ONE_JIT_STEP + SPLIT_STEP},
  }


@pytest.mark.parametrize('name', SUBMISSIONS)
def test_four_devices_give_the_losses_of_one(device_runs, name):
  one, _, _ = device_runs[name, 1]
  four, _, _ = device_runs[name, 4]
  assert one['global_step'].tolist() == four['global_step'].tolist() == [1, STEPS]
  for column in LOSS_COLUMNS:
    np.testing.assert_allclose(four[column], one[column], rtol=1e-5, err_msg=column)
  assert one['validation/loss'].iloc[-1] != one['validation/loss'].iloc[0]  # it trained


@pytest.mark.parametrize('name', SUBMISSIONS)
def test_optimizer_state_stays_replicated_on_four_devices(device_runs, name):
  _, probe, _ = device_runs[name, 4]
  assert len(probe) == STEPS and all(r['devices'] == 4 for r in probe)
  assert all(r['state_replicated'] and r['params_replicated'] for r in probe), probe
