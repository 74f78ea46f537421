"""Reading and locating the VeLO meta-parameters (theta).

The checkpoint is a flax msgpack serialisation (never a pickle). Two layouts
are accepted:

* the released wrapper record: a map whose ``params`` field holds theta
  (9,282,564 bytes);
* the bare theta map, as redistributed in ``theta.state`` files (9,282,507
  bytes).

Every leaf is checked against :data:`velo.theta_spec.EXPECTED_THETA_SHAPES` and
must hold finite values.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from flax import serialization

from bench_core.errors import BenchError
from velo.theta_spec import EXPECTED_THETA_SHAPES

CHECKPOINT_ENV_VAR = 'VELO_CHECKPOINT'
CACHE_SUBDIR = 'velo_bench'
CACHE_FILENAME = 'velo_theta.msgpack'

HOW_TO_GET_WEIGHTS = (
  'Download them once with `make velo-weights` (i.e. `python -m velo.download`), '
  f'or point to an existing file with {CHECKPOINT_ENV_VAR}=/path/to/file.'
)

_THETA_TOP_LEVEL_KEYS = {'lstm_init_state', 'rnn_params', 'ff_mod_stack'}


class VeloCheckpointError(BenchError):
  """The file exists but is not a valid VeLO checkpoint (a :class:`BenchError`)."""


class VeloCheckpointMissing(FileNotFoundError):
  """No VeLO checkpoint could be found."""


def default_cache_path() -> Path:
  """``$XDG_CACHE_HOME/velo_bench/velo_theta.msgpack`` (default ``~/.cache``)."""
  cache_home = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
  return Path(cache_home) / CACHE_SUBDIR / CACHE_FILENAME


def resolve_checkpoint(path: str | os.PathLike | None = None) -> Path:
  """Where to read theta from: ``path``, else ``$VELO_CHECKPOINT``, else the cache file.

  Raises :class:`VeloCheckpointMissing` (a ``FileNotFoundError``) when the
  chosen location does not exist, or when none is set and the cache file is
  absent; the message says how to get the weights.
  """
  if path is not None:
    source, candidate = 'the given path', Path(path)
  elif os.environ.get(CHECKPOINT_ENV_VAR):
    source, candidate = f'${CHECKPOINT_ENV_VAR}', Path(os.environ[CHECKPOINT_ENV_VAR])
  else:
    source, candidate = 'the cache', default_cache_path()
  candidate = candidate.expanduser()
  if not candidate.is_file():
    raise VeloCheckpointMissing(
      f'VeLO checkpoint not found at {candidate} ({source}). {HOW_TO_GET_WEIGHTS}'
    )
  return candidate


def _flatten(tree: Mapping[str, Any], prefix: str = '') -> dict[str, Any]:
  flat: dict[str, Any] = {}
  for key, value in tree.items():
    path = f'{prefix}/{key}' if prefix else str(key)
    if isinstance(value, Mapping):
      flat.update(_flatten(value, path))
    else:
      flat[path] = value
  return flat


def _unwrap(restored: Any, where: str) -> Mapping[str, Any]:
  if not isinstance(restored, Mapping):
    raise VeloCheckpointError(f'{where}: expected a msgpack map, found {type(restored).__name__}')
  if _THETA_TOP_LEVEL_KEYS <= set(restored):
    return restored
  params = restored.get('params')
  if isinstance(params, Mapping):
    return params
  raise VeloCheckpointError(
    f'{where}: neither a theta map (keys {sorted(_THETA_TOP_LEVEL_KEYS)}) nor a '
    f"wrapper record with a 'params' field; top-level keys: {sorted(map(str, restored))}"
  )


def validate_theta(theta: Mapping[str, Any], where: str = 'theta') -> None:
  """Check theta's leaf paths, shapes, dtypes and finiteness; raise naming the first bad leaf."""
  flat = _flatten(theta)
  missing = sorted(set(EXPECTED_THETA_SHAPES) - set(flat))
  extra = sorted(set(flat) - set(EXPECTED_THETA_SHAPES))
  if missing:
    raise VeloCheckpointError(f'{where}: missing leaf {missing[0]} (missing: {missing})')
  if extra:
    raise VeloCheckpointError(f'{where}: unexpected leaf {extra[0]} (extra: {extra})')
  for path, expected in EXPECTED_THETA_SHAPES.items():
    shape = tuple(np.shape(flat[path]))
    if shape != expected:
      raise VeloCheckpointError(f'{where}: leaf {path} has shape {shape}, expected {expected}')
    if not np.issubdtype(np.asarray(flat[path]).dtype, np.floating):
      raise VeloCheckpointError(
        f'{where}: leaf {path} has dtype {np.asarray(flat[path]).dtype}, expected float'
      )
    finite = np.isfinite(np.asarray(flat[path]))
    if not finite.all():
      bad = np.asarray(flat[path])[~finite]
      raise VeloCheckpointError(
        f'{where}: leaf {path} has {bad.size} non-finite value(s) (first: {bad[0]}), '
        'expected finite float32 weights'
      )


def check_file_dtypes(theta: Mapping[str, Any], where: str) -> None:
  """A checkpoint file holds float32 leaves, as the released one does: a leaf of another
  float type (float64, bfloat16) is refused, naming it, rather than converted silently."""
  for path, leaf in _flatten(theta).items():
    dtype = np.asarray(leaf).dtype
    if dtype != np.float32:
      raise VeloCheckpointError(
        f'{where}: leaf {path} has dtype {dtype}, expected float32 (the released checkpoint '
        'stores float32 weights; convert the file to float32)'
      )


def _to_float32_tree(tree: Mapping[str, Any]) -> dict[str, Any]:
  return {
    key: _to_float32_tree(value)
    if isinstance(value, Mapping)
    else np.asarray(value, dtype=np.float32)
    for key, value in tree.items()
  }


def theta_from_bytes(data: bytes, where: str = '<bytes>') -> dict[str, Any]:
  """Decode and validate a msgpack theta (either layout); nested dict of float32 arrays."""
  try:
    restored = serialization.msgpack_restore(data)
  except Exception as exc:  # msgpack raises several unrelated exception types
    raise VeloCheckpointError(
      f'{where}: not a readable flax msgpack checkpoint '
      f'({len(data)} bytes; truncated or wrong format?): {type(exc).__name__}: {exc}'
    ) from exc
  theta = _unwrap(restored, where)
  validate_theta(theta, where)
  check_file_dtypes(theta, where)
  return _to_float32_tree(theta)


def load_theta(path: str | os.PathLike | None = None) -> dict[str, Any]:
  """Load VeLO's theta from a flax msgpack file (wrapper or bare layout).

  ``path=None`` resolves the location with :func:`resolve_checkpoint`.
  Returns nested dicts of float32 numpy arrays keyed as in the checkpoint
  (``lstm_init_state``, ``rnn_params``, ``ff_mod_stack``).
  """
  resolved = resolve_checkpoint(path)
  return theta_from_bytes(resolved.read_bytes(), where=str(resolved))
