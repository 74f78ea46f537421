"""--reference: other experiment trees (here AlgoPerf's published baseline logs, on 8 x V100)
scored next to a local one, their times rescaled to the local hardware by a hardware file."""

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scoring_helpers import write_trial

from bench_core import cli
from bench_core.errors import BenchError
from hardware_transfer import transfer
from scoring_ext import report, scoring
from scoring_ext.scoring import ScoringConfig
from scoring_ext.read import references

PUBLISHED = Path(__file__).resolve().parent / 'data' / 'algoperf_logs' / 'external_tuning'
#: local measurement of the target-setting algorithms: about twice as fast per step
MEASURED = {
  'criteo1tb': {'steps': 534, 'runtime_sec': 192.0, 'num_gpus': 1},
  'ogbg': {'steps': 4000, 'runtime_sec': 460.0, 'num_gpus': 1},
}
# AlgoPerf's reference (built into hardware_transfer): criteo1tb 10667 steps in 7703 s
CRITEO_FACTOR = (192.0 / 534) / (7703 / 10667)


@pytest.fixture(scope='module')
def local(tmp_path_factory):
  """nadamw on this hardware: 2 studies of criteo1tb and ogbg, budgets transferred."""
  root = tmp_path_factory.mktemp('local')
  for study in ('study_0', 'study_1'):
    loss = [0.5, 0.13, 0.125, 0.1236, 0.1230]
    write_trial(
      root,
      'nadamw',
      study,
      'criteo1tb',
      steps=[0, 1, 2, 3, 4],
      times=[0, 1000, 2000, 3000, 3800],
      train=loss,
      validation=loss,
      runtime=3835.0,
      validation_target=0.123735,
    )
    ap = [0.1, 0.2, 0.27, 0.285, 0.29]
    write_trial(
      root,
      'nadamw',
      study,
      'ogbg',
      steps=[0, 1, 2, 3, 4],
      times=[0, 2000, 4000, 6000, 9000],
      train=ap,
      validation=ap,
      runtime=9200.0,
      validation_target=0.28098,
    )
  return str(root)


@pytest.fixture(scope='module')
def hardware(tmp_path_factory):
  """The budgets file `python -m hardware_transfer.transfer` writes for MEASURED."""
  folder = tmp_path_factory.mktemp('hardware')
  (folder / 'measured.json').write_text(json.dumps(MEASURED))
  with contextlib.redirect_stdout(io.StringIO()):
    assert (
      transfer.main(
        ['--measured', str(folder / 'measured.json'), '--out', str(folder / 'budgets.json')]
      )
      == 0
    )
  return str(folder / 'budgets.json')


def score(local, **kwargs):
  return scoring.score_experiment(
    local,
    ScoringConfig(
      'time', target_source='algoperf', reference_dirs=[f'algoperf={PUBLISHED}'], **kwargs
    ),
  )


def test_mixing_hardware_is_refused_without_a_hardware_file(local):
  with pytest.raises(BenchError, match='measured on other hardware.*--reference_hardware'):
    score(local)


def test_reference_times_are_rescaled_to_this_hardware(local, hardware):
  result = score(local, reference_hardware=[hardware])
  assert result.algorithms == ('algoperf/baseline', 'nadamw')
  trial = result.per_trial.set_index(['algorithm', 'workload', 'study', 'trial']).loc[
    ('algoperf/baseline', 'criteo1tb', 'study_1', 'trial_1')
  ]
  assert trial['time_to_target'] == pytest.approx(7221.337500095367 * CRITEO_FACTOR)
  table = result.references.set_index('workload')
  assert table.at['criteo1tb', 'factor'] == pytest.approx(CRITEO_FACTOR)
  assert table.at['criteo1tb', 'times'].startswith('time x 0.4979 (budgets.json)')
  assert table.at['ogbg', 'trials'] == 6
  # the reference's fastmri is not in the local tree: left out, with a note
  assert 'fastmri' not in set(result.trials['workload'])
  assert any('left out: fastmri' in i.message for i in result.issues)
  # the budgets are the local tree's, not the reference's 7703 s
  assert result.budgets['criteo1tb'] == 3835.0
  assert set(result.scores['algorithm']) == {'algoperf/baseline', 'nadamw'}


def test_the_report_says_which_rows_were_rescaled(local, hardware, tmp_path):
  out = tmp_path / 'out'
  err = io.StringIO()
  with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
    code = cli.run_main(
      report.main,
      [
        '--experiment_dir',
        local,
        '--condition',
        'time',
        '--out',
        str(out),
        '--targets',
        'algoperf',
        '--reference',
        f'algoperf={PUBLISHED}',
        '--reference_hardware',
        hardware,
      ],
    )
  assert code == 0, err.getvalue()
  text = (out / 'report.md').read_text()
  assert '## Reference runs' in text
  assert (
    f'| {PUBLISHED} | algoperf/baseline | criteo1tb | 6 | 0.4979 | time x 0.4979 (budgets.json) |'
  ) in text
  assert '## Reference trees' in (out / 'audit.md').read_text()
  ttt = pd.read_csv(out / 'time_to_target.csv')
  assert 'algoperf/baseline' in set(ttt['algorithm'])


def test_mixed_hardware_when_asked_keeps_times_as_measured(local):
  result = score(local, allow_mixed_hardware=True)
  trial = result.per_trial.set_index(['algorithm', 'workload', 'study', 'trial']).loc[
    ('algoperf/baseline', 'criteo1tb', 'study_1', 'trial_1')
  ]
  # 7221 s as measured on 8 x V100 is past this tree's 3835 s budget: a miss
  assert trial['time_to_target'] == np.inf
  assert set(result.references['times']) == {'time as measured (--allow_mixed_hardware)'}


def test_steps_need_no_rescaling(local):
  result = scoring.score_experiment(
    local, ScoringConfig('step', target_source='algoperf', reference_dirs=[str(PUBLISHED)])
  )
  assert 'external_tuning/baseline' in result.algorithms  # label: the folder's name
  assert set(result.references['times']) == {'steps: not rescaled (hardware independent)'}


def test_bad_references_and_hardware_files(local, hardware, tmp_path):
  with pytest.raises(BenchError, match='two references share a label'):
    scoring.score_experiment(
      local,
      ScoringConfig(
        'time', reference_dirs=[str(PUBLISHED), str(PUBLISHED)], reference_hardware=[hardware]
      ),
    )
  partial = tmp_path / 'partial.json'
  partial.write_text(
    json.dumps({'ogbg': {'local_time_per_step': 0.1, 'reference_time_per_step': 0.2}})
  )
  with pytest.raises(BenchError, match="partial.json: no entry for workload 'criteo1tb'"):
    score(local, reference_hardware=[str(partial)])
  partial.write_text(json.dumps({'ogbg': {'local_time_per_step': 'fast'}}))
  with pytest.raises(BenchError, match="field 'ogbg.local_time_per_step' must be a positive"):
    references.read_hardware_file(str(partial))
  with pytest.raises(BenchError, match='none of its workloads'):
    scoring.score_experiment(
      local, ScoringConfig('step', reference_dirs=[str(PUBLISHED.parent / 'self_tuning')])
    )
  with pytest.raises(
    BenchError, match=r'one file \(used for every reference\) or one per reference'
  ):
    score(local, reference_hardware=[hardware, hardware])
  assert references.parse_reference('ap=/x/y') == ('ap', '/x/y')
  assert references.parse_reference('/x/runs/') == ('runs', '/x/runs/')
