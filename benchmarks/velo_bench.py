"""Step time and temporary memory of VeLO vs Adam on AlgoPerf-shaped parameter trees.

Usage: ``python benchmarks/velo_bench.py [--quick] [--theta PATH] [--repeats N]``

Builds parameter trees with the shapes of the AlgoPerf models (no model code
needed), then for VeLO and ``optax.adam`` reports the median warm jitted
update time (``block_until_ready``) and XLA's compiled temporary memory
(``memory_analysis().temp_size_in_bytes``) relative to the parameter bytes.
Theta defaults to the golden random meta-init (same shapes as the release).
"""

from __future__ import annotations

import argparse
import itertools
import math
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

import velo

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import median_seconds  # noqa: E402

DEFAULT_THETA = REPO.parent / "shared" / "velo" / "golden" / "theta.msgpack"


def _dense(fan_in, fan_out, prefix, tree):
    tree[f"{prefix}/kernel"] = (fan_in, fan_out)
    tree[f"{prefix}/bias"] = (fan_out,)


def dlrm_small(embed_rows: int, top_widths=(1024, 1024, 512, 256, 1)) -> dict[str, tuple]:
    """DLRM-small: 13 dense features, 26 sparse, embedding dim 128, bottom/top MLPs."""
    tree: dict[str, tuple] = {"embedding_table": (embed_rows, 128)}
    widths = [13, 512, 256, 128]
    for i, (a, b) in enumerate(itertools.pairwise(widths)):
        _dense(a, b, f"bot_mlp_{i}", tree)
    num_interactions = 27 * 26 // 2 + 128
    widths = [num_interactions, *top_widths]
    for i, (a, b) in enumerate(itertools.pairwise(widths)):
        _dense(a, b, f"top_mlp_{i}", tree)
    return tree


def resnet50(width_mult: float = 1.0, blocks_per_stage=(3, 4, 6, 3)) -> dict[str, tuple]:
    """ResNet-50 (ImageNet) conv kernels (HWIO), batch-norm scales/biases and the classifier."""
    w = lambda c: max(1, int(c * width_mult))
    tree: dict[str, tuple] = {}

    def conv_bn(name, k, cin, cout):
        tree[f"{name}/kernel"] = (k, k, cin, cout)
        tree[f"{name}/bn_scale"] = (cout,)
        tree[f"{name}/bn_bias"] = (cout,)

    conv_bn("stem", 7, 3, w(64))
    cin = w(64)
    for stage, (blocks, mid) in enumerate(zip(blocks_per_stage, (64, 128, 256, 512))):
        for b in range(blocks):
            name = f"stage{stage}_block{b}"
            conv_bn(f"{name}/conv1", 1, cin, w(mid))
            conv_bn(f"{name}/conv2", 3, w(mid), w(mid))
            conv_bn(f"{name}/conv3", 1, w(mid), w(4 * mid))
            if b == 0:
                conv_bn(f"{name}/proj", 1, cin, w(4 * mid))
            cin = w(4 * mid)
    _dense(cin, 1000, "classifier", tree)
    return tree


def unet(base_channels: int = 32, num_pools: int = 4) -> dict[str, tuple]:
    """fastMRI U-Net: two 3x3 convs per block (no bias), instance norm has no params."""
    tree: dict[str, tuple] = {}
    ch, cin = base_channels, 1
    for i in range(num_pools):
        tree[f"down{i}/conv0"] = (3, 3, cin, ch)
        tree[f"down{i}/conv1"] = (3, 3, ch, ch)
        cin, ch = ch, ch * 2
    tree["bottleneck/conv0"] = (3, 3, cin, ch)
    tree["bottleneck/conv1"] = (3, 3, ch, ch)
    for i in range(num_pools):
        tree[f"up{i}/transpose"] = (3, 3, ch, ch // 2)
        tree[f"up{i}/conv0"] = (3, 3, ch, ch // 2)
        tree[f"up{i}/conv1"] = (3, 3, ch // 2, ch // 2)
        ch //= 2
    tree["final/conv"] = (1, 1, ch, 1)
    tree["final/bias"] = (1,)
    return tree


def ogbg_gnn(latent: int = 256, hidden: int = 256, num_layers: int = 5) -> dict[str, tuple]:
    """OGBG-molpcba GraphNet: encoders, per-layer edge/node/global MLPs with layer norm, decoder."""
    tree: dict[str, tuple] = {}
    _dense(9, latent, "node_embed", tree)
    _dense(3, latent, "edge_embed", tree)
    for layer in range(num_layers):
        for fn, fan_in in (("edge", 4 * latent), ("node", 3 * latent), ("global", 3 * latent)):
            _dense(fan_in, hidden, f"layer{layer}/{fn}_mlp0", tree)
            tree[f"layer{layer}/{fn}_ln/scale"] = (hidden,)
            tree[f"layer{layer}/{fn}_ln/bias"] = (hidden,)
            _dense(hidden, latent, f"layer{layer}/{fn}_mlp1", tree)
    _dense(latent, 128, "decoder", tree)
    return tree


def workloads(quick: bool) -> dict[str, dict[str, tuple]]:
    if quick:
        return {
            "dlrm(2^12 rows,2 top)": dlrm_small(2**12, (1024, 1)),
            "resnet(x0.5,1 block)": resnet50(0.5, (1, 0, 0, 0)),
            "unet(16ch,1 pool)": unet(16, 1),
            "ogbg_gnn(128,1 layer)": ogbg_gnn(128, 128, 1),
        }
    return {
        "dlrm_small(2^16 rows)": dlrm_small(2**16),
        "resnet50": resnet50(),
        "unet(32ch,4 pools)": unet(32, 4),
        "ogbg_gnn": ogbg_gnn(),
    }


def make_tree(shapes: dict[str, tuple], seed: int = 0):
    rng = np.random.default_rng(seed)
    return {
        k: jnp.asarray(rng.standard_normal(s, dtype=np.float32) * 0.05) for k, s in shapes.items()
    }


def compile_step(fn, *args):
    """AOT-compile once; returns (compiled, temp bytes or None, compile seconds)."""
    start = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    seconds = time.perf_counter() - start
    try:
        analysis = compiled.memory_analysis()
        temp = None if analysis is None else int(analysis.temp_size_in_bytes)
    except (AttributeError, NotImplementedError, RuntimeError):  # backend dependent
        temp = None
    return compiled, temp, seconds


def time_step(compiled, args, repeats: int) -> float:
    return median_seconds(compiled, *args, repeats=repeats, warmup=1)


def _mib(nbytes) -> str:
    return "n/a" if nbytes is None else f"{nbytes / 2**20:.2f}"


def bench_one(name, shapes, theta, repeats):
    params = make_tree(shapes)
    grads = make_tree(shapes, seed=1)
    loss = jnp.float32(1.0)
    n_params = sum(math.prod(s) for s in shapes.values())
    param_bytes = 4 * n_params

    adam = optax.adam(1e-3)
    adam_args = (grads, adam.init(params), params)
    adam_step, m_adam, _ = compile_step(adam.update, *adam_args)

    opt = velo.velo(theta, 1000)
    velo_args = (grads, opt.init(params), params, loss)
    velo_step, m_velo, compile_s = compile_step(
        lambda g, s, p, loss_value: opt.update(g, s, p, loss=loss_value), *velo_args
    )
    t_adam = time_step(adam_step, adam_args, repeats)
    t_velo = time_step(velo_step, velo_args, repeats)

    def ratio(a, b):
        return float("nan") if a is None or b in (None, 0) else a / b

    print(
        f"{name:24s} {n_params / 1e6:7.2f}M {len(shapes):4d} "
        f"{t_adam * 1e3:9.2f} {t_velo * 1e3:9.2f} {t_velo / t_adam:6.2f}x "
        f"{ratio(m_adam, param_bytes):8.2f} {ratio(m_velo, param_bytes):8.2f} "
        f"{_mib(m_adam):>9s} {_mib(m_velo):>9s} {compile_s:7.1f}",
        flush=True,
    )
    return t_velo / t_adam, ratio(m_velo, param_bytes)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small trees, < 1 minute")
    parser.add_argument("--theta", default=None, help="theta file (default: golden meta-init)")
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args(argv)
    # default: the golden random meta-init; else $VELO_CHECKPOINT / the cache (real weights)
    theta_path = args.theta or (DEFAULT_THETA if DEFAULT_THETA.is_file() else None)
    theta = velo.load_theta(theta_path)
    repeats = args.repeats or (3 if args.quick else 10)
    print(
        f"backend={jax.default_backend()} devices={jax.devices()} theta={theta_path or velo.resolve_checkpoint()}"
    )
    print(
        f"{'tree':24s} {'params':>8s} {'#t':>4s} {'adam ms':>9s} {'velo ms':>9s} {'ratio':>7s} "
        f"{'adam tmp/P':>8s} {'velo tmp/P':>8s} {'adam MiB':>9s} {'velo MiB':>9s} {'velo compile s':>7s}"
    )
    for name, shapes in workloads(args.quick).items():
        bench_one(name, shapes, theta, repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
