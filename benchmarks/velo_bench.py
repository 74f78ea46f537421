"""VeLO's cost next to the ``optax.adam`` step the submissions run, on AlgoPerf-shaped trees.

Usage: ``python benchmarks/velo_bench.py [--quick] [--theta PATH] [--repeats N] [--page docs/velo_cost.md]
[--baseline CHECKOUT] [--only TREE,...]``

For every parameter tree (shapes of the AlgoPerf models, and the embedded
workloads' own models): one jitted step per optimizer, update plus
``optax.apply_updates``, parameters and optimizer state donated, as in
``submissions/_common.py``. Printed per tree: the median step time of each,
timed in alternation in the same process, and their ratio (each compiled as the
submissions compile it: VeLO under :func:`velo.compiler_options`, timed once more
compiled with XLA's defaults where those options are not empty); VeLO with
``scratch_in_state=True`` under its options, and with ``--baseline`` the VeLO of
another checkout (e.g. a git worktree of an older commit), in the same alternation;
the compile time
(lowering + XLA compilation) of each; XLA's temporary memory of each compiled
step and VeLO's state size, as multiples of the parameter bytes.

Theta: the reference's random meta-initialisation in the repository's test
data (real shapes; the cost does not depend on the values), so no VeLO
checkpoint is needed; ``--theta`` times another file (e.g. the released weights).
``--page`` rewrites the ``velo-bench`` block of a Markdown file (``make bench-readme``:
``docs/velo_cost.md``) with the table.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import math
import os
import platform
import resource
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
  sys.path.insert(0, str(REPO))

import velo  # noqa: E402
from velo import per_param_mlp  # noqa: E402
from velo.layout import CHUNK, tensor_layout  # noqa: E402
from bench_core import catalogue  # noqa: E402
from bench_core import layout as trial_layout  # noqa: E402
from bench_core.cli import run_main  # noqa: E402
from bench_core.errors import BenchError  # noqa: E402
from local_runner.workloads import get_workload  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baseline_package import import_from_checkout  # noqa: E402
from timing import interleaved_median_seconds  # noqa: E402

META_INIT_THETA = REPO / 'tests' / 'data' / 'velo_golden' / 'theta.msgpack'
#: The page (from the repository root) that ``make bench-readme`` rewrites, and the markers
#: of its generated block.
COST_PAGE = Path('docs') / 'velo_cost.md'
BLOCK_START = '<!-- velo-bench:start -->'
BLOCK_END = '<!-- velo-bench:end -->'


def _dense(fan_in, fan_out, prefix, tree):
  tree[f'{prefix}/kernel'] = (fan_in, fan_out)
  tree[f'{prefix}/bias'] = (fan_out,)


def mlp(widths=(2048, 2048, 2048, 1024)) -> dict[str, tuple]:
  """A plain MLP: 10.5 M values in 6 tensors with the default widths."""
  tree: dict[str, tuple] = {}
  for i, (a, b) in enumerate(itertools.pairwise(widths)):
    _dense(a, b, f'dense_{i}', tree)
  return tree


def dlrm_small(embed_rows: int, top_widths=(1024, 1024, 512, 256, 1)) -> dict[str, tuple]:
  """DLRM-small: 13 dense features, 26 sparse, embedding dim 128, bottom/top MLPs."""
  tree: dict[str, tuple] = {'embedding_table': (embed_rows, 128)}
  widths = [13, 512, 256, 128]
  for i, (a, b) in enumerate(itertools.pairwise(widths)):
    _dense(a, b, f'bot_mlp_{i}', tree)
  num_interactions = 27 * 26 // 2 + 128
  widths = [num_interactions, *top_widths]
  for i, (a, b) in enumerate(itertools.pairwise(widths)):
    _dense(a, b, f'top_mlp_{i}', tree)
  return tree


def _conv_bn(tree, name, k, cin, cout):
  tree[f'{name}/kernel'] = (k, k, cin, cout)
  tree[f'{name}/bn_scale'] = (cout,)
  tree[f'{name}/bn_bias'] = (cout,)


def resnet18() -> dict[str, tuple]:
  """ResNet-18 (ImageNet): 11.7 M values in 62 tensors."""
  tree: dict[str, tuple] = {}
  _conv_bn(tree, 'stem', 7, 3, 64)
  cin = 64
  for stage, width in enumerate((64, 128, 256, 512)):
    for b in range(2):
      name = f'stage{stage}_block{b}'
      _conv_bn(tree, f'{name}/conv1', 3, cin, width)
      _conv_bn(tree, f'{name}/conv2', 3, width, width)
      if cin != width:
        _conv_bn(tree, f'{name}/proj', 1, cin, width)
      cin = width
  _dense(cin, 1000, 'classifier', tree)
  return tree


def resnet50(width_mult: float = 1.0, blocks_per_stage=(3, 4, 6, 3)) -> dict[str, tuple]:
  """ResNet-50 (ImageNet): 25.6 M values in 161 tensors."""
  w = lambda c: max(1, int(c * width_mult))
  tree: dict[str, tuple] = {}
  _conv_bn(tree, 'stem', 7, 3, w(64))
  cin = w(64)
  for stage, (blocks, mid) in enumerate(zip(blocks_per_stage, (64, 128, 256, 512))):
    for b in range(blocks):
      name = f'stage{stage}_block{b}'
      _conv_bn(tree, f'{name}/conv1', 1, cin, w(mid))
      _conv_bn(tree, f'{name}/conv2', 3, w(mid), w(mid))
      _conv_bn(tree, f'{name}/conv3', 1, w(mid), w(4 * mid))
      if b == 0:
        _conv_bn(tree, f'{name}/proj', 1, cin, w(4 * mid))
      cin = w(4 * mid)
  _dense(cin, 1000, 'classifier', tree)
  return tree


def unet(base_channels: int = 32, num_pools: int = 4) -> dict[str, tuple]:
  """fastMRI U-Net: two 3x3 convs per block (no bias), instance norm has no params."""
  tree: dict[str, tuple] = {}
  ch, cin = base_channels, 1
  for i in range(num_pools):
    tree[f'down{i}/conv0'] = (3, 3, cin, ch)
    tree[f'down{i}/conv1'] = (3, 3, ch, ch)
    cin, ch = ch, ch * 2
  tree['bottleneck/conv0'] = (3, 3, cin, ch)
  tree['bottleneck/conv1'] = (3, 3, ch, ch)
  for i in range(num_pools):
    tree[f'up{i}/transpose'] = (3, 3, ch, ch // 2)
    tree[f'up{i}/conv0'] = (3, 3, ch, ch // 2)
    tree[f'up{i}/conv1'] = (3, 3, ch // 2, ch // 2)
    ch //= 2
  tree['final/conv'] = (1, 1, ch, 1)
  tree['final/bias'] = (1,)
  return tree


def ogbg_gnn(latent: int = 256, hidden: int = 256, num_layers: int = 5) -> dict[str, tuple]:
  """OGBG-molpcba GraphNet: encoders, per-layer edge/node/global MLPs with layer norm, decoder."""
  tree: dict[str, tuple] = {}
  _dense(9, latent, 'node_embed', tree)
  _dense(3, latent, 'edge_embed', tree)
  for layer in range(num_layers):
    for fn, fan_in in (('edge', 4 * latent), ('node', 3 * latent), ('global', 3 * latent)):
      _dense(fan_in, hidden, f'layer{layer}/{fn}_mlp0', tree)
      tree[f'layer{layer}/{fn}_ln/scale'] = (hidden,)
      tree[f'layer{layer}/{fn}_ln/bias'] = (hidden,)
      _dense(hidden, latent, f'layer{layer}/{fn}_mlp1', tree)
  _dense(latent, 128, 'decoder', tree)
  return tree


def embedded_tree(name: str) -> dict[str, tuple]:
  """The parameter shapes of an embedded workload's model."""
  params, _ = get_workload(name).init_model_fn(jax.random.PRNGKey(0))
  leaves = jax.tree_util.tree_leaves_with_path(params)
  return {jax.tree_util.keystr(path): tuple(x.shape) for path, x in leaves}


def trees(quick: bool) -> dict[str, dict[str, tuple]]:
  if quick:
    return {
      'mlp (512 wide)': mlp((512, 512, 512, 256)),
      'resnet50 (x0.25)': resnet50(0.25),
      'ogbg_gnn (1 layer)': ogbg_gnn(128, 128, 1),
      'imagenet_resnet_mini': embedded_tree('imagenet_resnet_mini'),
    }
  return {
    'mlp': mlp(),
    'resnet18': resnet18(),
    'resnet50': resnet50(),
    'dlrm_small (2^16 rows)': dlrm_small(2**16),
    'unet (32 ch, 4 pools)': unet(32, 4),
    'ogbg_gnn': ogbg_gnn(),
    **{name: embedded_tree(name) for name in catalogue.EMBEDDED_WORKLOADS},
  }


def make_tree(shapes: dict[str, tuple], seed: int = 0):
  rng = np.random.default_rng(seed)
  return {
    k: jnp.asarray(rng.standard_normal(s, dtype=np.float32) * 0.05) for k, s in shapes.items()
  }


class Stepper:
  """One donated, jitted ``update + apply_updates`` step of ``tx``; compiled on creation
  with ``compiler_options`` (None: XLA's defaults)."""

  def __init__(self, tx, params, grads, extra_args=None, compiler_options=None):
    extra_args = extra_args or {}

    def step(params, state, grads):
      updates, state = tx.update(grads, state, params, **extra_args)
      return optax.apply_updates(params, updates), state

    self.params = jax.tree_util.tree_map(jnp.copy, params)
    self.state = jax.tree_util.tree_map(jnp.copy, tx.init(self.params))
    self.grads = grads
    start, start_cpu = time.perf_counter(), _cpu_seconds()
    self.compiled = (
      jax.jit(step, donate_argnums=(0, 1), compiler_options=compiler_options or None)
      .lower(self.params, self.state, grads)
      .compile()
    )
    self.compile_seconds = time.perf_counter() - start
    self.compile_cpu_seconds = _cpu_seconds() - start_cpu
    self.temp_bytes = _temp_bytes(self.compiled)
    self.state_bytes = sum(x.nbytes for x in jax.tree_util.tree_leaves(self.state))

  def __call__(self):
    self.params, self.state = self.compiled(self.params, self.state, self.grads)
    return self.params


class MlpPass:
  """VeLO's per-parameter MLP pass alone (:func:`velo.per_param_mlp.matrix_step` and
  ``vector_step``) over the tree's packed tiles and chunks, on random inputs, compiled under
  :func:`velo.compiler_options`: the part of a VeLO step that is arithmetic, not memory
  traffic (about 250 vector operations per 8 values), so a floor for the whole step."""

  def __init__(self, params):
    layout = tensor_layout(params)
    rng = np.random.default_rng(2)
    draw = lambda *shape: jnp.asarray(np.abs(rng.standard_normal(shape, dtype=np.float32)))
    tiles, chunks = layout.num_tiles, layout.num_chunks
    R, C = layout.tile_rows, layout.tile_cols
    hidden, decays = per_param_mlp.HIDDEN, per_param_mlp.NUM_DECAYS
    width = per_param_mlp.TABLE_WIDTH
    band = hidden + decays  # rows of the band inputs (matrix_band_inputs)
    diag = (2 * decays + 1) * hidden  # columns of vector_diag_weights
    passes = []  # (pass, its arguments), one per storage class the tree uses
    if tiles:
      passes.append(
        (
          per_param_mlp.matrix_step,
          (draw(tiles, width) * 0.1, draw(tiles, band, R), draw(tiles, band, C))
          + (draw(tiles, R, C), draw(tiles, R, C), draw(decays, tiles, R, C), draw(tiles, R, C)),
        )
      )
    if chunks:
      passes.append(
        (
          per_param_mlp.vector_step,
          (draw(chunks, width) * 0.1, draw(chunks, diag), draw(chunks, CHUNK))
          + (draw(chunks, CHUNK), draw(decays, chunks, CHUNK), draw(chunks, CHUNK))
          + (draw(decays, chunks, CHUNK),),
        )
      )
    fns = [fn for fn, _ in passes]
    self.args = [args for _, args in passes]

    def all_passes(args):
      return [fn(*a) for fn, a in zip(fns, args)]

    self.compiled = (
      jax.jit(all_passes, compiler_options=velo.compiler_options(scratch_in_state=True) or None)
      .lower(self.args)
      .compile()
    )

  def __call__(self):
    return self.compiled(self.args)


def _cpu_seconds() -> float:
  """CPU time of this process (all threads): compile work, little affected by other load."""
  usage = resource.getrusage(resource.RUSAGE_SELF)
  return usage.ru_utime + usage.ru_stime


def _temp_bytes(compiled):
  try:
    analysis = compiled.memory_analysis()
  except (AttributeError, NotImplementedError, RuntimeError):  # backend dependent
    return None
  return None if analysis is None else int(analysis.temp_size_in_bytes)


def _baseline_options(baseline) -> dict:
  """The options the baseline's submissions compiled VeLO under (its ``compiler_options``
  takes no argument before the scratch option existed)."""
  try:
    return baseline.compiler_options(scratch_in_state=False)
  except TypeError:
    return baseline.compiler_options()


def bench_tree(shapes, theta, repeats: int, baseline=None) -> dict:
  params, grads = make_tree(shapes), make_tree(shapes, seed=1)
  param_bytes = 4 * sum(math.prod(s) for s in shapes.values())
  options = velo.compiler_options()
  loss = {'loss': jnp.float32(1.0)}
  adam = Stepper(optax.adam(1e-3), params, grads)
  vel = Stepper(velo.velo(theta, 10_000), params, grads, loss, compiler_options=options)
  steppers = [vel, adam, MlpPass(params)]
  if options:  # VeLO once more, compiled with XLA's defaults
    steppers.append(Stepper(velo.velo(theta, 10_000), params, grads, loss))
  scratch = Stepper(  # VeLO with its scratch buffers in the state (the user's choice)
    velo.velo(theta, 10_000, scratch_in_state=True),
    params,
    grads,
    loss,
    velo.compiler_options(scratch_in_state=True),
  )
  steppers.append(scratch)
  if baseline is not None:  # the other checkout's VeLO, compiled as its submissions did
    base = Stepper(baseline.velo(theta, 10_000), params, grads, loss, _baseline_options(baseline))
    steppers.append(base)
  times = interleaved_median_seconds(steppers, repeats=repeats)
  t_velo, t_adam, t_mlp = times[:3]
  t_velo_default = times[3] if options else t_velo
  t_scratch = times[4] if options else times[3]
  default_ratio = t_velo_default / t_adam
  multiple = lambda b: float('nan') if b is None else b / param_bytes
  return {
    'params': param_bytes // 4,
    'tensors': len(shapes),
    'adam_ms': t_adam * 1e3,
    'velo_ms': t_velo * 1e3,
    'ratio': t_velo / t_adam,
    'default_ratio': default_ratio,
    'mlp_ratio': t_mlp / t_adam,
    'adam_compile_s': adam.compile_seconds,
    'velo_compile_s': vel.compile_seconds,
    'adam_compile_cpu_s': adam.compile_cpu_seconds,
    'velo_compile_cpu_s': vel.compile_cpu_seconds,
    'adam_temp': multiple(adam.temp_bytes),
    'velo_temp': multiple(vel.temp_bytes),
    'velo_state': vel.state_bytes / param_bytes,
    'scratch_ratio': t_scratch / t_adam,
    'scratch_temp': multiple(scratch.temp_bytes),
    'scratch_state': scratch.state_bytes / param_bytes,
    **(
      {}
      if baseline is None
      else {
        'base_ratio': times[-1] / t_adam,
        'base_temp': multiple(base.temp_bytes),
        'base_state': base.state_bytes / param_bytes,
      }
    ),
  }


COLUMNS = (
  ('tree', '{}'),
  ('params', '{:,}'),
  ('tensors', '{}'),
  ('adam ms', '{:.2f}'),
  ('velo ms', '{:.2f}'),
  ('velo/adam', '{:.1f}x'),
  ('velo/adam, XLA defaults', '{:.1f}x'),
  ('mlp pass/adam', '{:.1f}x'),
  ('adam compile s', '{:.1f}'),
  ('velo compile s', '{:.1f}'),
  ('adam compile cpu s', '{:.1f}'),
  ('velo compile cpu s', '{:.1f}'),
  ('adam temp/P', '{:.2f}'),
  ('velo temp/P', '{:.2f}'),
  ('velo state/P', '{:.2f}'),
  ('velo/adam, scratch in state', '{:.1f}x'),
  ('scratch temp/P', '{:.2f}'),
  ('scratch state/P', '{:.2f}'),
)
#: Columns added by ``--baseline``: the other checkout's VeLO in the same run.
BASELINE_COLUMNS = (
  ('baseline velo/adam', '{:.1f}x'),
  ('baseline temp/P', '{:.2f}'),
  ('baseline state/P', '{:.2f}'),
)
KEYS = (
  'params',
  'tensors',
  'adam_ms',
  'velo_ms',
  'ratio',
  'default_ratio',
  'mlp_ratio',
  'adam_compile_s',
  'velo_compile_s',
  'adam_compile_cpu_s',
  'velo_compile_cpu_s',
  'adam_temp',
  'velo_temp',
  'velo_state',
  'scratch_ratio',
  'scratch_temp',
  'scratch_state',
)
BASELINE_KEYS = ('base_ratio', 'base_temp', 'base_state')


def _columns(result):
  if 'base_ratio' in result:
    return COLUMNS + BASELINE_COLUMNS, KEYS + BASELINE_KEYS
  return COLUMNS, KEYS


def row_cells(name, result):
  columns, keys = _columns(result)
  return [columns[0][1].format(name)] + [
    fmt.format(result[k]) for (_, fmt), k in zip(columns[1:], keys)
  ]


def markdown_table(results: dict) -> str:
  columns, _ = _columns(next(iter(results.values())))
  lines = [
    '| ' + ' | '.join(c for c, _ in columns) + ' |',
    '|' + '|'.join('---' for _ in columns) + '|',
  ]
  lines += ['| ' + ' | '.join(row_cells(name, r)) + ' |' for name, r in results.items()]
  return '\n'.join(lines)


def summary(results: dict) -> str:
  """The cost page's sentences: ranges over the trees, read from the table."""
  big = {k: r for k, r in results.items() if r['params'] >= 1_000_000}
  small = {k: r for k, r in results.items() if r['params'] < 1_000_000}
  span = lambda rs, key, fmt: (
    f'{fmt.format(min(r[key] for r in rs.values()))}-{fmt.format(max(r[key] for r in rs.values()))}'
  )
  parts = []
  if big:
    parts.append(
      f'On the AlgoPerf-shaped trees a VeLO step costs {span(big, "ratio", "{:.1f}")}x '
      f"the donated `optax.adam` step ({span(big, 'default_ratio', '{:.1f}')}x with XLA's "
      f'default code generation; its per-parameter MLP pass alone: '
      f'{span(big, "mlp_ratio", "{:.1f}")}x), compiles in '
      f'{span(big, "velo_compile_cpu_s", "{:.1f}")} CPU-seconds (Adam: '
      f'{span(big, "adam_compile_cpu_s", "{:.1f}")}), and needs XLA temporary memory '
      f'of {span(big, "velo_temp", "{:.1f}")}x the parameter bytes (state: '
      f'{span(big, "velo_state", "{:.1f}")}x).'
    )
  if small:
    parts.append(
      f"On the embedded workloads' models it compiles in "
      f'{span(small, "velo_compile_cpu_s", "{:.1f}")} CPU-seconds (Adam: '
      f'{span(small, "adam_compile_cpu_s", "{:.1f}")}) and steps in '
      f'{span(small, "velo_ms", "{:.1f}")} ms.'
    )
  return ' '.join(parts)


def _options_note() -> str:
  options = velo.compiler_options(scratch_in_state=True)
  listed = ', '.join(f'`{k}={v}`' for k, v in options.items()) or 'none on this backend'
  return (
    "Adam and VeLO with XLA's defaults, as `velo.compiler_options()` is empty; VeLO with "
    "`scratch_in_state=True` (columns 'scratch') and the MLP pass under "
    f'`velo.compiler_options(scratch_in_state=True)` ({listed})'
  )


def header(theta_note: str) -> str:
  cpu = os.cpu_count()
  load = ', '.join(f'{x:.1f}' for x in os.getloadavg())
  return (
    f'Measured by `make bench-readme` on {datetime.date.today().isoformat()}: '
    f'{platform.machine()} with {cpu} CPU cores (load average {load} at the start), '
    f'backend {jax.default_backend()}, jax {jax.__version__}; {theta_note}; each step compiled '
    f'as the submissions compile it ({_options_note()}). Steps timed in '
    'alternation in one process (medians); compile times as wall and CPU seconds (the '
    'latter barely depend on other load); temp and state as multiples of the parameter '
    'bytes P. Do not edit by hand.'
  )


def update_page(page: Path, text_block: str) -> None:
  """Replace the velo-bench block of the Markdown file ``page`` with ``text_block``."""
  text = page.read_text(encoding='utf-8')
  if BLOCK_START not in text or BLOCK_END not in text:
    raise BenchError(f'{page} has no {BLOCK_START} ... {BLOCK_END} block to replace')
  before, rest = text.split(BLOCK_START, 1)
  after = rest.split(BLOCK_END, 1)[1]
  trial_layout.atomic_write_text(page, f'{before}{BLOCK_START}\n{text_block}\n{BLOCK_END}{after}')


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--quick', action='store_true', help='small trees, about a minute')
  parser.add_argument(
    '--theta', default=None, help='theta file to time (default: the random meta-initialisation)'
  )
  parser.add_argument('--repeats', type=int, default=None)
  parser.add_argument(
    '--page',
    default=None,
    help=f'rewrite the velo-bench block of this Markdown file (make bench-readme: {COST_PAGE})',
  )
  parser.add_argument(
    '--baseline',
    default=None,
    help='a checkout of this repository (e.g. a git worktree of an older commit) whose velo '
    'package is timed side by side with this one (extra baseline columns)',
  )
  parser.add_argument('--only', default=None, help='comma-separated tree names to run')
  args = parser.parse_args(argv)
  try:
    baseline = None if args.baseline is None else import_from_checkout('velo', args.baseline)
  except (FileNotFoundError, ImportError) as e:
    raise BenchError(f'--baseline: {e}') from e
  if args.theta:
    try:
      theta, theta_note = velo.load_theta(args.theta), f'theta from {args.theta}'
    except FileNotFoundError as e:
      raise BenchError(f'--theta: {e}') from e
  else:
    theta = velo.load_theta(META_INIT_THETA)
    theta_note = (
      "theta: the reference's random meta-initialisation with the released shapes "
      '(no VeLO checkpoint needed; the cost does not depend on the values)'
    )
  repeats = args.repeats or (5 if args.quick else 10)
  print(header(theta_note), flush=True)
  columns = COLUMNS + (BASELINE_COLUMNS if baseline is not None else ())
  print(' | '.join(c for c, _ in columns), flush=True)
  results = {}
  selected = trees(args.quick)
  if args.only:
    wanted = args.only.split(',')
    unknown = [name for name in wanted if name not in selected]
    if unknown:
      raise BenchError(f'--only: no tree named {unknown}; known: {sorted(selected)}')
    selected = {name: selected[name] for name in wanted}
  for name, shapes in selected.items():
    results[name] = bench_tree(shapes, theta, repeats, baseline)
    print(' | '.join(row_cells(name, results[name])), flush=True)
  print(summary(results))
  if args.page:
    block = '\n\n'.join([header(theta_note), markdown_table(results), summary(results)])
    update_page(Path(args.page), block)
    print(f'velo_bench: updated {args.page}')
  return 0


if __name__ == '__main__':
  raise SystemExit(run_main(main))
