"""Random training batches in the format AlgoPerf's JAX input pipelines yield (2c90454f), for a
smoke run of a submission on a real model without any dataset.

Keys, shapes and dtypes per base workload family (``B`` the global batch size; a variant's
batches are its base's):

* ``criteo1tb``: ``inputs`` (B, 13 + 26) float32 (13 dense features, then 26 categorical ids
  that the model takes modulo its vocabulary), ``targets`` (B,) float32 in {0, 1},
  ``weights`` (B,) float32 ones.
* ``fastmri``: ``inputs`` and ``targets`` (B, 320, 320) float32, ``mean``, ``std``,
  ``volume_max`` and ``weights`` (B,) float32.
* ``imagenet_resnet``, ``imagenet_vit``: ``inputs`` (B, 224, 224, 3) float32, ``targets`` (B,)
  int32 in [0, 1000), ``weights`` (B,) float32 ones.
* ``librispeech_*``: ``inputs`` = (audio (B, 320000), paddings (B, 320000)), ``targets`` =
  (token ids (B, 256), paddings (B, 256)), all float32 as the pipeline gives them; a random
  length per example, paddings 1 after it.
* ``ogbg``: ``inputs`` a ``jraph.GraphsTuple`` of one padded batch per device, built as
  AlgoPerf's pipeline pads them (at most ``26 * b`` nodes + 1 and ``56 * b`` edges for
  ``b = B / devices`` graphs + 1 padding graph; node features 9, edge features 3, no
  globals), ``targets`` and ``weights`` (graphs, 128) float32 (weight 0 on padding graphs).
* ``wmt``: packed sequences: ``inputs``, ``targets`` (B, 256) int32 token ids in [1, 32000),
  ``inputs_position``, ``targets_position``, ``inputs_segmentation``,
  ``targets_segmentation`` (B, 256) int32 (two segments per row), ``weights`` (B, 256)
  float32 ones.

Placement as in AlgoPerf: every array split along its first axis over the devices
(``NamedSharding`` over a ``batch`` mesh axis), except ogbg's, which its pipeline leaves on the
host as numpy arrays.
"""

from __future__ import annotations

from typing import Any, Callable, Dict

import jax
import jraph
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from bench_core import catalogue
from bench_core.errors import BenchError

IMAGE_SIDE, IMAGE_CLASSES = 224, 1000
FASTMRI_SIDE = 320
CRITEO_DENSE, CRITEO_SPARSE = 13, 26
AUDIO_SAMPLES, TRANSCRIPT_TOKENS, TOKEN_IDS = 320_000, 256, 1024
WMT_LENGTH, WMT_VOCAB = 256, 32_000
GRAPH_NODES, GRAPH_EDGES = 26, 56  # AlgoPerf's average nodes and edges per molecule
NODE_FEATURES, EDGE_FEATURES, GRAPH_TASKS = 9, 3, 128


def _criteo(rng: np.random.Generator, b: int) -> Dict[str, Any]:
  dense = rng.normal(size=(b, CRITEO_DENSE))
  sparse = rng.integers(0, 2**31 - 1, size=(b, CRITEO_SPARSE))
  return {
    'inputs': np.concatenate([dense, sparse], axis=1).astype(np.float32),
    'targets': rng.integers(0, 2, size=b).astype(np.float32),
    'weights': np.ones(b, np.float32),
  }


def _fastmri(rng: np.random.Generator, b: int) -> Dict[str, Any]:
  shape = (b, FASTMRI_SIDE, FASTMRI_SIDE)
  return {
    'inputs': rng.normal(size=shape).astype(np.float32),
    'targets': rng.normal(size=shape).astype(np.float32),
    'mean': np.zeros(b, np.float32),
    'std': np.ones(b, np.float32),
    'volume_max': np.ones(b, np.float32),
    'weights': np.ones(b, np.float32),
  }


def _imagenet(rng: np.random.Generator, b: int) -> Dict[str, Any]:
  return {
    'inputs': rng.normal(size=(b, IMAGE_SIDE, IMAGE_SIDE, 3)).astype(np.float32),
    'targets': rng.integers(0, IMAGE_CLASSES, size=b).astype(np.int32),
    'weights': np.ones(b, np.float32),
  }


def _paddings_after(lengths: np.ndarray, width: int) -> np.ndarray:
  """1.0 at and after each row's length, 0.0 before it."""
  return (np.arange(width)[None, :] >= lengths[:, None]).astype(np.float32)


def _librispeech(rng: np.random.Generator, b: int) -> Dict[str, Any]:
  audio_paddings = _paddings_after(
    rng.integers(AUDIO_SAMPLES // 2, AUDIO_SAMPLES, b), AUDIO_SAMPLES
  )
  audio = rng.normal(size=(b, AUDIO_SAMPLES)).astype(np.float32) * (1 - audio_paddings)
  token_paddings = _paddings_after(
    rng.integers(TRANSCRIPT_TOKENS // 2, TRANSCRIPT_TOKENS, b), TRANSCRIPT_TOKENS
  )
  tokens = rng.integers(1, TOKEN_IDS, size=(b, TRANSCRIPT_TOKENS)) * (1 - token_paddings)
  return {'inputs': (audio, audio_paddings), 'targets': (tokens.astype(np.float32), token_paddings)}


def _wmt(rng: np.random.Generator, b: int) -> Dict[str, Any]:
  half = WMT_LENGTH // 2
  position = np.tile(np.concatenate([np.arange(half), np.arange(WMT_LENGTH - half)]), (b, 1))
  segmentation = np.tile(np.repeat([1, 2], [half, WMT_LENGTH - half]), (b, 1))
  return {
    'inputs': rng.integers(1, WMT_VOCAB, size=(b, WMT_LENGTH)).astype(np.int32),
    'targets': rng.integers(1, WMT_VOCAB, size=(b, WMT_LENGTH)).astype(np.int32),
    'inputs_position': position.astype(np.int32),
    'targets_position': position.astype(np.int32),
    'inputs_segmentation': segmentation.astype(np.int32),
    'targets_segmentation': segmentation.astype(np.int32),
    'weights': np.ones((b, WMT_LENGTH), np.float32),
  }


def _ogbg(rng: np.random.Generator, b: int) -> Dict[str, Any]:
  devices = jax.local_device_count()
  per_device = b // devices
  shards, labels, weights = [], [], []
  for _ in range(devices):
    # per_device molecules of a little under the average size, then one padding graph that
    # fills the budget of nodes and edges, as jraph.dynamically_batch does.
    nodes, edges = GRAPH_NODES - 1, GRAPH_EDGES - 1
    graphs = [
      jraph.GraphsTuple(
        nodes=rng.normal(size=(nodes, NODE_FEATURES)).astype(np.float32),
        edges=rng.normal(size=(edges, EDGE_FEATURES)).astype(np.float32),
        senders=rng.integers(0, nodes, edges).astype(np.int32),
        receivers=rng.integers(0, nodes, edges).astype(np.int32),
        n_node=np.array([nodes], np.int32),
        n_edge=np.array([edges], np.int32),
        globals={},
      )
      for _ in range(per_device)
    ]
    shard = jraph.pad_with_graphs(
      jraph.batch_np(graphs),
      n_node=GRAPH_NODES * per_device + 1,
      n_edge=GRAPH_EDGES * per_device,
      n_graph=per_device + 1,
    )
    mask = jraph.get_graph_padding_mask(shard).astype(np.float32)[:, None]
    shards.append(shard)
    labels.append(rng.integers(0, 2, size=(per_device + 1, GRAPH_TASKS)).astype(np.float32) * mask)
    weights.append(np.broadcast_to(mask, (per_device + 1, GRAPH_TASKS)).astype(np.float32))
  return {
    'inputs': jraph.batch_np(shards),
    'targets': np.vstack(labels),
    'weights': np.vstack(weights),
  }


#: base workload -> (rng, global batch size) -> batch, and whether it goes on the devices.
FAMILIES: Dict[str, tuple[Callable[[np.random.Generator, int], Dict[str, Any]], bool]] = {
  'criteo1tb': (_criteo, True),
  'fastmri': (_fastmri, True),
  'imagenet_resnet': (_imagenet, True),
  'imagenet_vit': (_imagenet, True),
  'librispeech_conformer': (_librispeech, True),
  'librispeech_deepspeech': (_librispeech, True),
  'ogbg': (_ogbg, False),
  'wmt': (_wmt, True),
}


def fake_batch(workload: str, batch_size: int, seed: int = 0) -> Dict[str, Any]:
  """One random batch of ``workload`` (a base workload or a variant), placed as AlgoPerf
  places it. ``batch_size`` must be a positive multiple of the device count."""
  base = catalogue.base_workload(workload)
  if base not in FAMILIES:
    raise BenchError(
      f'no fake batches for workload {workload!r}: the smoke run knows the base workloads '
      f'{", ".join(FAMILIES)} and their variants'
    )
  devices = jax.device_count()
  if batch_size <= 0 or batch_size % devices:
    raise BenchError(
      f'--batch_size {batch_size} must be a positive multiple of the {devices} device(s)'
    )
  make, on_devices = FAMILIES[base]
  batch = make(np.random.default_rng(seed), batch_size)
  if not on_devices:
    return batch
  split = NamedSharding(Mesh(jax.devices(), ('batch',)), PartitionSpec('batch'))
  return jax.tree_util.tree_map(lambda x: jax.device_put(x, split), batch)
