"""``make smoke``: submissions on AlgoPerf's real models, with fake batches, for a few steps.

    python -m study.smoke --opt velo --workload wmt [--steps 3] [--batch_size 2]
    python -m study.smoke --opt all --workload all [--json smoke.json]
    python -m study.smoke --from_json smoke.json [more.json ...] [--summary]

A check of a setup before GPU hours are spent on it. Each (submission, workload) pair runs in
a process of its own, so that the peak memory is the pair's and a crash or an out-of-memory
kill costs that row only:

1. the official workload (the class ``submission_runner.py`` builds for the name) and its model
   from ``init_model_fn``;
2. the submission's ``init_optimizer_state``, with the hyperparameters of the search space
   ``make submit`` would use under step control (``study.locate``; VeLO's prompt is then the
   step budget);
3. ``--steps`` calls of ``data_selection`` and ``update_params``, through the AlgoPerf API, on
   fake batches in the workload's format (``study.fake_batches``) of ``--batch_size``
   examples (default: 2 per device, for a CPU; a real run uses ``get_batch_size``).

Columns of the table, one row per pair:

* ``params``: number of parameters; ``steps``: ``update_params`` calls made;
* ``step 1 s``: wall time of the first call, tracing and compilation included;
  ``step s``: median wall time of the later calls that compiled nothing (- if every one did);
* ``compiles``: XLA compilations (JAX's ``backend_compile`` events) during the first call /
  during the later ones (a later one means the train step was compiled again);
  ``compile s``: time in tracing, lowering and compiling over all calls;
* ``peak RSS GB``: the process's peak resident memory (model init included);
  ``device GB``: peak bytes in use on device 0 where the backend reports it (GPUs), else -;
* ``state/params``: bytes of the arrays in the optimizer state / bytes of the parameters;
* ``changed``: parameter leaves whose bits differ from the initial ones / all leaves (the
  JSON rows name the others: ``unchanged_leaves``);
  ``finite``: every parameter finite after the last call.

``--from_json`` prints the table of rows saved by ``--json`` (several files: their rows in
order) without running anything; ``--summary`` prints it as one line per workload instead,
with, per submission, its ``step s`` and ``peak RSS GB`` (:func:`summary_table`).

Needs the ``algoperf`` package: without it here, the command re-runs itself with the
interpreter ``study.runners`` finds for the official runner (``make install-algoperf`` builds
one). VeLO submissions need their weights: ``make velo-weights`` or ``--velo_checkpoint``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from bench_core import catalogue
from bench_core.cli import run_main
from bench_core.errors import BenchError
from local_runner import search_space
from local_runner.submission_loader import load_submission, wants_train_state
from study import fake_batches, locate, runners

try:
  from algoperf.workloads import workloads as algoperf_workloads
except ImportError:  # optional: main() re-runs itself under an interpreter that has it
  algoperf_workloads = None

#: Marks the one line of a pair's process that carries its measurements (JSON).
RESULT_PREFIX = 'SMOKE_RESULT '
COMPILE_EVENTS = '/jax/core/compile/'
BACKEND_COMPILE_EVENT = '/jax/core/compile/backend_compile_duration'
#: The submissions that run VeLO (the summary's ``VeLO state/params``).
VELO_SUBMISSIONS = (*catalogue.VELO_ALGORITHMS, *catalogue.BUDGET_AWARE_ALGORITHMS)
COLUMNS = (
  'submission',
  'workload',
  'params',
  'steps',
  'step 1 s',
  'step s',
  'compiles',
  'compile s',
  'peak RSS GB',
  'device GB',
  'state/params',
  'changed',
  'finite',
  'status',
)


class CompileLog:
  """Counts JAX's compilations and adds up the time spent compiling (a monitoring listener)."""

  def __init__(self):
    self.compilations = 0
    self.seconds = 0.0

  def __call__(self, event: str, duration_secs: float, **kwargs) -> None:
    if event.startswith(COMPILE_EVENTS):
      self.seconds += duration_secs
    if event == BACKEND_COMPILE_EVENT:
      self.compilations += 1


def official_workload(name: str):
  """AlgoPerf's JAX workload object for ``name``, built as ``submission_runner.py`` builds it."""
  if algoperf_workloads is None:
    raise BenchError(runners.install_hint(name))
  entry = algoperf_workloads.WORKLOADS[name]
  path = os.path.join(
    algoperf_workloads.BASE_WORKLOADS_DIR, entry['workload_path'] + '_jax', 'workload.py'
  )
  return algoperf_workloads.import_workload(
    workload_path=path, workload_class_name=entry['workload_class_name'], workload_init_kwargs={}
  )


def array_bytes(tree) -> int:
  """Bytes of the array leaves of ``tree`` (functions and other leaves count nothing)."""
  leaves = jax.tree_util.tree_leaves(tree)
  return sum(int(x.nbytes) for x in leaves if hasattr(x, 'nbytes') and hasattr(x, 'dtype'))


def bit_fingerprints(params) -> List[int]:
  """Per leaf, the wrapping uint32 sum of its elements' bit patterns: any change of a value
  changes it (unless changes cancel, a chance of about 2**-32)."""

  def fingerprint(x):
    bits = jax.lax.bitcast_convert_type(x, jnp.dtype(f'uint{x.dtype.itemsize * 8}'))
    return int(jnp.sum(bits.astype(jnp.uint32), dtype=jnp.uint32))

  return [fingerprint(x) for x in jax.tree_util.tree_leaves(params)]


def leaf_paths(tree) -> List[str]:
  """The path of every leaf of ``tree``, in the order of ``jax.tree_util.tree_leaves``."""
  return [jax.tree_util.keystr(path) for path, _ in jax.tree_util.tree_flatten_with_path(tree)[0]]


def all_finite(params) -> bool:
  return all(bool(jnp.isfinite(x).all()) for x in jax.tree_util.tree_leaves(params))


def peak_rss_bytes() -> int:
  """The process's peak resident set size (``ru_maxrss``: KiB on Linux, bytes on macOS)."""
  peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
  return peak if sys.platform == 'darwin' else peak * 1024


def peak_device_bytes() -> Optional[int]:
  stats = jax.local_devices()[0].memory_stats()
  return int(stats['peak_bytes_in_use']) if stats and 'peak_bytes_in_use' in stats else None


def hyperparameters_for(opt: str, workload: str):
  path = locate.search_space_file(opt, workload, 'step', allow_placeholder=True)
  return search_space.hyperparameter_points(search_space.load_search_space(path), 1)[0]


def measure(opt: str, workload_name: str, steps: int, batch_size: int, seed: int = 0) -> Dict:
  """One pair's row (module docstring), measured in this process."""
  module = load_submission(locate.submission_file(opt))
  workload = official_workload(workload_name)
  hyperparameters = hyperparameters_for(opt, workload_name)
  rng = jax.random.PRNGKey(seed)
  model_rng, opt_rng, rng = jax.random.split(rng, 3)
  params, model_state = workload.init_model_fn(model_rng)
  initial = bit_fingerprints(params)
  param_bytes = array_bytes(params)
  optimizer_state = module.init_optimizer_state(
    workload, params, model_state, hyperparameters, opt_rng
  )
  batches = (fake_batches.fake_batch(workload_name, batch_size, seed + i) for i in range(steps))
  train_state = {'accumulated_submission_time': 0.0, 'last_eval_time': 0.0}
  extra = {'train_state': train_state} if wants_train_state(module.update_params) else {}
  log = CompileLog()
  jax.monitoring.register_event_duration_secs_listener(log)
  durations, compilations = [], []
  for step in range(steps):
    data_rng, update_rng = jax.random.split(jax.random.fold_in(rng, step))
    batch = module.data_selection(
      workload, batches, optimizer_state, params, model_state, hyperparameters, step, data_rng
    )
    before, start = log.compilations, time.perf_counter()
    optimizer_state, params, model_state = module.update_params(
      workload=workload,
      current_param_container=params,
      current_params_types=workload.model_params_types,
      model_state=model_state,
      hyperparameters=hyperparameters,
      batch=batch,
      loss_type=workload.loss_type,
      optimizer_state=optimizer_state,
      eval_results=[],
      global_step=step,
      rng=update_rng,
      **extra,
    )
    jax.block_until_ready(params)
    durations.append(time.perf_counter() - start)
    compilations.append(log.compilations - before)
    train_state['accumulated_submission_time'] += durations[-1]
  compile_seconds = log.seconds  # before the checks below compile anything
  final = bit_fingerprints(params)
  settled = [d for d, c in zip(durations[1:], compilations[1:]) if c == 0]
  return {
    'submission': opt,
    'workload': workload_name,
    'params': sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(params)),
    'steps': steps,
    'step_1_s': durations[0],
    'step_s': statistics.median(settled) if settled else None,
    'compiles_first': compilations[0],
    'compiles_later': sum(compilations[1:]),
    'compile_s': compile_seconds,
    'peak_rss_bytes': peak_rss_bytes(),
    'peak_device_bytes': peak_device_bytes(),
    'state_bytes': array_bytes(optimizer_state),
    'param_bytes': param_bytes,
    'leaves_changed': sum(a != b for a, b in zip(initial, final)),
    'leaves': len(final),
    'unchanged_leaves': [path for path, a, b in zip(leaf_paths(params), initial, final) if a == b],
    'finite': all_finite(params),
    'status': 'ok',
  }


def run_pair(args, opt: str, workload: str) -> Dict:
  """``measure`` in a process of its own; a failed process gives a row with its status."""
  command = [sys.executable, '-m', 'study.smoke', '--opt', opt, '--workload', workload]
  command += ['--steps', str(args.steps), '--seed', str(args.seed), '--in_process']
  if args.batch_size:
    command += ['--batch_size', str(args.batch_size)]
  env = dict(os.environ)
  if args.velo_checkpoint:
    env['VELO_CHECKPOINT'] = str(Path(args.velo_checkpoint).expanduser().resolve())
  try:
    proc = subprocess.run(
      command, cwd=runners.REPO, env=env, capture_output=True, text=True, timeout=args.timeout
    )
  except subprocess.TimeoutExpired:
    return {'submission': opt, 'workload': workload, 'status': f'timeout after {args.timeout}s'}
  for line in proc.stdout.splitlines():
    if line.startswith(RESULT_PREFIX):
      return json.loads(line[len(RESULT_PREFIX) :])
  last = (proc.stderr.strip().splitlines() or ['no output'])[-1]
  status = 'killed (out of memory?)' if proc.returncode == -9 else f'exit {proc.returncode}'
  return {'submission': opt, 'workload': workload, 'status': f'{status}: {last[-200:]}'}


def _gb(value) -> str:
  return '-' if value is None else f'{value / 2**30:.2f}'


def _seconds(value) -> str:
  return '-' if value is None else f'{value:.2f}'


def table_row(r: Dict) -> List[str]:
  if r.get('status') != 'ok':
    return [r['submission'], r['workload'], *['-'] * (len(COLUMNS) - 3), r['status']]
  return [
    r['submission'],
    r['workload'],
    f'{r["params"] / 1e6:.1f} M',
    str(r['steps']),
    _seconds(r['step_1_s']),
    _seconds(r['step_s']),
    f'{r["compiles_first"]} / {r["compiles_later"]}',
    _seconds(r['compile_s']),
    _gb(r['peak_rss_bytes']),
    _gb(r['peak_device_bytes']),
    f'{r["state_bytes"] / r["param_bytes"]:.2f}',
    f'{r["leaves_changed"]}/{r["leaves"]}',
    'yes' if r['finite'] else 'NO',
    'ok',
  ]


def format_table(rows: List[Dict]) -> str:
  """The rows as a Markdown table with the header :data:`COLUMNS`."""
  lines = ['| ' + ' | '.join(COLUMNS) + ' |', '|' + '---|' * len(COLUMNS)]
  lines += ['| ' + ' | '.join(table_row(r)) + ' |' for r in rows]
  return '\n'.join(lines)


def summary_table(rows: List[Dict]) -> str:
  """The rows as one Markdown line per workload: its parameters, then per submission
  ``step s / peak RSS GB`` (or the status of a pair that failed), then the largest
  ``state/params`` of its VeLO rows. Workloads in the catalogue's order, then the others;
  submissions in the order they first appear."""
  frame = pd.DataFrame(rows)
  ok = frame['status'] == 'ok'
  frame['cell'] = frame['status']
  frame.loc[ok, 'cell'] = [
    f'{"-" if pd.isna(r.step_s) else _seconds(r.step_s) + " s"} / {_gb(r.peak_rss_bytes)} GB'
    for r in frame[ok].itertuples()
  ]
  cells = frame.pivot_table(index='workload', columns='submission', values='cell', aggfunc='last')
  order = [w for w in catalogue.BASE_WORKLOADS if w in cells.index]
  cells = cells.reindex(order + sorted(set(cells.index) - set(order)))
  cells = cells[list(dict.fromkeys(frame['submission']))].fillna('not run')
  params, velo_ratio = {}, {}
  if ok.any():  # a failed pair's row has no measurements
    params = frame[ok].groupby('workload')['params'].max().map(lambda n: f'{n / 1e6:.1f} M')
    velo = frame[ok & frame['submission'].isin(VELO_SUBMISSIONS)]
    velo_ratio = (velo['state_bytes'] / velo['param_bytes']).groupby(velo['workload']).max()
  header = ['workload', 'params', *cells.columns, 'VeLO state/params']
  lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
  for workload, row in cells.iterrows():
    ratio = f'{velo_ratio[workload]:.2f}' if workload in velo_ratio else '-'
    line = [workload, params.get(workload, '-'), *row, ratio]
    lines.append('| ' + ' | '.join(line) + ' |')
  return '\n'.join(lines)


def read_rows(paths: List[str]) -> List[Dict]:
  """The rows of the ``--json`` files, in order (a file holds a list of rows or one row)."""
  rows = []
  for path in paths:
    try:
      data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
      raise BenchError(f'{path}: not a smoke-run JSON file ({error})') from error
    for row in data if isinstance(data, list) else [data]:
      if not isinstance(row, dict) or not {'submission', 'workload', 'status'} <= set(row):
        raise BenchError(f'{path}: a row without submission, workload and status: {row!r:.200}')
      rows.append(row)
  return rows


def expand(values: List[str], every: List[str], known: List[str], what: str) -> List[str]:
  """``values`` with ``all`` replaced by ``every``; an unknown name is an error listing ``known``."""
  out = []
  for value in values:
    for name in every if value == 'all' else [value]:
      if name not in known:
        raise BenchError(f'unknown {what} {name!r}; known: all, {", ".join(known)}')
      if name not in out:
        out.append(name)
  return out


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
  p = argparse.ArgumentParser(
    prog='python -m study.smoke',
    description=__doc__,
    formatter_class=argparse.RawDescriptionHelpFormatter,
  )
  p.add_argument('--opt', nargs='+', default=['all'], help='submissions, or all')
  p.add_argument(
    '--workload',
    nargs='+',
    default=['all'],
    help='official workloads or variants, or all (the eight base workloads)',
  )
  p.add_argument('--steps', type=int, default=3, help='update_params calls per pair (>= 2)')
  p.add_argument(
    '--batch_size', type=int, default=None, help='global batch size (default: 2 per device)'
  )
  p.add_argument('--seed', type=int, default=0)
  p.add_argument('--velo_checkpoint', default=None, help="VeLO's weights (else $VELO_CHECKPOINT)")
  p.add_argument('--timeout', type=float, default=None, help='seconds per pair (default: none)')
  p.add_argument('--json', default=None, help='also write the rows to this JSON file')
  p.add_argument(
    '--from_json', nargs='+', default=None, help='print the rows of these --json files, run nothing'
  )
  p.add_argument('--summary', action='store_true', help='with --from_json: one line per workload')
  p.add_argument('--in_process', action='store_true', help=argparse.SUPPRESS)
  return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
  args = parse_args(argv)
  if args.from_json:
    rows = read_rows(args.from_json)
    print(summary_table(rows) if args.summary else format_table(rows))
    return 0
  if args.summary:
    raise BenchError('--summary goes with --from_json (a table of saved rows)')
  if args.steps < 2:
    raise BenchError(f'--steps must be at least 2 (one to compile, one to time), got {args.steps}')
  names = sorted(set(fake_batches.FAMILIES) | set(catalogue.VARIANTS))
  workloads = expand(args.workload, list(catalogue.BASE_WORKLOADS), names, 'workload')
  algorithms = locate.known_algorithms()
  opts = expand(args.opt, algorithms, algorithms, 'submission')
  if algoperf_workloads is None:
    python = runners.official_python()  # raises with the install hint when there is none
    print(f'smoke: algoperf is not importable here; running under {python}', flush=True)
    command = [python, '-m', 'study.smoke', *(sys.argv[1:] if argv is None else argv)]
    return subprocess.call(command, cwd=runners.REPO)
  if args.in_process:
    ((opt, workload),) = [(o, w) for o in opts for w in workloads]
    batch_size = args.batch_size or 2 * jax.device_count()
    row = measure(opt, workload, args.steps, batch_size, args.seed)
    print(RESULT_PREFIX + json.dumps(row), flush=True)
    return 0
  rows = []
  for i, (opt, workload) in enumerate([(o, w) for o in opts for w in workloads]):
    print(f'[{i + 1}/{len(opts) * len(workloads)}] {opt} on {workload} ...', flush=True)
    rows.append(run_pair(args, opt, workload))
    print(format_table(rows[-1:]).splitlines()[-1], flush=True)
  if args.json:
    Path(args.json).write_text(json.dumps(rows, indent=2))
  print()
  print(format_table(rows))
  if len(workloads) > 1 and len(opts) > 1:
    print()
    print(summary_table(rows))
  failed = [
    r for r in rows if r.get('status') != 'ok' or not r['finite'] or not r['leaves_changed']
  ]
  return 1 if failed else 0


if __name__ == '__main__':
  sys.exit(run_main(main))
