"""Peak host memory of a submission's init and first step on AlgoPerf's real criteo1tb model.

Usage (with AlgoPerf installed, ``make install-algoperf``)::

  VELO_CHECKPOINT=tests/data/velo_golden/theta.msgpack \\
    .venv-algoperf/bin/python benchmarks/velo_criteo1tb_memory.py [--submission velo] \\
    [--batch 4] [--limit_gb 16]

Builds the official ``criteo1tb`` workload's model (DLRM-small, 539 M parameters,
``init_model_fn``), runs the submission's ``init_optimizer_state`` and one
``update_params`` on a fake batch of ``--batch`` examples (no dataset), and prints
the process's peak resident memory after each phase (``ru_maxrss``), the parameter
and optimizer-state bytes and their ratio. A watchdog reads the current resident
memory every 0.2 s and ends the process (exit 3) once it passes ``--limit_gb``, so
that a check that fails does not take the machine's memory with it.

``--compiled_only`` allocates no optimizer state: it compiles the submission's train
step for the state's shapes (``jax.eval_shape`` of the optimizer's ``init``) and prints
XLA's memory analysis of it (arguments, outputs, aliased, temporaries), the expected
peak of a step being arguments + temporaries + outputs not aliased to a donated argument.
"""

from __future__ import annotations

import argparse
import importlib
import os
import resource
import sys
import threading
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from algoperf import spec
from algoperf.workloads.criteo1tb.criteo1tb_jax.workload import Criteo1TbDlrmSmallWorkload

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
  sys.path.insert(0, str(REPO))

from submissions import _common, _velo  # noqa: E402

GB = 1e9


def peak_rss_bytes() -> int:
  """Peak resident memory of this process so far (Linux reports kilobytes)."""
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def current_rss_bytes() -> int:
  with open('/proc/self/statm') as f:
    return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


def start_watchdog(limit_bytes: float, phase: list) -> None:
  def watch():
    while True:
      rss = current_rss_bytes()
      if rss > limit_bytes:
        print(
          f'OVER LIMIT: resident memory {rss / GB:.2f} GB > {limit_bytes / GB:.1f} GB '
          f'during {phase[0]}; stopped',
          flush=True,
        )
        os._exit(3)
      time.sleep(0.2)

  threading.Thread(target=watch, daemon=True).start()


def fake_batch(n: int, rng: np.random.Generator) -> dict:
  """``n`` examples of criteo1tb's input: 13 dense features, 26 categorical ids (as floats)."""
  dense = rng.standard_normal((n, 13)).astype(np.float32)
  sparse = rng.integers(0, 1000, (n, 26)).astype(np.float32)
  return {
    'inputs': jnp.asarray(np.concatenate([dense, sparse], axis=1)),
    'targets': jnp.asarray(rng.integers(0, 2, (n,)).astype(np.float32)),
    'weights': jnp.ones((n,), jnp.float32),
  }


def tree_bytes(tree) -> int:
  return sum(x.size * x.dtype.itemsize for x in jax.tree_util.tree_leaves(tree))


def compiled_step_memory(workload, params, model_state, batch) -> None:
  """XLA's memory analysis of the ``velo`` submission's train step for these shapes."""
  submission = _velo.prompted_submission('velo', self_tuning_fraction=1.0)
  hp = submission.hyperparameters(None)
  tx = optax.with_extra_args_support(submission.make_optimizer(hp, workload))
  state = jax.eval_shape(tx.init, params)
  options = dict(submission.update_compiler_options(hp))
  if options:
    raise SystemExit('--compiled_only: the update is a jit of its own here; not analysed')
  step = _common._make_train_step(workload, tx, hp, options, placed=False)
  compiled = step.lower(params, model_state, state, batch, jax.random.PRNGKey(2), {}).compile()
  m = compiled.memory_analysis()
  param_bytes = tree_bytes(params)
  state_bytes = tree_bytes(state)
  peak = m.argument_size_in_bytes + m.temp_size_in_bytes + m.output_size_in_bytes
  peak -= m.alias_size_in_bytes
  for name, value in (
    ('params', param_bytes),
    ('optimizer state', state_bytes),
    ('arguments', m.argument_size_in_bytes),
    ('outputs', m.output_size_in_bytes),
    ('aliased (donated)', m.alias_size_in_bytes),
    ('temporaries', m.temp_size_in_bytes),
    ('step peak', peak),
  ):
    print(f'{name}: {value / GB:.2f} GB = {value / param_bytes:.2f} x params', flush=True)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--submission', default='velo')
  parser.add_argument('--batch', type=int, default=4)
  parser.add_argument('--limit_gb', type=float, default=16.0)
  parser.add_argument('--compiled_only', action='store_true')
  args = parser.parse_args(argv)
  phase = ['start']
  start_watchdog(args.limit_gb * GB, phase)
  report = lambda name: print(
    f'{name}: peak RSS {peak_rss_bytes() / GB:.2f} GB, now {current_rss_bytes() / GB:.2f} GB',
    flush=True,
  )
  submission = importlib.import_module(f'submissions.{args.submission}.submission')
  report('imports')
  workload = Criteo1TbDlrmSmallWorkload()
  phase[0] = 'init_model_fn'
  params, model_state = workload.init_model_fn(jax.random.PRNGKey(0))
  jax.block_until_ready(params)
  param_bytes = tree_bytes(params)
  print(f'params: {param_bytes / 4 / 1e6:.1f} M float32 values, {param_bytes / GB:.2f} GB')
  report('init_model_fn')
  if args.compiled_only:
    compiled_step_memory(
      workload, params, model_state, fake_batch(args.batch, np.random.default_rng(0))
    )
    report('compiled_only')
    return 0
  phase[0] = 'init_optimizer_state'
  opt_state = submission.init_optimizer_state(
    workload, params, model_state, None, jax.random.PRNGKey(1)
  )
  jax.block_until_ready(opt_state[0])
  state_bytes = tree_bytes(opt_state[0])
  print(f'optimizer state: {state_bytes / GB:.2f} GB = {state_bytes / param_bytes:.2f} x params')
  report('init_optimizer_state')
  phase[0] = 'update_params (compilation and step 1)'
  batch = fake_batch(args.batch, np.random.default_rng(0))
  start = time.perf_counter()
  opt_state, new_params, model_state = submission.update_params(
    workload,
    params,
    workload.model_params_types,
    model_state,
    None,
    batch,
    spec.LossType.SOFTMAX_CROSS_ENTROPY,
    opt_state,
    [],
    0,
    jax.random.PRNGKey(2),
  )
  jax.block_until_ready(new_params)
  print(f'update_params: {time.perf_counter() - start:.1f} s (compilation included)')
  leaves = [np.asarray(x) for x in jax.tree_util.tree_leaves(new_params)]
  print(f'parameters finite: {all(np.all(np.isfinite(x)) for x in leaves)}')
  report('update_params')
  peak = peak_rss_bytes()
  verdict = 'within' if peak <= args.limit_gb * GB else 'over'
  print(f'peak RSS {peak / GB:.2f} GB: {verdict} {args.limit_gb:.0f} GB')
  return 0 if peak <= args.limit_gb * GB else 3


if __name__ == '__main__':
  raise SystemExit(main())
