"""All eight AlgoPerf base workloads and their variants, through every table and command:
batch sizes, reference and step budgets, VeLO's prompts, ``make submit``, the sweep and its
SLURM script, the transfer flow and the report."""

import contextlib
import io
import json
import math

import numpy as np
import pandas as pd
import pytest
from conftest import GOLDEN_THETA
from scoring_helpers import write_trial

from bench_core import catalogue, cli, file_formats
from bench_core.errors import BenchError
from hardware_transfer import files, step_prompt, transfer
from scoring_ext import report
from study import budgets, locate, submit, sweep
from submissions import _common

OFFICIAL_NAMES = sorted(catalogue.OFFICIAL_WORKLOADS)
VARIANTS = sorted(catalogue.VARIANTS)
#: AlgoPerf's target-setting get_batch_size (2c90454f), which the project's must agree with.
TARGET_SETTING_BATCH_SIZES = {
  'criteo1tb': 262_144,
  'fastmri': 32,
  'imagenet_resnet': 1024,
  'imagenet_resnet_silu': 512,
  'imagenet_resnet_gelu': 512,
  'imagenet_vit': 1024,
  'imagenet_vit_glu': 512,
  'librispeech_conformer': 256,
  'librispeech_deepspeech': 256,
  'ogbg': 512,
  'wmt': 128,
}


def test_the_catalogue_names_eight_base_workloads_and_maps_every_variant_to_one():
  assert len(catalogue.BASE_WORKLOADS) == 8
  assert set(catalogue.VARIANTS.values()) == set(catalogue.BASE_WORKLOADS)
  for variant, base in catalogue.VARIANTS.items():
    assert variant.startswith(base + '_')
    assert catalogue.lookup_names(variant) == (variant, base)
    assert catalogue.check_workload(variant) == variant
  for base in catalogue.BASE_WORKLOADS:
    assert catalogue.lookup_names(base) == (base,)
    assert catalogue.default_target_metric(base) is not None


def test_get_batch_size_answers_every_official_name(monkeypatch):
  monkeypatch.setattr(_common, 'BATCH_SIZE_OVERRIDES', {})
  for name in OFFICIAL_NAMES:
    expected = TARGET_SETTING_BATCH_SIZES.get(name) or TARGET_SETTING_BATCH_SIZES.get(
      catalogue.base_workload(name)
    )
    if name in catalogue.DEVELOPMENT_WORKLOADS:
      expected = {'cifar': 128, 'mnist': 16}[name]
    assert _common.get_batch_size(name) == expected, name
  with pytest.raises(ValueError, match="no batch size for workload 'nosuch'"):
    _common.get_batch_size('nosuch')


def test_a_batch_size_override_reaches_the_variants_of_its_workload(monkeypatch):
  overrides = _common.batch_size_overrides(
    {_common.BATCH_SIZES_ENV: json.dumps({'wmt': 8, 'ogbg_gelu': 4})}
  )
  monkeypatch.setattr(_common, 'BATCH_SIZE_OVERRIDES', overrides)
  assert _common.get_batch_size('wmt_post_ln') == 8
  assert _common.get_batch_size('ogbg_gelu') == 4
  assert _common.get_batch_size('ogbg') == 512
  for bad in ('[8]', '{"wmt": 0}', '{"wmt": "8"}', 'eight'):
    with pytest.raises(BenchError, match=_common.BATCH_SIZES_ENV):
      _common.batch_size_overrides({_common.BATCH_SIZES_ENV: bad})


def test_every_base_workload_has_budgets_prompts_and_placeholders_with_their_rule():
  reference = files.load_reference()
  raw_reference = json.loads(files.BUILTIN_REFERENCE.read_text())
  steps = files.load_step_budgets()
  raw_steps = json.loads(files.BUILTIN_STEP_BUDGETS.read_text())
  spaces = locate.SEARCH_SPACES
  for w in catalogue.BASE_WORKLOADS:
    assert raw_reference[w]['source'] and raw_steps[w]['source'], w
    ref_steps = reference[w].measurement.steps
    assert 0 < steps[w] <= ref_steps, w  # a step budget never exceeds the reference steps
    for condition_dir, prompt in ((spaces / 'step', steps[w]), (spaces / 'placeholder', ref_steps)):
      velo = json.loads((condition_dir / 'velo' / f'{w}.json').read_text())
      short = json.loads((condition_dir / 'velo_short' / f'{w}.json').read_text())
      assert velo == step_prompt.search_space(prompt), (condition_dir, w)
      assert short == step_prompt.search_space(math.floor(0.75 * prompt)), (condition_dir, w)


def test_reference_seconds_per_step_of_the_new_workloads_match_algoperf_at_2c90454f():
  # 2c90454f scaled v0.5's budget and step_hint of each workload by one factor: the seconds
  # per step, the quantity the transfer uses, are the same (to the rounding of the budget).
  at_2c90454f = {  # max_allowed_runtime_sec, step_hint
    'imagenet_vit': (69_768, 167_999),
    'librispeech_conformer': (58_015, 76_000),
    'librispeech_deepspeech': (44_405, 38_400),
    'wmt': (43_336, 120_000),
  }
  reference = files.load_reference()
  for w, (runtime, hint) in at_2c90454f.items():
    m = reference[w].measurement
    assert m.runtime_sec / m.steps == pytest.approx(runtime / hint, rel=1e-4), w


def test_variants_take_their_base_budgets_and_search_spaces(tmp_path):
  assert budgets.step_budget('wmt_post_ln') == budgets.step_budget('wmt') == 133_000
  assert budgets.step_budget('criteo1tb_test') == 7000
  path = tmp_path / 'b.json'
  path.write_text(json.dumps({'imagenet_vit': {'max_allowed_runtime_sec': 5000}}))
  assert budgets.time_budget('imagenet_vit_map', str(path)) == 5000
  with pytest.raises(
    BenchError, match="no max_allowed_runtime_sec for workload 'wmt_glu_tanh' or 'wmt'"
  ):
    budgets.time_budget('wmt_glu_tanh', str(path))
  space = locate.search_space_file('velo', 'librispeech_conformer_gelu', 'step')
  assert space == locate.SEARCH_SPACES / 'step' / 'velo' / 'librispeech_conformer.json'
  placeholder = locate.search_space_file(
    'velo_short', 'wmt_post_ln', 'time', allow_placeholder=True
  )
  assert placeholder == locate.PLACEHOLDERS / 'velo_short' / 'wmt.json'
  with pytest.raises(BenchError, match='only the placeholder'):
    locate.search_space_file('velo', 'wmt_post_ln', 'time')
  assert (
    locate.search_space_file('adam', 'wmt_post_ln', 'time') == locate.SEARCH_SPACES / 'adam.json'
  )


def test_the_transfer_flow_takes_every_base_workload_and_a_variant(tmp_path):
  names = [*catalogue.BASE_WORKLOADS, 'imagenet_vit_glu']
  measured = {w: {'steps': 100, 'runtime_sec': 50.0, 'num_gpus': 1} for w in names}
  (tmp_path / 'measured.json').write_text(json.dumps(measured))
  out = tmp_path / 'budgets.json'
  assert transfer.main(['--measured', str(tmp_path / 'measured.json'), '--out', str(out)]) == 0
  written = json.loads(out.read_text())
  reference = files.load_reference()
  for w in names:
    ref = reference[catalogue.base_workload(w)].measurement
    # 0.5 s per step locally: the budget is the time of the reference steps at that speed
    assert written[w]['max_allowed_runtime_sec'] == ref.steps // 2, w
    assert budgets.time_budget(w, str(out)) == ref.steps // 2
  probes = {w: [{'steps': 10, 'runtime_sec': 10.0}] for w in names}
  (tmp_path / 'probes.json').write_text(json.dumps(probes))
  spaces = tmp_path / 'spaces'
  args = [
    '--budgets',
    str(out),
    '--probes',
    str(tmp_path / 'probes.json'),
    '--out_dir',
    str(spaces),
  ]
  assert step_prompt.main(args) == 0
  for w in names:
    prompt = json.loads((spaces / 'velo' / f'{w}.json').read_text())['total_steps']
    assert prompt['feasible_points'] == [written[w]['max_allowed_runtime_sec']]


@pytest.fixture
def official_python_stub(tmp_path, monkeypatch):
  """An ``$ALGOPERF_PYTHON`` that records its arguments instead of running a trial (VeLO's
  weights: the random meta-initialisation, which the pre-flight check asks for)."""
  monkeypatch.setenv('VELO_CHECKPOINT', str(GOLDEN_THETA))
  log = tmp_path / 'calls.txt'
  stub = tmp_path / 'python'
  stub.write_text(f'#!/bin/bash\necho "$@" >> {log}\n')
  stub.chmod(0o755)
  monkeypatch.setenv('ALGOPERF_PYTHON', str(stub))
  return log


@pytest.mark.parametrize('workload', [*catalogue.BASE_WORKLOADS, 'wmt_glu_tanh'])
def test_make_submit_runs_velo_on_every_base_workload_and_a_variant(
  workload, tmp_path, official_python_stub
):
  argv = ['--opt', 'velo', '--workload', workload, '--condition', 'step']
  assert submit.main([*argv, '--experiment_dir', str(tmp_path / 'exp')]) == 0
  (call,) = official_python_stub.read_text().splitlines()
  base = catalogue.base_workload(workload)
  assert call.startswith('-m study.launch --config ')
  config = file_formats.load_run_config(call.split()[-1])
  assert (config.workload, config.runner) == (workload, 'official')
  assert config.tuning_search_space.endswith(f'tuning_search_spaces/step/velo/{base}.json')


def test_the_sweep_writes_a_slurm_array_over_every_official_name(tmp_path, official_python_stub):
  names = [*catalogue.BASE_WORKLOADS, *VARIANTS]
  script = tmp_path / 'study.sbatch'
  argv = ['--algorithms', 'adam', 'velo', '--workloads', *names, '--studies', '1']
  argv += ['--conditions', 'step', 'time', '--allow_placeholder_prompts']
  argv += ['--experiment_dir', str(tmp_path / 'exp'), '--slurm', str(script)]
  out = io.StringIO()
  with contextlib.redirect_stdout(out):
    assert cli.run_main(sweep.main, argv) == 0
  commands = (tmp_path / 'study.commands').read_text().splitlines()
  assert len(commands) == 2 * 2 * len(names)
  configs = {c: file_formats.load_run_config(c.split()[-1]) for c in commands}
  for name in names:
    mine = [c for c, config in configs.items() if config.workload == name]
    assert len(mine) == 4, name
    assert all(c.startswith(f'{official_python_stub.parent / "python"} ') for c in mine)


def test_the_report_scores_the_eight_workloads_and_a_variant(tmp_path):
  names = [*catalogue.BASE_WORKLOADS, 'wmt_post_ln']
  steps = np.linspace(0, 1000, 11)
  for a, algorithm in enumerate(['adam', 'velo']):
    for w in names:
      metric = catalogue.default_target_metric(w)
      curve = 1 - np.exp(-(2 + a) * steps / 1000)
      values = 1 - 0.9 * curve if catalogue.is_minimized(metric) else 0.9 * curve
      write_trial(
        tmp_path / 'exp',
        algorithm,
        'study_1',
        w,
        steps=steps,
        train=values,
        validation=values,
        metric=metric,
        max_global_steps=1000,
      )
  out = tmp_path / 'report'
  argv = ['--experiment_dir', str(tmp_path / 'exp'), '--condition', 'step', '--out', str(out)]
  with contextlib.redirect_stdout(io.StringIO()):
    assert cli.run_main(report.main, [*argv, '--bootstrap', '0']) == 0
  targets = pd.read_csv(out / 'targets.csv')
  assert set(targets['workload']) == set(names)
  scores = pd.read_csv(out / 'scores.csv')
  # velo converges faster on every workload: fastest everywhere scores 1
  assert scores.loc[scores['algorithm'] == 'velo', 'score'].eq(1.0).all()
