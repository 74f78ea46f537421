"""The segment sums of VeLO's per-tile statistics, against numpy's unbuffered add."""

import jax.numpy as jnp
import numpy as np
import pytest

from velo.fused_reduce import segment_sums


def _reference(values, ids, num_segments):
  out = np.zeros((num_segments,) + values.shape[1:], np.float64)
  np.add.at(out, ids, values)
  return out


@pytest.mark.parametrize(
  'ids, num_segments',
  [
    (np.repeat(np.arange(5), [1, 3, 4, 9, 2]), 5),  # sorted runs of assorted lengths
    (np.array([3, 0, 3, 1, 0, 3, 3]), 6),  # unsorted, segments 2, 4 and 5 empty
    (np.zeros(17, np.int64), 1),  # one segment, not a power of two
    (np.array([], np.int64), 3),  # no rows at all
  ],
)
def test_segment_sums_match_numpy(ids, num_segments):
  rng = np.random.default_rng(0)
  values = rng.standard_normal((len(ids), 4, 3)).astype(np.float32)
  ours = np.asarray(segment_sums(jnp.asarray(values), ids, num_segments))
  assert ours.shape == (num_segments, 4, 3)
  np.testing.assert_allclose(ours, _reference(values, ids, num_segments), rtol=1e-5, atol=1e-6)
