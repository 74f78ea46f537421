"""Peak host memory of creating the optimizer state, as a ratio to the state's own bytes.

Two ways, each in a fresh process (peak RSS only grows within one): ``eager copy``, the
previous way (``tx.init(params)`` eagerly, then a copy of every leaf, so that no two leaves
share a buffer: the state exists twice at the peak), and ``one jit``
(``submissions._common.fresh_state_init``: the same fresh buffers written by one XLA
program). Printed: the growth of peak RSS during the init, and that growth over the state's
bytes (1.0 = the state itself, nothing more). ``optax.adam`` on ~50 M float32 parameters
by default; ``--optimizer velo`` with ``$VELO_CHECKPOINT``.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import optax

from submissions import _common, _velo

REPO = Path(__file__).resolve().parents[1]
WAYS = ('eager copy', 'one jit')


def peak_rss_mb() -> float:
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def optimizer(name: str):
  return optax.adam(1e-3) if name == 'adam' else _velo.make_velo(10_000)


def measure(way: str, name: str, millions: int) -> None:
  """In this process: init the optimizer the given way; print growth and state bytes."""
  params = {f'w{i}': jnp.ones((1000, 1000 * millions // 5)) for i in range(5)}
  jax.block_until_ready(params)
  tx = optimizer(name)
  before = peak_rss_mb()
  if way == 'eager copy':
    state = jax.tree_util.tree_map(jnp.copy, tx.init(params))
  else:
    state = _common.fresh_state_init(tx)(params)
  jax.block_until_ready(state)
  state_mb = sum(x.nbytes for x in jax.tree_util.tree_leaves(state)) / 2**20
  print(f'{peak_rss_mb() - before:.1f} {state_mb:.1f}')


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--optimizer', default='adam', choices=('adam', 'velo'))
  parser.add_argument('--millions', type=int, default=50, help='parameters, in millions')
  parser.add_argument('--measure', choices=WAYS, help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  if args.measure:
    measure(args.measure, args.optimizer, args.millions)
    return
  print(f'optimizer state init, {args.optimizer}, {args.millions} M float32 parameters')
  growth = {}
  for way in WAYS:
    out = subprocess.run(
      [sys.executable, __file__, '--optimizer', args.optimizer, '--millions', str(args.millions)]
      + ['--measure', way],
      capture_output=True,
      text=True,
      check=True,
      cwd=REPO,
    ).stdout.split()
    growth[way], state_mb = float(out[-2]), float(out[-1])
    print(
      f'  {way:10s}: peak RSS +{growth[way]:7.1f} MB = {growth[way] / state_mb:.2f} x the state'
    )
  print(f'  one jit / eager copy: {growth["one jit"] / growth["eager copy"]:.2f}')


if __name__ == '__main__':
  main()
