"""VeLO's packed storage: every tensor's values land in its tiles / chunks and come back."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from velo import layout as velo_layout

SHAPES = [
  (),
  (1,),
  (7,),
  (300,),
  (5, 3),
  (3, 70),
  (1, 1),
  (3, 3, 2, 4),
  (7, 7, 3, 64),
  (2, 33, 9),
  (4, 1, 130),
  (1024, 8),
  (600, 600),
]


def params_of(shapes, seed=0):
  rng = np.random.default_rng(seed)
  return {
    f't{i}': jnp.asarray(rng.standard_normal(s).astype(np.float32)) for i, s in enumerate(shapes)
  }


@pytest.mark.parametrize('tile', velo_layout.TILE_SHAPES)
def test_pack_then_unpack_is_the_identity(monkeypatch, tile):
  monkeypatch.setattr(velo_layout, 'TILE_SHAPES', (tile,))
  velo_layout._layout_for.cache_clear()
  params = params_of(SHAPES)
  layout = velo_layout.tensor_layout(params)
  velo_layout._layout_for.cache_clear()
  leaves = jax.tree_util.tree_leaves(params)
  tiles, chunks = jax.jit(layout.pack)(leaves)
  assert tiles.shape == (layout.num_tiles, *tile) and chunks.shape == (
    layout.num_chunks,
    velo_layout.CHUNK,
  )
  # every real value appears once, the rest is zero padding
  real = sum(max(1, int(np.prod(s))) for s in SHAPES)
  assert int(layout.tile_mask().sum()) + int(layout.chunk_mask().sum()) == real
  assert not np.asarray(tiles)[~np.asarray(layout.tile_mask())].any()
  assert not np.asarray(chunks)[~np.asarray(layout.chunk_mask())].any()
  for leaf, back in zip(leaves, jax.jit(layout.unpack)(tiles, chunks)):
    np.testing.assert_array_equal(np.asarray(back), np.asarray(leaf))


def test_row_and_column_vectors_follow_the_factored_axes():
  """Per-row storage holds the mean over the columns: VeLO's v_row when columns are d0."""
  params = params_of([(3, 3, 2, 4), (6, 40), (40, 6)])
  layout = velo_layout.tensor_layout(params)
  leaves = jax.tree_util.tree_leaves(params)
  for pl in layout.matrices:
    x = np.asarray(leaves[pl.leaf])
    d1, d0 = velo_layout.factored_axes(x.shape)
    rows = np.zeros((layout.num_row_bands, layout.tile_rows), np.float32)
    cols = np.zeros((layout.num_col_bands, layout.tile_cols), np.float32)
    tiles = np.asarray(jax.jit(layout.pack_matrix, static_argnums=0)(pl, jnp.asarray(x)))
    for t in range(pl.num_tiles):
      rows[layout.tile_row_band[pl.first_tile + t]] += tiles[t].sum(axis=1)
      cols[layout.tile_col_band[pl.first_tile + t]] += tiles[t].sum(axis=0)
    v_row, v_col = (x.sum(axis=d0), x.sum(axis=d1))
    from_rows = np.asarray(layout.unpack_row_vector(pl, jnp.asarray(rows)))
    from_cols = np.asarray(layout.unpack_col_vector(pl, jnp.asarray(cols)))
    if not pl.cols_are_d0:
      from_rows, from_cols = from_cols, from_rows
    np.testing.assert_allclose(from_rows, v_row, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(from_cols, v_col, rtol=1e-5, atol=1e-6)


def test_equal_trees_share_one_layout_and_others_do_not():
  a = velo_layout.tensor_layout(params_of([(4, 5), (3,)]))
  assert velo_layout.tensor_layout(params_of([(4, 5), (3,)], seed=1)) is a
  assert velo_layout.tensor_layout(params_of([(5, 4), (3,)])) != a
