"""The XLA options under which a VeLO update compiles to its fastest code on a CPU.

Pass them to the ``jax.jit`` that runs the update (``jax.jit(step,
compiler_options=velo.compiler_options(scratch_in_state) or None)``, with the same
``scratch_in_state`` as given to :func:`velo.velo`); the submissions compile their
VeLO update that way, in a jit of its own where the options are not empty, so that the
model's gradient is compiled exactly as for every other optimizer.

They help only VeLO with its scratch buffers in the state. Without them (the default,
the state at its floor) the step is written over the packed gradients that the same
pass reads, and the classic emitters run that pass about 2.7 times slower than XLA's
default emitters (the whole update: 51x against 19x an Adam step on the mlp tree of
``make bench``, measured side by side), so the options are then empty. Both options choose how the same HLO is turned
into machine code, not what it computes (no fast math: XLA still may not reorder a sum
or fuse a multiply into an add), so results differ from a default compile only in the
order of float32 roundings; the golden-vector tests run under both.

* ``xla_cpu_use_fusion_emitters=False``: XLA's classic loop emitters. A reduction with
  many outputs over the same inputs (VeLO sums two dozen per-parameter quantities per
  tensor in one pass) compiles to code about three times faster per core than under the
  default emitters, and the program compiles faster. They do not help everywhere: an
  Adam update runs slower under them, which is why they are VeLO's option and not every
  optimizer's.
* ``xla_cpu_prefer_vector_width=512``: LLVM may use 512-bit vectors where the machine has
  them (256 bits by default). VeLO's per-parameter MLP, a chain of about 250 vector
  operations per 8 values, then needs fewer instructions. Machines without 512-bit
  vectors ignore it.

On any other backend the options are empty, and an option this jaxlib does not know is
left out. ``make bench`` times VeLO with them and with XLA's defaults side by side.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

#: The options on a CPU backend (see the module docstring).
CPU_OPTIONS = {'xla_cpu_use_fusion_emitters': False, 'xla_cpu_prefer_vector_width': 512}


def _known(name: str, value) -> bool:
  """Whether this jaxlib accepts the compile option (an unknown one fails at compilation)."""
  try:
    jax.jit(jnp.negative, compiler_options={name: value})(jnp.float32(1.0))
  except RuntimeError:  # "No such compile option"
    return False
  return True


@functools.lru_cache(maxsize=None)
def _options_for(backend: str) -> tuple:
  if backend != 'cpu':
    return ()
  return tuple((name, value) for name, value in CPU_OPTIONS.items() if _known(name, value))


def compiler_options(scratch_in_state: bool = False) -> dict:
  """VeLO's ``compiler_options`` on the default backend: with ``scratch_in_state``,
  :data:`CPU_OPTIONS` on a CPU (those this jaxlib knows); else empty."""
  if not scratch_in_state:
    return {}
  return dict(_options_for(jax.default_backend()))
