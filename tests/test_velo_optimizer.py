"""Behaviour of the VeLO optax transformation beyond numerical parity."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import velo
from velo.theta_spec import EXPECTED_THETA_SHAPES

NUM_STEPS = 10
SHAPES = {"s": (), "v": (6,), "m": (4, 5), "t3": (2, 3, 4), "k4": (3, 3, 2, 4)}


def random_theta(seed=0):
    """A theta with the released shapes and small random values (LSTM init state zero)."""
    rng = np.random.default_rng(seed)
    theta: dict = {}
    for path, shape in EXPECTED_THETA_SHAPES.items():
        parts = path.split("/")
        if parts[:2] == ["rnn_params", "rnn"]:
            parts = ["rnn_params", "rnn/linear", parts[-1]]
        node = theta
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        scale = 0.0 if parts[0] == "lstm_init_state" else 0.05
        node[parts[-1]] = (rng.standard_normal(shape) * scale).astype(np.float32)
    return theta


def make_params(seed=0):
    rng = np.random.default_rng(seed)
    return {
        k: jnp.asarray(rng.standard_normal(s).astype(np.float32) * 0.1) for k, s in SHAPES.items()
    }


def grads_for(params, scale=0.3):
    return jax.tree_util.tree_map(lambda p: p * scale + 0.01, params)


@pytest.fixture(scope="module")
def opt():
    theta = random_theta()
    velo.validate_theta(theta)
    return velo.velo(theta, NUM_STEPS)


@pytest.fixture(scope="module")
def traced_step(opt):
    """Jitted step with donated state and a traced fraction_trained; counts its traces."""
    traces = []

    @functools.partial(jax.jit, donate_argnums=(1,))
    def step(params, state, grads, loss, fraction):
        traces.append(1)
        updates, state = opt.update(grads, state, params, loss=loss, fraction_trained=fraction)
        return updates, state

    return step, traces


@pytest.fixture(scope="module")
def default_step(opt):
    return jax.jit(lambda params, state, grads, loss: opt.update(grads, state, params, loss=loss))


def _copy(tree):
    return jax.tree_util.tree_map(jnp.copy, tree)


def test_all_ranks_under_jit_with_donated_state_compiles_once(opt, traced_step):
    step, traces = traced_step
    params = make_params()
    start = params
    state = opt.init(params)
    assert state.num_steps.dtype == jnp.int32 and int(state.num_steps) == NUM_STEPS
    for i in range(4):
        updates, state = step(
            params, state, grads_for(params), jnp.float32(2.0 - 0.1 * i), jnp.float32(i / 4)
        )
        params = optax.apply_updates(params, updates)
    assert len(traces) == 1
    assert int(state.iteration) == 4
    assert state.lstm_hidden.shape == (len(SHAPES), 512)
    for k, p in params.items():
        assert p.shape == start[k].shape and p.dtype == jnp.float32
        assert np.all(np.isfinite(np.asarray(p)))
        assert not np.array_equal(np.asarray(p), np.asarray(start[k])), k


def test_fraction_trained_override(opt, traced_step, default_step):
    step, _ = traced_step
    params = make_params(1)
    state = opt.init(params)
    for loss in (2.0, 1.5):
        _, state = default_step(params, state, grads_for(params), jnp.float32(loss))
    assert int(state.iteration) == 2
    grads = grads_for(params)
    loss = jnp.float32(1.0)
    default, _ = default_step(params, state, grads, loss)
    same, _ = step(params, _copy(state), grads, loss, jnp.float32(2) / jnp.float32(NUM_STEPS))
    other, _ = step(params, _copy(state), grads, loss, jnp.float32(0.9))
    for k in params:
        np.testing.assert_allclose(
            np.asarray(default[k]), np.asarray(same[k]), rtol=1e-6, atol=1e-12
        )
    assert any(
        not np.allclose(np.asarray(default[k]), np.asarray(other[k]), rtol=1e-3) for k in params
    )


def test_gradient_clipping(opt, default_step):
    params = make_params(2)
    grads = jax.tree_util.tree_map(lambda p: jnp.full_like(p, 1e6), params)
    updates, state = default_step(params, opt.init(params), grads, jnp.float32(1.0))
    np.testing.assert_allclose(np.asarray(state.momentum["m"])[0], 0.1 * 1000.0, rtol=1e-6)
    assert all(np.all(np.isfinite(np.asarray(u))) for u in updates.values())


def test_state_layout(opt):
    state = opt.init(make_params())
    assert state.momentum["k4"].shape == (3, 3, 3, 2, 4)
    assert state.rms["m"].shape == (1, 4, 5)
    # factored over the two largest axes of (3, 3, 2, 4): d0 = 3, d1 = 1
    assert state.v_row["k4"].shape == (3, 3, 3, 2)
    assert state.v_col["k4"].shape == (3, 3, 2, 4)
    assert state.v_diag["k4"].shape == (3, 1)  # unused slot: a placeholder, never empty
    assert state.v_diag["s"].shape == (3,) and state.v_diag["v"].shape == (3, 6)
    assert state.loss_buffer.decays.shape == (10,)


def test_missing_loss_is_a_clear_error(opt):
    params = make_params()
    with pytest.raises(TypeError, match="loss="):
        opt.update(params, opt.init(params), params)


def test_missing_params_is_an_error(opt):
    params = make_params()
    with pytest.raises(ValueError, match="params"):
        opt.update(params, opt.init(params), None, loss=1.0)


def test_invalid_theta_is_rejected():
    theta = random_theta()
    theta["rnn_params"]["step_size"]["w"] = np.zeros((512, 2), np.float32)
    with pytest.raises(velo.VeloCheckpointError, match="step_size/w"):
        velo.velo(theta, NUM_STEPS)


def test_grouped_small_tensors_match_per_tensor_processing(monkeypatch):
    """Equal-shaped small tensors are vmapped together; results must equal one-by-one processing."""
    from velo import optimizer as velo_optimizer

    theta = random_theta(3)
    rng = np.random.default_rng(5)
    shapes = {"a": (8,), "b": (8,), "c": (4, 6), "d": (4, 6), "f": (), "g": ()}
    params = {k: jnp.asarray(rng.standard_normal(s).astype(np.float32)) for k, s in shapes.items()}
    grads = {k: jnp.asarray(rng.standard_normal(s).astype(np.float32)) for k, s in shapes.items()}
    assert sorted(
        map(len, velo_optimizer.tensor_groups([params[k].shape for k in sorted(params)]))
    ) == [2, 2, 2]

    def run():
        opt = velo.velo(theta, 20)
        step = jax.jit(lambda p, s, g, loss: opt.update(g, s, p, loss=loss))
        state = opt.init(params)
        p = params
        for loss in (3.0, 2.0, 1.0):
            updates, state = step(p, state, grads, jnp.float32(loss))
            p = optax.apply_updates(p, updates)
        return updates, state

    grouped_updates, grouped_state = run()
    monkeypatch.setattr(velo_optimizer, "SMALL_TENSOR_ELEMENTS", 0)
    assert max(map(len, velo_optimizer.tensor_groups([(8,), (8,)]))) == 1
    single_updates, single_state = run()
    for k in shapes:
        ref = np.asarray(single_updates[k])
        np.testing.assert_allclose(
            np.asarray(grouped_updates[k]), ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max()
        )
        np.testing.assert_allclose(grouped_state.momentum[k], single_state.momentum[k], rtol=1e-6)
    np.testing.assert_allclose(grouped_state.lstm_hidden, single_state.lstm_hidden, atol=1e-5)


def test_state_has_no_zero_size_leaf(opt):
    """AlgoPerf checkpoints the optimizer state with orbax, which refuses zero-size arrays."""
    state = opt.init(make_params())
    assert all(np.asarray(leaf).size > 0 for leaf in jax.tree_util.tree_leaves(state))
