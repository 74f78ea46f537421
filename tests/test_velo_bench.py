"""The VeLO bench's tables and its README block (no timing: the numbers here are given)."""

import importlib.util
import math

import pytest
from conftest import REPO

from bench_core.errors import BenchError


def _load_bench():
  spec = importlib.util.spec_from_file_location('velo_bench', REPO / 'benchmarks' / 'velo_bench.py')
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


bench = _load_bench()


def result(params, ratio, velo_compile, temp):
  return {
    'params': params,
    'tensors': 7,
    'adam_ms': 2.0,
    'velo_ms': 2.0 * ratio,
    'ratio': ratio,
    'default_ratio': ratio * 1.5,
    'mlp_ratio': ratio / 2,
    'adam_compile_s': 0.6,
    'velo_compile_s': velo_compile + 1,
    'adam_compile_cpu_s': 0.5,
    'velo_compile_cpu_s': velo_compile,
    'adam_temp': 0.0,
    'velo_temp': temp,
    'velo_state': 5.0,
    'scratch_ratio': ratio * 0.9,
    'scratch_temp': 0.3,
    'scratch_state': 7.0,
  }


RESULTS = {
  'big_a': result(10_000_000, 6.5, 3.0, 2.3),
  'big_b': result(25_000_000, 8.25, 4.5, 2.5),
  'mini': result(20_000, 5.9, 1.2, 6.0),
}


def test_summary_states_the_ranges_of_the_table():
  text = bench.summary(RESULTS)
  assert '6.5-8.2x' in text or '6.5-8.3x' in text
  assert 'compiles in 3.0-4.5 CPU-seconds' in text and '2.3-2.5x the parameter bytes' in text
  assert "embedded workloads' models it compiles in 1.2-1.2 CPU-seconds" in text


def test_markdown_table_has_a_row_per_tree():
  lines = bench.markdown_table(RESULTS).splitlines()
  assert len(lines) == 2 + len(RESULTS)
  assert lines[2].startswith('| big_a | 10,000,000 | 7 |') and '| 6.5x |' in lines[2]


def test_readme_block_is_replaced_and_the_rest_kept(tmp_path):
  readme = tmp_path / 'README.md'
  readme.write_text(f'intro\n{bench.README_START}\nold numbers\n{bench.README_END}\noutro\n')
  bench.update_readme(readme, 'new numbers')
  text = readme.read_text()
  assert text == f'intro\n{bench.README_START}\nnew numbers\n{bench.README_END}\noutro\n'


def test_readme_without_the_block_is_a_clear_error(tmp_path):
  readme = tmp_path / 'README.md'
  readme.write_text('no block here\n')
  with pytest.raises(BenchError, match='velo-bench:start'):
    bench.update_readme(readme, 'x')


def test_the_project_readme_has_the_block():
  text = (REPO / 'README.md').read_text()
  assert text.count(bench.README_START) == 1 and text.count(bench.README_END) == 1


def test_missing_theta_file_is_an_input_error(tmp_path, capsys):
  status = bench.run_main(bench.main, ['--theta', str(tmp_path / 'absent.msgpack')])
  assert status == 2 and 'error: --theta' in capsys.readouterr().err


def test_trees_have_the_announced_sizes():
  sizes = {
    name: (sum(math.prod(s) for s in tree.values()), len(tree))
    for name, tree in (
      ('mlp', bench.mlp()),
      ('resnet18', bench.resnet18()),
      ('resnet50', bench.resnet50()),
    )
  }
  assert sizes == {
    'mlp': (10_490_880, 6),
    'resnet18': (11_689_512, 62),
    'resnet50': (25_557_032, 161),
  }
