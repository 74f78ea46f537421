"""``make smoke`` on AlgoPerf's real models (marked ``algoperf``: ``make test-official``).

``make test-official`` (CI) runs the 29 pairs of issue 19's point 2, at a batch of 2 on CPU
(one pair takes under a minute on an idle 2-core machine; all 64 pairs do not fit a CI run
beside the other official tests: docs/workloads.md has the times):

* ``adam`` and ``velo`` on the eight base workloads, ``criteo1tb`` in its test-sized form
  ``criteo1tb_test``: AlgoPerf's own variant with the same DLRM and a 65,536-row embedding
  table instead of 4,194,304;
* every submission on ``ogbg`` and ``criteo1tb_test``;
* ``velo`` on the full ``criteo1tb`` (539 M parameters), whose peak host memory must stay
  below 16 GiB (issue 19, point 4: its embedding table is streamed).

``make test-smoke`` (marked ``smoke``) runs the other pairs of ``make smoke``'s 64: every other
submission on the six large models and on the full ``criteo1tb``.

Each pair asserts what the smoke table reports: the parameters changed (every leaf, but for
momentum SGD's first tiny updates) and stayed finite, no
compilation after the first call, and the optimizer state's size against the parameters'
where the algorithm fixes it. Also here: the catalogue against AlgoPerf's own registry of
workload names.
"""

import json
import os
import subprocess
import sys

import pytest
from conftest import GOLDEN_THETA, REPO
from test_official_runner import SUBMISSIONS

from bench_core import catalogue

try:
  from algoperf.workloads import workloads as algoperf_workloads
except ImportError:
  algoperf_workloads = None

pytestmark = [
  pytest.mark.algoperf,
  pytest.mark.skipif(
    algoperf_workloads is None,
    reason='the official algoperf package is not importable '
    '(make install-algoperf, then make test-official runs these)',
  ),
]

CI_WORKLOADS = [w if w != 'criteo1tb' else 'criteo1tb_test' for w in catalogue.BASE_WORKLOADS]
#: The pairs ``make test-official`` runs (issue 19, point 2, and VeLO on the full criteo1tb).
CI_PAIRS = (
  {(opt, w) for opt in ('adam', 'velo') for w in CI_WORKLOADS}
  | {(opt, w) for opt in SUBMISSIONS for w in ('ogbg', 'criteo1tb_test')}
  | {('velo', 'criteo1tb')}
)
#: ``make smoke``'s 64 pairs: every submission on every base workload.
ALL_PAIRS = {(opt, w) for opt in SUBMISSIONS for w in catalogue.BASE_WORKLOADS}
PAIRS = sorted(CI_PAIRS | ALL_PAIRS)
#: Submissions whose update is the learning rate times a momentum of gradients. At warm-up's
#: first learning rates (imagenet_resnet: 0.05 / 7,000 at step 1) an update of a weight near 1
#: can be below half its float32 spacing and leave its bits as they were: heavy_ball leaves 5 of
#: imagenet_resnet's 161 leaves unchanged in 3 steps, batch-norm scales of the last blocks,
#: whose gradients are small while each block's last scale is near its initial 0. Only such
#: scales (near 1, where float32's spacing is widest among the weights) may stay unchanged.
GRADIENT_SCALED = {'heavy_ball', 'nesterov'}
#: Peak host memory allowed to VeLO on the full criteo1tb (issue 19: 16 GB, here GiB).
CRITEO1TB_VELO_MAX_RSS_BYTES = 16 * 2**30
#: Optimizer-state bytes per parameter byte that the algorithm fixes (plus a step counter).
STATE_PER_PARAM = {'adam': 2, 'nadam': 2, 'nadamw': 2, 'heavy_ball': 1, 'nesterov': 1}
#: VeLO's state in its default layout: three momenta and a second moment per parameter, plus
#: per-row, per-column and per-tensor statistics and tile padding (issue 19: at most 4.2).
VELO_MAX_STATE_PER_PARAM = 4.2


def test_the_catalogue_has_every_name_of_algoperfs_registry_with_its_base():
  assert catalogue.OFFICIAL_WORKLOADS == set(algoperf_workloads.WORKLOADS)
  assert set(catalogue.BASE_WORKLOADS) == set(algoperf_workloads.BASE_WORKLOADS)
  for name in algoperf_workloads.WORKLOADS:
    assert catalogue.base_workload(name) == algoperf_workloads.get_base_workload_name(name)


@pytest.mark.parametrize(
  'opt,workload', [p if p in CI_PAIRS else pytest.param(*p, marks=pytest.mark.smoke) for p in PAIRS]
)
def test_smoke_run_on_the_real_model(opt, workload, tmp_path_factory):
  # a folder per pair, so that pytest keeps every pair's row (it keeps 3 folders per name)
  out = tmp_path_factory.mktemp(f'smoke-{opt}-{workload}') / 'rows.json'
  command = [sys.executable, '-m', 'study.smoke', '--opt', opt, '--workload', workload]
  command += ['--steps', '3', '--batch_size', '2', '--json', str(out)]
  proc = subprocess.run(
    command,
    cwd=REPO,
    env={**os.environ, 'VELO_CHECKPOINT': str(GOLDEN_THETA), 'PYTHONPATH': str(REPO)},
    capture_output=True,
    text=True,
    timeout=1800,
  )
  print(proc.stdout[-2000:])
  (row,) = json.loads(out.read_text())
  assert row['status'] == 'ok', row['status']
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert row['steps'] == 3 and row['finite']
  if opt in GRADIENT_SCALED:
    assert row['leaves_changed'] > 0, 'no parameter changed'
    assert all(path.endswith("['scale']") for path in row['unchanged_leaves']), row[
      'unchanged_leaves'
    ]
  else:
    assert row['leaves_changed'] == row['leaves'] > 0, row['unchanged_leaves']
  assert row['compiles_later'] == 0, 'the train step compiled again after its first call'
  if (opt, workload) == ('velo', 'criteo1tb'):
    assert row['peak_rss_bytes'] < CRITEO1TB_VELO_MAX_RSS_BYTES, row['peak_rss_bytes'] / 2**30
  ratio = row['state_bytes'] / row['param_bytes']
  if opt in STATE_PER_PARAM:
    assert STATE_PER_PARAM[opt] <= ratio < STATE_PER_PARAM[opt] + 0.01
  else:
    assert 4 <= ratio <= VELO_MAX_STATE_PER_PARAM
