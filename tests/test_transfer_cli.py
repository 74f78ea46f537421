"""The transfer and step_prompt commands: outputs, and input errors that name file and field."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench_core import cli, file_formats
from bench_core.errors import BenchError
from hardware_transfer import files, step_prompt, transfer

REPO = Path(__file__).resolve().parents[1]


def write(path, data):
  path.write_text(json.dumps(data))
  return str(path)


def run_cli(main, argv, capsys):
  """(exit status, stdout, stderr) of ``main`` as the command line runs it."""
  rc = cli.run_main(main, argv)
  captured = capsys.readouterr()
  return rc, captured.out, captured.err


# ---- transfer ----------------------------------------------------------------------------


def test_transfer_writes_budgets_and_keeps_other_workloads(tmp_path, capsys):
  measured = write(
    tmp_path / 'm.json',
    {
      'criteo1tb': {'steps': 10_667, 'runtime_sec': 7703, 'num_gpus': 8},  # same as reference
      'ogbg': {'steps': 100, 'runtime_sec': 11.5, 'num_gpus': 2},
    },
  )  # 0.115 s/step
  out = tmp_path / 'budgets.json'
  out.write_text(json.dumps({'fastmri': {'max_allowed_runtime_sec': 123}}))
  rc, stdout, _ = run_cli(transfer.main, ['--measured', measured, '--out', str(out)], capsys)
  assert rc == 0
  budgets = json.loads(out.read_text())
  assert budgets['fastmri'] == {'max_allowed_runtime_sec': 123}
  assert budgets['criteo1tb']['max_allowed_runtime_sec'] == 7703
  assert budgets['criteo1tb']['factor'] == 1.0
  assert budgets['ogbg'] == {
    'max_allowed_runtime_sec': 9200,  # 0.115 * 80000
    'factor': pytest.approx(0.115 / 0.2309625),
    'local_time_per_step': pytest.approx(0.115),
    'reference_time_per_step': pytest.approx(0.2309625),
    'num_gpus': 2,
  }
  assert '9200' in stdout and '0.4979' in stdout


def test_transfer_with_a_custom_reference(tmp_path, capsys):
  reference = write(
    tmp_path / 'r.json',
    {'imagenet_resnet_mini': {'algorithm': 'heavy_ball', 'steps': 800, 'runtime_sec': 30}},
  )
  measured = write(
    tmp_path / 'm.json', {'imagenet_resnet_mini': {'steps': 39, 'runtime_sec': 0.39, 'num_gpus': 1}}
  )
  out = tmp_path / 'b.json'
  rc, _, _ = run_cli(
    transfer.main, ['--measured', measured, '--reference', reference, '--out', str(out)], capsys
  )
  # 0.01 s/step * 800 steps = 8 s
  assert (
    rc == 0 and json.loads(out.read_text())['imagenet_resnet_mini']['max_allowed_runtime_sec'] == 8
  )


@pytest.mark.parametrize(
  'measured, message',
  [
    ({'mnist': {'steps': 1, 'runtime_sec': 1, 'num_gpus': 1}}, r"m.json: unknown workload 'mnist'"),
    ({'ogbg': {'steps': 0, 'runtime_sec': 1, 'num_gpus': 1}}, r"m.json: field 'ogbg.steps'"),
    ({'ogbg': {'steps': 2.5, 'runtime_sec': 1, 'num_gpus': 1}}, r"m.json: field 'ogbg.steps'"),
    (
      {'ogbg': {'steps': 10, 'runtime_sec': -1, 'num_gpus': 1}},
      r"m.json: field 'ogbg.runtime_sec'",
    ),
    ({'ogbg': {'steps': 10, 'runtime_sec': 0, 'num_gpus': 1}}, r"m.json: field 'ogbg.runtime_sec'"),
    ({'ogbg': {'steps': 10, 'runtime_sec': 1, 'num_gpus': 0}}, r"m.json: field 'ogbg.num_gpus'"),
    ({'ogbg': {'steps': 10, 'num_gpus': 1}}, r"m.json: field 'ogbg' lacks 'runtime_sec'"),
    ({'ogbg': 5}, r"m.json: field 'ogbg' must be an object"),
    ({}, r'm.json: no workloads'),
  ],
)
def test_transfer_input_errors_name_file_and_field(tmp_path, capsys, measured, message):
  path = write(tmp_path / 'm.json', measured)
  rc, _, err = run_cli(
    transfer.main, ['--measured', path, '--out', str(tmp_path / 'b.json')], capsys
  )
  assert rc != 0
  assert err.startswith('error: ')
  assert re.search(message, err), err
  assert not (tmp_path / 'b.json').exists()


def test_reference_errors_name_the_reference_file(tmp_path):
  path = write(tmp_path / 'ref.json', {'ogbg': {'algorithm': 'nesterov', 'steps': 80_000}})
  with pytest.raises(BenchError, match=r"ref.json: field 'ogbg' lacks 'runtime_sec'"):
    files.load_reference(path)


def test_builtin_reference_is_the_protocol_table():
  reference = files.load_reference()
  assert {
    w: (e.algorithm, e.measurement.steps, e.measurement.runtime_sec)
    for w, e in reference.items()
    if not w.endswith('_mini')
  } == {
    'criteo1tb': ('nadamw', 10_667, 7_703),
    'fastmri': ('nesterov', 38_189, 8_859),
    'imagenet_resnet': ('heavy_ball', 186_667, 63_008),
    'ogbg': ('nesterov', 80_000, 18_477),
    # not in the study: AlgoPerf v0.5's step_hint and max_allowed_runtime_sec
    'imagenet_vit': ('nadamw', 186_666, 77_520),
    'librispeech_conformer': ('nadamw', 80_000, 61_068),
    'librispeech_deepspeech': ('nadamw', 48_000, 55_506),
    'wmt': ('nadamw', 133_333, 48_151),
  }
  # the embedded workloads: their 20 s budgets, measured on the project's 2-core machine
  assert {w for w in reference if w.endswith('_mini')} == {
    'criteo1tb_mini',
    'fastmri_mini',
    'imagenet_resnet_mini',
    'ogbg_mini',
  }
  assert all(reference[w].measurement.runtime_sec == 20 for w in reference if w.endswith('_mini'))
  assert files.load_step_budgets() == {
    'criteo1tb': 7000,
    'fastmri': 36_000,
    'imagenet_resnet': 150_000,
    'ogbg': 80_000,
    'imagenet_vit': 186_000,
    'librispeech_conformer': 80_000,
    'librispeech_deepspeech': 48_000,
    'wmt': 133_000,
    'mnist': 7813,  # AlgoPerf's development workloads: their step_hint
    'cifar': 4883,
  }


def test_missing_and_malformed_files(tmp_path):
  with pytest.raises(BenchError, match=r'nope.json: file not found'):
    file_formats.load_measurements(tmp_path / 'nope.json')
  (tmp_path / 'bad.json').write_text('{"ogbg": ')
  with pytest.raises(BenchError, match=r'bad.json: not valid JSON'):
    file_formats.load_measurements(tmp_path / 'bad.json')
  (tmp_path / 'list.json').write_text('[1, 2]')
  with pytest.raises(BenchError, match=r'list.json: expected a JSON object'):
    file_formats.load_time_budgets(tmp_path / 'list.json')


def test_command_line_error_has_no_traceback(tmp_path):
  path = write(tmp_path / 'm.json', {'ogbg': {'steps': -3, 'runtime_sec': 1, 'num_gpus': 1}})
  proc = subprocess.run(
    [
      sys.executable,
      '-m',
      'hardware_transfer.transfer',
      '--measured',
      path,
      '--out',
      str(tmp_path / 'b.json'),
    ],
    capture_output=True,
    text=True,
    cwd=REPO,
    env={**os.environ, 'PYTHONPATH': str(REPO)},
    timeout=60,
  )
  assert proc.returncode != 0
  assert "m.json: field 'ogbg.steps' must be a positive integer, got -3" in proc.stderr
  assert 'Traceback' not in proc.stderr


# ---- step_prompt -------------------------------------------------------------------------


def read_total_steps(path):
  return json.loads(Path(path).read_text())['total_steps']['feasible_points']


def test_step_prompt_from_probes(tmp_path, capsys):
  budgets = write(
    tmp_path / 'b.json',
    {'ogbg': {'max_allowed_runtime_sec': 9200}, 'criteo1tb': {'max_allowed_runtime_sec': 7703}},
  )
  probes = write(
    tmp_path / 'p.json',
    {'ogbg': [{'steps': 100, 'runtime_sec': 12.0}, {'steps': 200, 'runtime_sec': 23.0}]},
  )
  out = tmp_path / 'spaces'
  rc, stdout, _ = run_cli(
    step_prompt.main, ['--budgets', budgets, '--probes', probes, '--out_dir', str(out)], capsys
  )
  assert rc == 0
  # estimates floor(9200 / 0.12) = 76666 and 9200 / 0.115 = 80000; mean 78333;
  # velo_short floor(0.75 * 78333) = floor(58749.75) = 58749
  assert read_total_steps(out / 'velo' / 'ogbg.json') == [78_333]
  assert read_total_steps(out / 'velo_short' / 'ogbg.json') == [58_749]
  assert not (out / 'velo' / 'criteo1tb.json').exists()  # no probes for it
  for number in ('0.120000', '0.115000', '76666', '80000', '78333', '58749'):
    assert number in stdout


def test_actual_steps_replace_the_estimate(tmp_path, capsys):
  budgets = write(tmp_path / 'b.json', {'ogbg': {'max_allowed_runtime_sec': 9200}})
  probes = write(tmp_path / 'p.json', {'ogbg': [{'steps': 100, 'runtime_sec': 12.0}]})
  actual = write(tmp_path / 'a.json', {'ogbg': 70_001})
  out = tmp_path / 'spaces'
  existing = out / 'velo' / 'ogbg.json'
  existing.parent.mkdir(parents=True)
  existing.write_text(json.dumps({'total_steps': {'feasible_points': [1]}, 'other': {'x': 1}}))
  rc, stdout, _ = run_cli(
    step_prompt.main,
    ['--budgets', budgets, '--probes', probes, '--actual_steps', actual, '--out_dir', str(out)],
    capsys,
  )
  assert rc == 0
  assert read_total_steps(existing) == [70_001]
  assert json.loads(existing.read_text())['other'] == {'x': 1}  # other keys kept
  assert read_total_steps(out / 'velo_short' / 'ogbg.json') == [52_500]  # floor(52500.75)
  assert '76666' in stdout  # the estimate is shown


def test_step_condition_prompts_with_the_step_budget(tmp_path, capsys):
  steps = write(tmp_path / 's.json', {'ogbg_mini': 301})
  out = tmp_path / 'spaces' / 'step'
  rc, _, _ = run_cli(
    step_prompt.main,
    ['--condition', 'step', '--step_budgets', steps, '--out_dir', str(out)],
    capsys,
  )
  assert rc == 0
  assert read_total_steps(out / 'velo' / 'ogbg_mini.json') == [301]
  assert read_total_steps(out / 'velo_short' / 'ogbg_mini.json') == [225]  # floor(225.75)
  rc, _, _ = run_cli(step_prompt.main, ['--condition', 'step', '--out_dir', str(out)], capsys)
  assert rc == 0 and read_total_steps(out / 'velo_short' / 'criteo1tb.json') == [5250]


def test_step_prompt_budget_missing_for_a_probed_workload(tmp_path, capsys):
  budgets = write(tmp_path / 'b.json', {'criteo1tb': {'max_allowed_runtime_sec': 7703}})
  probes = write(tmp_path / 'p.json', {'ogbg': [{'steps': 100, 'runtime_sec': 12.0}]})
  rc, _, err = run_cli(
    step_prompt.main,
    ['--budgets', budgets, '--probes', probes, '--out_dir', str(tmp_path / 'o')],
    capsys,
  )
  assert rc != 0
  assert 'b.json: no max_allowed_runtime_sec' in err and "'ogbg'" in err
  assert not (tmp_path / 'o').exists()


@pytest.mark.parametrize(
  'probes, message',
  [
    ({'ogbg': []}, r"p.json: field 'ogbg' must be a non-empty list"),
    ({'ogbg': [{'steps': 100}]}, r"p.json: field 'ogbg\[0\]' lacks 'runtime_sec'"),
    (
      {'ogbg': [{'steps': 100, 'runtime_sec': 1}, {'steps': 5, 'runtime_sec': 0}]},
      r"p.json: field 'ogbg\[1\].runtime_sec'",
    ),
  ],
)
def test_probe_file_errors(tmp_path, probes, message):
  with pytest.raises(BenchError, match=message):
    file_formats.load_velo_probes(write(tmp_path / 'p.json', probes))


def test_budgets_file_errors(tmp_path):
  with pytest.raises(BenchError, match=r"b.json: field 'ogbg' lacks 'max_allowed_runtime_sec'"):
    file_formats.load_time_budgets(write(tmp_path / 'b.json', {'ogbg': {'factor': 1.0}}))
  with pytest.raises(BenchError, match=r"b.json: field 'ogbg.max_allowed_runtime_sec'"):
    file_formats.load_time_budgets(
      write(tmp_path / 'b.json', {'ogbg': {'max_allowed_runtime_sec': 0}})
    )
