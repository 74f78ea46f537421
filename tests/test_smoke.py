"""``make smoke``'s parts that need no AlgoPerf: fake batches, measurements, table, arguments.
The smoke run itself on the real models: ``test_smoke_official.py`` (marked ``algoperf``)."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import REPO

from bench_core import catalogue, cli
from bench_core.errors import BenchError
from study import fake_batches, runners, smoke


def shapes(tree):
  return jax.tree_util.tree_map(lambda x: tuple(x.shape), tree)


@pytest.mark.parametrize('workload', sorted(fake_batches.FAMILIES))
def test_a_fake_batch_has_the_pipelines_keys_and_leading_batch_axis(workload):
  batch = fake_batches.fake_batch(workload, 4, seed=1)
  leaves = jax.tree_util.tree_leaves(batch)
  assert leaves and all(np.isfinite(np.asarray(x)).all() for x in leaves)
  if workload == 'ogbg':
    graphs = batch['inputs']
    # 4 molecules and one padding graph per device, as AlgoPerf's pipeline pads them
    assert graphs.n_node.shape == (5 * jax.local_device_count(),)
    assert batch['targets'].shape == batch['weights'].shape == (5, fake_batches.GRAPH_TASKS)
    assert batch['weights'].sum() == 4 * fake_batches.GRAPH_TASKS
    return
  assert all(x.shape[0] == 4 for x in leaves)
  assert all(isinstance(x, jax.Array) for x in leaves)  # placed on the devices


def test_fake_batches_of_each_family():
  assert shapes(fake_batches.fake_batch('wmt_post_ln', 2))['inputs'] == (2, 256)
  criteo = fake_batches.fake_batch('criteo1tb_test', 2)
  assert criteo['inputs'].shape == (2, 39)
  speech = shapes(fake_batches.fake_batch('librispeech_deepspeech', 2))
  assert speech['inputs'] == ((2, 320_000), (2, 320_000))
  assert speech['targets'] == ((2, 256), (2, 256))
  assert shapes(fake_batches.fake_batch('imagenet_vit', 2))['inputs'] == (2, 224, 224, 3)
  assert shapes(fake_batches.fake_batch('fastmri', 2))['targets'] == (2, 320, 320)


def test_fake_batches_refuse_unknown_workloads_and_indivisible_sizes():
  with pytest.raises(BenchError, match="no fake batches for workload 'mnist'"):
    fake_batches.fake_batch('mnist', 2)
  with pytest.raises(BenchError, match='--batch_size 0 must be a positive multiple'):
    fake_batches.fake_batch('wmt', 0)


def test_the_compile_log_counts_compilations_and_not_cache_hits():
  log = smoke.CompileLog()
  jax.monitoring.register_event_duration_secs_listener(log)
  x = jnp.ones(7)
  step = jax.jit(lambda v: v * 3.0 + 1.0)
  step(x).block_until_ready()
  first = log.compilations
  step(x).block_until_ready()
  assert first >= 1 and log.compilations == first and log.seconds > 0
  step(jnp.ones(8)).block_until_ready()  # a new shape compiles again
  assert log.compilations > first


def test_fingerprints_see_a_change_of_one_ulp_and_bytes_count_arrays_only():
  params = {'a': jnp.ones((3, 4)), 'b': jnp.zeros(5)}
  before = smoke.bit_fingerprints(params)
  nudged = {**params, 'a': params['a'].at[1, 2].set(jnp.nextafter(1.0, 2.0))}
  after = smoke.bit_fingerprints(nudged)
  assert before[0] != after[0] and before[1] == after[1]
  assert smoke.array_bytes((params, lambda: None)) == 17 * 4
  assert smoke.all_finite(params) and not smoke.all_finite({'a': jnp.array([np.inf])})
  assert smoke.leaf_paths({'dense': {'kernel': 1, 'bias': 2}, 'scale': 3}) == [
    "['dense']['bias']",
    "['dense']['kernel']",
    "['scale']",
  ]


def smoke_row(submission='adam', workload='ogbg', state_per_param=2, step_s=0.5):
  """A measured row as ``smoke.measure`` returns it."""
  return {
    'submission': submission,
    'workload': workload,
    'params': 3_600_000,
    'steps': 3,
    'step_1_s': 25.0,
    'step_s': step_s,
    'compiles_first': 4,
    'compiles_later': 0,
    'compile_s': 20.0,
    'peak_rss_bytes': 3 * 2**30,
    'peak_device_bytes': None,
    'state_bytes': state_per_param * 4 * 3_600_000 + 4,
    'param_bytes': 4 * 3_600_000,
    'leaves_changed': 10,
    'leaves': 10,
    'finite': True,
    'status': 'ok',
  }


def test_the_table_shows_ratios_and_failures():
  ok = {
    'submission': 'adam',
    'workload': 'ogbg',
    'params': 3_600_000,
    'steps': 3,
    'step_1_s': 25.0,
    'step_s': 0.5,
    'compiles_first': 4,
    'compiles_later': 0,
    'compile_s': 20.0,
    'peak_rss_bytes': 3 * 2**30,
    'peak_device_bytes': None,
    'state_bytes': 2 * 4 * 3_600_000 + 4,
    'param_bytes': 4 * 3_600_000,
    'leaves_changed': 10,
    'leaves': 10,
    'finite': True,
    'status': 'ok',
  }
  failed = {'submission': 'velo', 'workload': 'criteo1tb', 'status': 'killed (out of memory?)'}
  lines = smoke.format_table([ok, failed]).splitlines()
  assert lines[0].startswith('| submission | workload | params |')
  assert (
    '| adam | ogbg | 3.6 M | 3 | 25.00 | 0.50 | 4 / 0 | 20.00 | 3.00 | - | 2.00 | 10/10 | yes | ok |'
    == lines[2]
  )
  assert lines[3].endswith('| killed (out of memory?) |') and lines[3].count('| - ') == 11


def test_the_summary_has_a_line_per_workload_in_catalogue_order_and_names_failures():
  rows = [
    smoke_row('adam', 'wmt', step_s=5.0),
    smoke_row('velo', 'wmt', state_per_param=4.03, step_s=None),
    smoke_row('adam', 'criteo1tb'),
    {'submission': 'velo', 'workload': 'criteo1tb', 'status': 'killed (out of memory?)'},
    smoke_row('velo_time', 'criteo1tb', state_per_param=4.02),
  ]
  lines = smoke.summary_table(rows).splitlines()
  assert lines[0] == '| workload | params | adam | velo | velo_time | VeLO state/params |'
  assert lines[2] == (
    '| criteo1tb | 3.6 M | 0.50 s / 3.00 GB | killed (out of memory?) | 0.50 s / 3.00 GB | 4.02 |'
  )
  assert lines[3] == '| wmt | 3.6 M | 5.00 s / 3.00 GB | - / 3.00 GB | not run | 4.03 |'
  assert len(lines) == 4
  only_failures = smoke.summary_table([rows[3]]).splitlines()
  assert only_failures[2] == '| criteo1tb | - | killed (out of memory?) | - |'


def test_saved_rows_are_printed_without_running_and_bad_files_are_named(tmp_path, capsys):
  first, second = tmp_path / 'a.json', tmp_path / 'b.json'
  first.write_text(json.dumps([smoke_row('adam', 'wmt')]))
  second.write_text(json.dumps(smoke_row('velo', 'wmt', state_per_param=4.03)))
  assert cli.run_main(smoke.main, ['--from_json', str(first), str(second)]) == 0
  table = capsys.readouterr().out.splitlines()
  assert [line.split(' | ')[0] for line in table[2:]] == ['| adam', '| velo']
  assert cli.run_main(smoke.main, ['--from_json', str(first), str(second), '--summary']) == 0
  assert capsys.readouterr().out.splitlines()[2].endswith('| 4.03 |')
  broken = tmp_path / 'broken.json'
  broken.write_text('[{"workload": "wmt"}]')
  assert cli.run_main(smoke.main, ['--from_json', str(broken)]) == 2
  assert f'{broken}: a row without submission, workload and status' in capsys.readouterr().err
  assert cli.run_main(smoke.main, ['--summary']) == 2
  assert '--summary goes with --from_json' in capsys.readouterr().err


def test_all_expands_to_the_eight_base_workloads_and_every_submission():
  names = sorted(set(fake_batches.FAMILIES) | set(catalogue.VARIANTS))
  assert smoke.expand(['all'], list(catalogue.BASE_WORKLOADS), names, 'workload') == list(
    catalogue.BASE_WORKLOADS
  )
  assert smoke.expand(['wmt', 'wmt_glu_tanh', 'wmt'], [], names, 'workload') == [
    'wmt',
    'wmt_glu_tanh',
  ]
  with pytest.raises(BenchError, match="unknown workload 'ogbg_mini'"):
    smoke.expand(['ogbg_mini'], [], names, 'workload')


def test_without_algoperf_the_command_names_how_to_install_it(monkeypatch, capsys):
  monkeypatch.setattr(smoke, 'algoperf_workloads', None)
  monkeypatch.delenv('ALGOPERF_PYTHON', raising=False)
  monkeypatch.setattr(runners, 'official_runner_importable', lambda: False)
  monkeypatch.setattr(runners, 'ALGOPERF_VENV', runners.REPO / 'no-such-venv')
  assert cli.run_main(smoke.main, ['--opt', 'adam', '--workload', 'wmt']) == 2
  assert 'make install-algoperf' in capsys.readouterr().err


def test_bad_arguments_are_refused(capsys):
  assert cli.run_main(smoke.main, ['--opt', 'nosuch', '--workload', 'wmt']) == 2
  assert "unknown submission 'nosuch'" in capsys.readouterr().err
  assert cli.run_main(smoke.main, ['--steps', '1']) == 2
  assert '--steps must be at least 2' in capsys.readouterr().err


def test_the_smoke_tables_of_the_readme_and_docs_are_the_saved_rows():
  rows = smoke.read_rows([str(REPO / 'docs' / 'results' / 'smoke_rows.json')])
  pairs = [(r['submission'], r['workload']) for r in rows]
  assert sorted(pairs) == sorted(
    (opt, w) for opt in catalogue.ALGORITHMS for w in catalogue.BASE_WORKLOADS
  )
  workloads_page = (REPO / 'docs' / 'workloads.md').read_text()
  assert smoke.format_table(rows) in workloads_page
  assert smoke.summary_table(rows) in workloads_page
  assert smoke.summary_table(rows) in (REPO / 'README.md').read_text()


def test_a_run_of_several_pairs_saves_its_rows_then_prints_both_tables(
  monkeypatch, tmp_path, capsys
):
  monkeypatch.setattr(smoke, 'algoperf_workloads', object())  # as if algoperf were importable
  calls = []

  def fake_run_pair(args, opt, workload):
    calls.append((opt, workload))
    if (opt, workload) == ('velo', 'wmt'):
      return {'submission': opt, 'workload': workload, 'status': 'exit 1: boom'}
    return smoke_row(opt, workload)

  monkeypatch.setattr(smoke, 'run_pair', fake_run_pair)
  out = tmp_path / 'rows.json'
  argv = ['--opt', 'adam', 'velo', '--workload', 'ogbg', 'wmt', '--json', str(out)]
  assert cli.run_main(smoke.main, argv) == 1  # a pair failed
  assert calls == [('adam', 'ogbg'), ('adam', 'wmt'), ('velo', 'ogbg'), ('velo', 'wmt')]
  assert [r['status'] for r in json.loads(out.read_text())] == ['ok', 'ok', 'ok', 'exit 1: boom']
  printed = capsys.readouterr().out
  assert smoke.format_table(json.loads(out.read_text())) in printed
  assert '| wmt | 3.6 M | 0.50 s / 3.00 GB | exit 1: boom | - |' in printed
