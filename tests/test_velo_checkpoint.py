"""Loading and locating the VeLO checkpoint (flax msgpack, two layouts)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import GOLDEN_THETA
from flax import serialization

import velo
from velo.theta_spec import EXPECTED_THETA_SHAPES, NUM_THETA_VALUES, RELEASE_WRAPPER_BYTES

needs_golden = pytest.mark.skipif(
  not GOLDEN_THETA.is_file(),
  reason=f'golden theta not found at {GOLDEN_THETA} (set VELO_GOLDEN_DIR)',
)


def _flat(tree, prefix=''):
  out = {}
  for k, v in tree.items():
    path = f'{prefix}/{k}' if prefix else k
    out.update(_flat(v, path) if isinstance(v, dict) else {path: v})
  return out


@pytest.fixture(scope='module')
def theta():
  if not GOLDEN_THETA.is_file():
    pytest.skip(f'golden theta not found at {GOLDEN_THETA}')
  return velo.load_theta(GOLDEN_THETA)


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path):
  monkeypatch.delenv('VELO_CHECKPOINT', raising=False)
  monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'xdg_cache'))


@needs_golden
def test_bare_layout(theta):
  flat = _flat(theta)
  assert {k: v.shape for k, v in flat.items()} == EXPECTED_THETA_SHAPES
  assert all(v.dtype == np.float32 for v in flat.values())
  assert sum(v.size for v in flat.values()) == NUM_THETA_VALUES
  assert 'rnn/linear' in theta['rnn_params']  # one key with a slash, not two levels


@needs_golden
def test_wrapper_layout(theta, tmp_path):
  data = serialization.msgpack_serialize({'params': theta})
  # same framing overhead as the released record (which has a 6-byte "params" key)
  assert abs(len(data) - RELEASE_WRAPPER_BYTES) < 64
  path = tmp_path / 'params'
  path.write_bytes(data)
  loaded = velo.load_theta(path)
  for key, value in _flat(theta).items():
    np.testing.assert_array_equal(_flat(loaded)[key], value)


def _write(tmp_path, tree, name='theta.msgpack'):
  path = tmp_path / name
  path.write_bytes(serialization.msgpack_serialize(tree))
  return path


@needs_golden
def test_wrong_shape(theta, tmp_path):
  bad = _flat(theta)
  theta2 = {k: dict(v) for k, v in theta.items()}
  theta2['rnn_params'] = {k: dict(v) for k, v in theta['rnn_params'].items()}
  theta2['rnn_params']['rnn_to_controls']['w'] = np.zeros((512, 128), np.float32)
  path = _write(tmp_path, theta2)
  with pytest.raises(velo.VeloCheckpointError) as err:
    velo.load_theta(path)
  message = str(err.value)
  assert str(path) in message and 'rnn_params/rnn_to_controls/w' in message
  assert '(512, 128)' in message and '(512, 256)' in message
  assert bad  # original untouched


@needs_golden
def test_missing_and_extra_leaf(theta, tmp_path):
  theta2 = {k: dict(v) for k, v in theta.items()}
  theta2['ff_mod_stack'] = {'~': dict(theta['ff_mod_stack']['~'])}
  del theta2['ff_mod_stack']['~']['w0__13']
  with pytest.raises(velo.VeloCheckpointError, match='missing leaf ff_mod_stack/~/w0__13'):
    velo.load_theta(_write(tmp_path, theta2, 'missing.msgpack'))
  theta2['ff_mod_stack']['~']['w0__13'] = theta['ff_mod_stack']['~']['w0__13']
  theta2['ff_mod_stack']['~']['w3'] = np.zeros((256, 3, 3), np.float32)
  with pytest.raises(velo.VeloCheckpointError, match='unexpected leaf ff_mod_stack/~/w3'):
    velo.load_theta(_write(tmp_path, theta2, 'extra.msgpack'))


@needs_golden
def test_truncated_file(tmp_path):
  data = GOLDEN_THETA.read_bytes()
  path = tmp_path / 'truncated.msgpack'
  path.write_bytes(data[: len(data) // 2])
  with pytest.raises(velo.VeloCheckpointError, match='truncated.msgpack'):
    velo.load_theta(path)


@pytest.mark.parametrize(
  'content', [b'<html>404 Not Found</html>', b'\x80\x04\x95 pickle-like bytes', b'', b'hello world']
)
def test_non_msgpack_file(tmp_path, content):
  path = tmp_path / 'not_msgpack.bin'
  path.write_bytes(content)
  with pytest.raises(velo.VeloCheckpointError, match='not_msgpack.bin'):
    velo.load_theta(path)


def test_msgpack_of_wrong_structure(tmp_path):
  path = _write(tmp_path, {'something': np.zeros(3, np.float32)}, 'other.msgpack')
  with pytest.raises(velo.VeloCheckpointError, match='params'):
    velo.load_theta(path)


def test_resolve_order(tmp_path, monkeypatch):
  arg, env, cache = tmp_path / 'arg.msgpack', tmp_path / 'env.msgpack', velo.default_cache_path()
  assert cache == tmp_path / 'xdg_cache' / 'velo_bench' / 'velo_theta.msgpack'
  cache.parent.mkdir(parents=True)
  for p in (arg, env, cache):
    p.write_bytes(b'x')
  monkeypatch.setenv('VELO_CHECKPOINT', str(env))
  assert velo.resolve_checkpoint(arg) == arg
  assert velo.resolve_checkpoint() == env
  monkeypatch.delenv('VELO_CHECKPOINT')
  assert velo.resolve_checkpoint() == cache


def test_missing_checkpoint_message(tmp_path, monkeypatch):
  with pytest.raises(velo.VeloCheckpointMissing) as err:
    velo.resolve_checkpoint()
  assert isinstance(err.value, FileNotFoundError)
  assert 'make velo-weights' in str(err.value) and 'VELO_CHECKPOINT' in str(err.value)
  monkeypatch.setenv('VELO_CHECKPOINT', str(tmp_path / 'nope.msgpack'))
  with pytest.raises(velo.VeloCheckpointMissing, match='nope.msgpack'):
    velo.load_theta()
  with pytest.raises(velo.VeloCheckpointMissing, match='make velo-weights'):
    velo.resolve_checkpoint(tmp_path / 'also_missing')


def test_home_cache_default(monkeypatch, tmp_path):
  monkeypatch.delenv('XDG_CACHE_HOME')
  monkeypatch.setenv('HOME', str(tmp_path))
  assert velo.default_cache_path() == tmp_path / '.cache' / 'velo_bench' / 'velo_theta.msgpack'
