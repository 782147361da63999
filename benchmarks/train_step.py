"""Frames/s of the full data-parallel train step and of a hard-mode forward, per convolution implementation.

Default size (the paper's): batch 8, 128² frames, ℓ=2, 8×8 anchors, k=32, m=150, d=128. Each conv_impl the
model offers ('xla': lax.conv_general_dilated, 'matmul': shifted slices + one matmul) is compiled and timed in
the same run, so the 'xla' row is the in-run baseline for 'matmul'. FLOPs come from XLA's cost analysis of the
compiled 'xla' step (convolutions and matmuls dominate); GFLOP/s = that count × frames/s of each impl. The external reference
is the original PyTorch code on the 2-core CPU this project was measured on: 0.36 frames/s per train step,
1.2 frames/s hard forward. Prints one JSON line.

    python benchmarks/train_step.py [--quick] [--repeats N] [--impls xla matmul]
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import numpy as np

from spritejax import configs, train
from spritejax.data import load_dataset
from spritejax.model import SpriteModel
from timing import median_seconds

REFERENCE_TRAIN_FPS = 0.36  # PyTorch reference implementation, 2-core CPU, default config
REFERENCE_HARD_FORWARD_FPS = 1.2


def compiled_flops(compiled) -> float | None:
    analysis = compiled.cost_analysis()
    if isinstance(analysis, (list, tuple)):  # older jax: one dict per program
        analysis = analysis[0] if analysis else {}
    flops = (analysis or {}).get("flops")
    return float(flops) if flops and flops > 0 else None


def measure(cfg, frames_bhw3, repeats: int) -> dict:
    """Train-step and hard-forward throughput of one config."""
    model = SpriteModel.from_config(cfg)
    batch = cfg.train.batch_size
    mesh = train.data_mesh(batch)
    replicated = jax.NamedSharding(mesh, jax.P())
    state = train._jit_init(model, train._optim_args(cfg), replicated)(np.int32(0), frames_bhw3)
    ids_b = np.arange(batch)
    frames, ids = train.global_batch(mesh, frames_bhw3, ids_b, batch)
    step = train.make_train_step(model, cfg, mesh)
    args = (np.int32(0), np.float32(cfg.loss.lambda_beta))

    compile_start = time.perf_counter()
    compiled = step.lower(state, frames, ids, *args).compile()
    compile_s = time.perf_counter() - compile_start
    flops = compiled_flops(compiled)
    holder = {"state": state}

    def one_step():
        holder["state"], metrics = compiled(holder["state"], frames, ids, *args)
        jax.block_until_ready(metrics)

    step_s = median_seconds(one_step, repeats, warmup=True)

    keys_b = train.frame_keys(0, 0, jax.numpy.asarray(ids_b, jax.numpy.int32))
    forward = jax.jit(lambda p, f, k: model.apply(p, f, k, mode="hard").recon_bhw3)
    params = holder["state"]["params"]
    forward_s = median_seconds(lambda: forward(params, frames_bhw3, keys_b).block_until_ready(), repeats, warmup=True)
    row = {
        "train_frames_per_s": batch / step_s,
        "train_step_s": step_s,
        "hard_forward_frames_per_s": batch / forward_s,
        "compile_s": compile_s,
    }
    if flops is not None:
        row["xla_counted_gflop_per_frame"] = flops / batch / 1e9
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (canvas 32, k=8): a smoke run")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per figure (median)")
    parser.add_argument("--impls", nargs="+", default=["xla", "matmul"], choices=["xla", "matmul", "auto"])
    args = parser.parse_args()
    repeats = args.repeats or (5 if args.quick else 1)

    base = configs.load("tiny" if args.quick else "synthetic")
    data_cfg = configs.load("tiny" if args.quick else "synthetic", ["data.num_frames=64", "data.holdout=0.0"])
    dataset = load_dataset(data_cfg.data, base.canvas)
    frames_bhw3 = dataset.frames_nhw3[: base.train.batch_size]

    rows = {}
    for impl in args.impls:
        cfg = configs.load("tiny" if args.quick else "synthetic", [f"model.conv_impl='{impl}'"])
        rows[impl] = measure(cfg, frames_bhw3, repeats)
    # One FLOP count for every impl: XLA's count of the 'xla' program (convolutions as convolutions; the
    # matmul form's count includes its im2col copies).
    per_frame = (rows.get("xla") or next(iter(rows.values()))).get("xla_counted_gflop_per_frame")
    for row in rows.values():
        if per_frame is not None:
            row["train_gflop_per_s"] = per_frame * row["train_frames_per_s"]
    best_train = max(rows, key=lambda i: rows[i]["train_frames_per_s"])
    best_forward = max(rows, key=lambda i: rows[i]["hard_forward_frames_per_s"])
    result = {
        "benchmark": "train_step",
        "quick": args.quick,
        "config": {"batch": base.train.batch_size, "canvas": list(base.canvas), "layers": base.model.layers,
                   "k": base.model.k, "num_sprites": base.model.num_sprites, "latent_dim": base.model.latent_dim},
        "backend": jax.default_backend(),
        "devices": jax.device_count(),
        "repeats": repeats,
        "train_frames_per_s": rows[best_train]["train_frames_per_s"],
        "train_conv_impl": best_train,
        "train_gflop_per_frame": per_frame,
        "train_gflop_per_s": rows[best_train].get("train_gflop_per_s"),
        "hard_forward_frames_per_s": rows[best_forward]["hard_forward_frames_per_s"],
        "hard_forward_conv_impl": best_forward,
        "per_conv_impl": rows,
        "reference_pytorch_cpu": {"train_frames_per_s": REFERENCE_TRAIN_FPS,
                                  "hard_forward_frames_per_s": REFERENCE_HARD_FORWARD_FPS},
    }
    if not args.quick:  # the reference figures are for the default size only
        result["train_speedup_vs_reference"] = result["train_frames_per_s"] / REFERENCE_TRAIN_FPS
        result["hard_forward_speedup_vs_reference"] = (result["hard_forward_frames_per_s"]
                                                       / REFERENCE_HARD_FORWARD_FPS)
    if "xla" in rows and "matmul" in rows:
        result["matmul_vs_xla_train"] = rows["matmul"]["train_frames_per_s"] / rows["xla"]["train_frames_per_s"]
        result["matmul_vs_xla_hard_forward"] = (rows["matmul"]["hard_forward_frames_per_s"]
                                                / rows["xla"]["hard_forward_frames_per_s"])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
