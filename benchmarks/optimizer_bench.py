"""Update-step time of each hand-crafted submission's optimizer, as a ratio to ``optax.adam``.

Tree: about 10 M float32 values in a few tensors of ResNet-like shapes. Each
optimizer's ``update`` + ``apply_updates`` is jitted with donated state and
timed warm; Adam is timed in the same run, interleaved, so the ratio is
meaningful on a shared machine.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import types
from pathlib import Path

import jax
import jax.numpy as jnp
import optax

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_core import catalogue  # noqa: E402
from timing import interleaved_median_seconds  # noqa: E402

NAMES = catalogue.HAND_CRAFTED_ALGORITHMS


def param_tree(scale: float = 1.0):
  """~10 M values (scale 1): conv kernels, dense layers, biases, a scalar."""
  shapes = {
    'conv1': (3, 3, 256, 256),
    'conv2': (3, 3, 256, 512),
    'dense': (2048, 2048),
    'dense2': (2048, 1536),
    'embed': (4096, 256),
    'bias': (2048,),
    'scalar': (),
  }
  keys = jax.random.split(jax.random.PRNGKey(0), len(shapes))
  tree = {}
  for k, (name, shape) in zip(keys, shapes.items()):
    shape = tuple(
      max(1, int(d * scale)) if len(shape) > 1 and i >= len(shape) - 2 else d
      for i, d in enumerate(shape)
    )
    tree[name] = jax.random.normal(k, shape, jnp.float32)
  return tree


def step_fn(tx):
  def step(params, state, grads):
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state

  return jax.jit(step, donate_argnums=(0, 1))


def stepper(tx, params, grads):
  """A zero-argument callable doing one donated update step of ``tx``."""
  fn = step_fn(tx)
  holder = {'p': jax.tree_util.tree_map(jnp.copy, params)}
  holder['s'] = tx.init(holder['p'])

  def call():
    holder['p'], holder['s'] = fn(holder['p'], holder['s'], grads)
    return holder['p']

  return call


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument('--quick', action='store_true', help='a ~1 M tree, fewer repeats')
  parser.add_argument('--repeats', type=int, default=15)
  args = parser.parse_args(argv)
  scale = 0.3 if args.quick else 1.0
  repeats = 5 if args.quick else args.repeats
  params = param_tree(scale)
  grads = jax.tree_util.tree_map(lambda p: 0.01 * jnp.ones_like(p), params)
  n = sum(p.size for p in jax.tree_util.tree_leaves(params))
  workload = types.SimpleNamespace(step_hint=10_000)
  print(
    f'== hand-crafted optimizers: update step on {n / 1e6:.1f} M float32 values '
    f'(median of {repeats}, backend {jax.default_backend()}) =='
  )
  print(f'{"optimizer":<12} {"ms/step":>9} {"adam ms":>9} {"ratio":>7}')
  for name in NAMES:
    module = importlib.import_module(f'submissions.{name}.submission')
    hp = types.SimpleNamespace(**module.DEFAULTS)
    ours, adam = interleaved_median_seconds(
      [
        stepper(module.make_optimizer(hp, workload), params, grads),
        stepper(optax.adam(1e-3), params, grads),
      ],
      repeats=repeats,
    )
    print(f'{name:<12} {ours * 1e3:9.2f} {adam * 1e3:9.2f} {ours / adam:7.2f}')


if __name__ == '__main__':
  main()
