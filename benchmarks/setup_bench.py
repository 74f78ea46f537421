"""Set-up cost of a local-runner trial: the embedded models' initialisation (one program,
compiled once per trial, untimed by the protocol but part of every trial's wall time)
compiled under XLA's defaults against ``SETUP_CPU_COMPILER_OPTIONS``, side by side.

For each embedded workload, ``init_model_fn`` runs alternately under each set of options,
with JAX's caches cleared before every call so that each one compiles; prints the medians,
the ratio set-up / default, and whether the variables are equal to the bit.

  python benchmarks/setup_bench.py [--repeats 3] [--workloads ...]
"""

import argparse
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT]

import jax  # noqa: E402
import numpy as np  # noqa: E402

from bench_core import catalogue  # noqa: E402
from local_runner.workloads import base, get_workload  # noqa: E402


def init_once(workload, options: dict):
  """Seconds of one ``init_model_fn`` compiled afresh under ``options``, and its leaves."""
  jax.clear_caches()
  base._init_program.cache_clear()
  original = base.setup_compiler_options
  base.setup_compiler_options = lambda backend: dict(options)
  try:
    start = time.perf_counter()
    params, _ = workload.init_model_fn(jax.random.PRNGKey(0))
    leaves = jax.block_until_ready(jax.tree_util.tree_leaves(params))
    return time.perf_counter() - start, leaves
  finally:
    base.setup_compiler_options = original


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  p.add_argument('--repeats', type=int, default=3)
  p.add_argument('--workloads', nargs='+', default=sorted(catalogue.EMBEDDED_WORKLOADS))
  args = p.parse_args()
  print(
    f'jax {jax.__version__}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; '
    f'set-up options {base.SETUP_CPU_COMPILER_OPTIONS}'
  )
  print('| workload | default (s) | set-up options (s) | ratio | same bits |')
  print('|---|---|---|---|---|')
  for name in args.workloads:
    workload = get_workload(name)
    assert workload.splits  # the data, generated once, outside the timings
    times = {'default': [], 'set-up': []}
    leaves = {}
    for _ in range(args.repeats):
      for label, options in (('default', {}), ('set-up', base.SETUP_CPU_COMPILER_OPTIONS)):
        seconds, leaves[label] = init_once(workload, options)
        times[label].append(seconds)
    same = all(np.array_equal(a, b) for a, b in zip(leaves['default'], leaves['set-up']))
    default, setup = (statistics.median(times[k]) for k in ('default', 'set-up'))
    print(f'| {name} | {default:.2f} | {setup:.2f} | {setup / default:.2f} | {same} |')


if __name__ == '__main__':
  main()
