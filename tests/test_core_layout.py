"""The bottom layer: trial-folder layout, its reader and writer, and the workload catalogue."""

import json
import subprocess
import sys

import pytest

from bench_core import catalogue, cli, file_formats, layout
from bench_core.errors import BenchError
from conftest import REPO
from local_runner import workloads
from scoring_ext.compute import presets
from study import locate


def test_workload_dir_names():
  assert layout.split_workload_dir('imagenet_resnet_mini_jax') == ('imagenet_resnet_mini', 'jax')
  assert layout.split_workload_dir('ogbg_pytorch') == ('ogbg', 'pytorch')
  assert layout.split_workload_dir('ogbg') == ('ogbg', '')
  assert layout.workload_dir_name('ogbg') == 'ogbg_jax'
  assert layout.trial_number('trial_12') == 12 and layout.trial_number('trial_x') is None


def test_study_paths_are_what_runners_write_and_scoring_reads(tmp_path):
  run = layout.study_run_dir(tmp_path, 'step', 'adam', 3, 'ogbg_mini')
  assert run == tmp_path / 'step' / 'adam' / 'study_3' / 'ogbg_mini_jax'
  assert run == layout.run_dir(
    layout.study_runner_root(tmp_path, 'step', 'adam'), layout.study_name(3), 'ogbg_mini'
  )
  (run / 'trial_1').mkdir(parents=True)
  (run / 'trial_2').mkdir()
  (run / 'not_a_trial').mkdir()
  found = layout.find_scoring_trials(tmp_path / 'step')
  assert [(t.algorithm, t.study, t.workload, t.framework, t.trial) for t in found] == [
    ('adam', 'study_3', 'ogbg_mini', 'jax', 'trial_1'),
    ('adam', 'study_3', 'ogbg_mini', 'jax', 'trial_2'),
  ]
  assert [p.name for p in layout.trial_dirs(run)] == ['trial_1', 'trial_2']


def test_find_trials_anywhere_orders_by_trial_number(tmp_path):
  for k in (10, 2, 1):
    trial = tmp_path / 'a' / 'b' / 'ogbg_jax' / f'trial_{k}'
    trial.mkdir(parents=True)
    (trial / layout.EVAL_MEASUREMENTS).write_text('global_step\n1\n')
  (tmp_path / 'x' / 'trial_1').mkdir(parents=True)  # no <workload>_<framework>
  (tmp_path / 'x' / 'trial_1' / layout.EVAL_MEASUREMENTS).write_text('')
  found = layout.find_trials_anywhere(tmp_path)
  assert list(found) == ['ogbg'] and [p.name for p in found['ogbg']] == [
    'trial_1',
    'trial_2',
    'trial_10',
  ]


@pytest.mark.parametrize(
  'content, message',
  [
    (None, 'x.json: file not found'),
    ('{', 'x.json: not valid JSON'),
    ('[1]', 'x.json: expected a JSON object, got list'),
  ],
)
def test_read_json_object_names_the_file(tmp_path, content, message):
  path = tmp_path / 'x.json'
  if content is not None:
    path.write_text(content)
  with pytest.raises(BenchError, match=message):
    layout.read_json_object(path)


def test_atomic_writes_leave_no_temporary_file(tmp_path):
  layout.write_json(tmp_path / 'sub' / 'a.json', {'b': 1, 'a': 2})
  assert json.loads((tmp_path / 'sub' / 'a.json').read_text()) == {'a': 2, 'b': 1}
  assert [p.name for p in (tmp_path / 'sub').iterdir()] == ['a.json']


def test_completion_and_divergence_records(tmp_path):
  assert not layout.is_complete(tmp_path) and not layout.is_diverged(tmp_path)
  file_formats.mark_diverged(tmp_path, 7, 'nan')
  file_formats.mark_complete(tmp_path, file_formats.TrialComplete('official'))
  assert layout.is_complete(tmp_path) and layout.is_diverged(tmp_path)
  assert file_formats.load_diverged(tmp_path / layout.DIVERGED) == file_formats.Diverged(7, 'nan')


def test_catalogue_names_runners_and_stand_ins():
  assert catalogue.is_embedded('ogbg_mini') and not catalogue.is_official('ogbg_mini')
  assert catalogue.is_official('criteo1tb_test') and not catalogue.is_embedded('criteo1tb')
  assert catalogue.embedded_stand_in('criteo1tb_layernorm') == 'criteo1tb_mini'
  assert catalogue.embedded_stand_in('wmt') is None
  assert catalogue.official_counterpart('fastmri_mini') == 'fastmri'
  with pytest.raises(BenchError, match="unknown workload 'nosuch_mini'.*embedded workloads are"):
    catalogue.check_workload('nosuch_mini')
  with pytest.raises(BenchError, match="unknown condition 'wall'"):
    catalogue.check_condition('wall')


def test_default_target_metric_by_family():
  assert catalogue.default_target_metric('imagenet_resnet_mini') == 'accuracy'
  assert catalogue.default_target_metric('librispeech_conformer_gelu') == 'wer'
  assert catalogue.default_target_metric('nosuch') is None


def test_the_catalogue_is_the_one_list_of_algorithms_workloads_and_conditions():
  """Every list the Makefile, the demo and the runners use comes from the catalogue: its
  algorithms are the submission folders, each embedded workload has its class (and no class
  lacks a name), the embedded workloads' target directions are the catalogue's, and the
  Makefile reads the lists through ``python -m bench_core.catalogue --list``."""
  assert sorted(catalogue.ALGORITHMS) == locate.known_algorithms()
  assert set(workloads.CLASSES) == set(catalogue.EMBEDDED_WORKLOADS)
  for name in catalogue.EMBEDDED_WORKLOADS:
    workload = workloads.get_workload(name)
    assert workload.target_metric_is_minimised == (
      catalogue.metric_direction(workload.target_metric_name) == catalogue.MINIMIZE
    )
  out = subprocess.run(
    [sys.executable, '-m', 'bench_core.catalogue', '--list', 'embedded'],
    cwd=REPO,
    capture_output=True,
    text=True,
    check=True,
  ).stdout
  assert out.split() == list(catalogue.EMBEDDED_WORKLOADS)
  make = subprocess.run(
    ['make', '-n', 'sweep', f'PYTHON={sys.executable}'],
    cwd=REPO,
    capture_output=True,
    text=True,
    check=True,
  ).stdout
  assert f'--algorithms {" ".join(catalogue.HAND_CRAFTED_ALGORITHMS)} ' in make
  assert f'--conditions {" ".join(catalogue.CONDITIONS)} ' in make


def test_the_papers_reference_targets_cover_the_study_workloads_in_both_conditions():
  targets = presets.paper_targets()
  assert set(targets) == set(catalogue.CONDITIONS)
  for by_split in targets.values():
    for by_workload in by_split.values():
      assert tuple(by_workload) == catalogue.STUDY_WORKLOADS
  assert presets.paper_workloads() == catalogue.STUDY_WORKLOADS


# ---- the one user-facing error ----------------------------------------------------------------


def test_bench_error_is_no_value_error_and_run_main_prints_only_it(capsys):
  assert not issubclass(BenchError, ValueError)

  def bad_input(argv):
    raise BenchError('b.json: field x must be a number')

  def programming_error(argv):
    raise ValueError('a bug')

  assert cli.run_main(bad_input, []) == cli.INPUT_ERROR_EXIT
  assert capsys.readouterr().err == 'error: b.json: field x must be a number\n'
  with pytest.raises(ValueError, match='a bug'):  # a traceback, not a one-line message
    cli.run_main(programming_error, [])
