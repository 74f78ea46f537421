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


def test_page_block_is_replaced_and_the_rest_kept(tmp_path):
  page = tmp_path / 'velo_cost.md'
  page.write_text(f'intro\n{bench.BLOCK_START}\nold numbers\n{bench.BLOCK_END}\noutro\n')
  bench.update_page(page, 'new numbers')
  text = page.read_text()
  assert text == f'intro\n{bench.BLOCK_START}\nnew numbers\n{bench.BLOCK_END}\noutro\n'


def test_page_without_the_block_is_a_clear_error(tmp_path):
  page = tmp_path / 'velo_cost.md'
  page.write_text('no block here\n')
  with pytest.raises(BenchError, match='velo-bench:start'):
    bench.update_page(page, 'x')


def test_the_cost_page_has_the_block_and_make_bench_readme_rewrites_it():
  text = (REPO / bench.COST_PAGE).read_text()
  assert text.count(bench.BLOCK_START) == 1 and text.count(bench.BLOCK_END) == 1
  makefile = (REPO / 'Makefile').read_text()
  recipe = makefile.split('\nbench-readme:', 1)[1].split('\n\n', 1)[0]
  assert f'benchmarks/velo_bench.py --page {bench.COST_PAGE}' in recipe


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
