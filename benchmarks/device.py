"""The accelerator benchmark: one call that measures what a GPU/TPU run needs to know, and prints one JSON line.

Figures, each per precision — float32, TF32 (jax.default_matmul_precision('tensorfloat32')) and bfloat16 compute
(`model.compute_dtype`, float32 parameters):
- composite: frames/s of the rendering path alone (selection + translation + compositing) at 128², ℓ=2,
  8×8 anchors, k=32, m=150, soft and hard, batch sizes 64 to 4,096 (stopping at the first that does not fit);
- train_step: frames/s of the full train step at the default (paper) config, XLA's FLOP count, achieved TFLOP/s
  and the fraction of the chip's peak for that precision (PEAK_TFLOPS, dense, from the vendor's data sheet);
- hard_forward: frames/s of the hard-mode forward at the same config;
- peak device memory after each section (where the backend reports it);
- correctness: the reconstruction of the same parameters and frames against a float32 CPU reference (max abs
  error, PSNR), and a 200-step loss curve of bfloat16 against float32 (largest relative gap).

It is resumable figure by figure: every finished figure is written to `--out` (JSON) at once, and a rerun with
the same `--out` skips what is there, so a run cut short by a time limit loses only the figure in progress.
`--quick` shrinks every size so that the whole script runs on a 2-core CPU in ~3 minutes (the test suite runs
two of its figures); on a GPU the full sizes are meant to take ~5 minutes (not yet measured: no device lent).

    python benchmarks/device.py --out results/device.json [--quick] [--budget-s 280] [--figures NAME ...]
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import shutil
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # the tree this script is in, uninstalled

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from timing import median_seconds  # noqa: E402
from train_step import compiled_flops, lowered_step  # noqa: E402

from spritejax import config, inference, render, train  # noqa: E402
from spritejax.data import load_dataset  # noqa: E402
from spritejax.metrics import psnr  # noqa: E402
from spritejax.model import SpriteModel  # noqa: E402

PRECISIONS = ("float32", "tf32", "bfloat16")
# Dense TFLOP/s by device kind and precision (NVIDIA data sheets; the sparse figures are twice these).
PEAK_TFLOPS = {"H200": {"float32": 67.0, "tf32": 494.7, "bfloat16": 989.4},
               "H100": {"float32": 67.0, "tf32": 494.7, "bfloat16": 989.4},
               "A100": {"float32": 19.5, "tf32": 156.0, "bfloat16": 312.0}}


def peak_for(precision: str) -> float | None:
    kind = jax.devices()[0].device_kind
    return next((table[precision] for name, table in PEAK_TFLOPS.items() if name in kind), None)


def matmul_precision(precision: str):
    """TF32 lets XLA round matmul/conv inputs to TF32; the other two run at float32 matmul precision (bfloat16
    compute casts the inputs itself)."""
    return jax.default_matmul_precision("tensorfloat32" if precision == "tf32" else "float32")


def model_overrides(precision: str) -> list[str]:
    return [f"model.compute_dtype={'bfloat16' if precision == 'bfloat16' else 'float32'}"]


def peak_memory_mb() -> float | None:
    stats = jax.devices()[0].memory_stats() or {}
    peak = stats.get("peak_bytes_in_use")
    return None if peak is None else peak / 2**20


# ----------------------------------------------------------------------------------------------- figures


def composite_figure(precision: str, batch_sizes, size: dict, repeats: int) -> dict:
    geom = render.Geometry(size["canvas"], size["canvas"], size["k"], 2)
    m, rows = size["m"], {}
    dtype = jnp.bfloat16 if precision == "bfloat16" else jnp.float32

    def path(hard):
        def run(scores, switches, sprites, offsets, background, keys):
            pick = render.select_hard if hard else render.select_soft
            selected = pick(scores, switches, sprites.astype(dtype)).astype(jnp.float32)
            placed = render.translate(selected, offsets)
            return render.composite(placed, background, render.random_ranks(keys, geom), geom).recon_bhw3
        return jax.jit(run)

    for batch in batch_sizes:
        rng = np.random.default_rng(batch)
        shape = (batch, geom.layers, geom.grid_h, geom.grid_w)
        args = (jax.nn.softmax(jnp.asarray(rng.normal(size=shape + (m,)), jnp.float32) * 4),
                jnp.asarray(rng.uniform(size=shape) > 0.7, jnp.float32),
                jnp.asarray(rng.uniform(size=(m, geom.k, geom.k, 4)), jnp.float32),
                jnp.asarray(rng.uniform(-4, 4, size=shape + (2,)), jnp.float32),
                jnp.full((batch, geom.canvas_h, geom.canvas_w, 3), 0.5, jnp.float32),
                jax.random.split(jax.random.key(batch), batch))
        try:
            with matmul_precision(precision):
                for mode in ("soft", "hard"):
                    fn = path(mode == "hard")
                    s = median_seconds(lambda: jax.block_until_ready(fn(*args)), repeats, warmup=True)
                    rows[f"{mode}_b{batch}_frames_per_s"] = batch / s
        except Exception as e:  # out of memory: the larger batches will not fit either
            rows[f"stopped_at_b{batch}"] = " ".join(str(e).split())[:200]
            break
    rows["peak_memory_mb"] = peak_memory_mb()
    return rows


def step_and_forward_figure(precision: str, size: dict, repeats: int) -> dict:
    cfg = config.load(size["config"], model_overrides(precision) + size["overrides"])
    dataset = load_dataset(cfg.data, cfg.canvas)
    batch = cfg.train.batch_size
    frames = dataset.frames_nhw3[:batch]
    with matmul_precision(precision):
        model, state, lowered, args = lowered_step(cfg, frames)
        compiled = lowered.compile()
        holder = {"state": state, "params": jax.tree.map(jnp.copy, state["params"])}

        def step():
            holder["state"], metrics = compiled(holder["state"], *args)
            jax.block_until_ready(metrics)

        step_s = median_seconds(step, repeats, warmup=True)
        forward = inference.forward(model, "hard", ("recon_bhw3",))
        keys = inference.frame_keys(0, inference.EVAL_STREAM, np.arange(batch))
        fwd_s = median_seconds(lambda: jax.block_until_ready(forward(holder["params"], frames, keys)), repeats,
                               warmup=True)
    flops = compiled_flops(compiled)
    peak = peak_for(precision)
    achieved = None if flops is None else flops / step_s / 1e12
    return {"config": size["config"], "batch": batch, "train_step_s": step_s, "train_frames_per_s": batch / step_s,
            "train_step_flops": flops, "achieved_tflop_per_s": achieved,
            "fraction_of_peak": None if achieved is None or peak is None else achieved / peak,
            "hard_forward_frames_per_s": batch / fwd_s, "peak_memory_mb": peak_memory_mb()}


def correctness_figure(precision: str, size: dict) -> dict:
    """The same parameters and frames rendered here and on the CPU in float32: the max error and PSNR."""
    cfg = config.load(size["config"], model_overrides(precision) + size["overrides"] + ["train.batch_size=2"])
    frames = load_dataset(cfg.data, cfg.canvas).frames_nhw3[:2]
    cpu = jax.devices("cpu")[0]
    reference_model = SpriteModel.from_config(config.load(size["config"], size["overrides"]))
    with jax.default_device(cpu):
        params = jax.device_get(reference_model.init(jax.random.key(0), jnp.asarray(frames)))
        keys = inference.frame_keys(0, inference.EVAL_STREAM, np.arange(2))
        reference = {m: np.asarray(reference_model.apply(params, frames, keys, m).recon_bhw3) for m in ("soft", "hard")}
    model = SpriteModel.from_config(cfg)
    out = {}
    with matmul_precision(precision):
        for mode, ref in reference.items():
            got = np.asarray(model.apply(jax.device_put(params), frames, jax.device_put(keys), mode).recon_bhw3)
            out[f"{mode}_max_abs_error"] = float(np.max(np.abs(got - ref)))
            out[f"{mode}_psnr_vs_cpu_float32"] = float(psnr(got, ref))
    return out


def loss_curve_figure(size: dict, steps: int) -> dict:
    """`steps` training steps of the same run in float32 and in bfloat16: the largest relative gap of the logged
    loss (the issue's bar: within 2 %)."""
    curves = {}
    for precision in ("float32", "bfloat16"):
        cfg = config.load(size["config"], model_overrides(precision) + size["overrides"] + [
            f"train.num_steps={steps}", f"train.log_every={max(1, steps // 20)}", "train.sample_every=0",
            f"train.ckpt_every={steps}", f"loss.finetune_steps={steps // 10}"])
        workdir = pathlib.Path(size["scratch"]) / f"curve_{precision}"
        if workdir.exists():
            shutil.rmtree(workdir)
        train.train(cfg, workdir, progress=False)
        rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
        curves[precision] = [r["loss"] for r in rows if "loss" in r]
    gaps = [abs(b - a) / abs(a) for a, b in zip(curves["float32"], curves["bfloat16"])]
    return {"steps": steps, "max_relative_gap": max(gaps), "final_relative_gap": gaps[-1],
            "float32_first_last": [curves["float32"][0], curves["float32"][-1]],
            "bfloat16_first_last": [curves["bfloat16"][0], curves["bfloat16"][-1]]}


# ------------------------------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="results JSON, rewritten after every figure (resumable)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: the whole script in ~1 min on a CPU")
    parser.add_argument("--budget-s", type=float, default=280.0, help="start no new figure after this many seconds")
    parser.add_argument("--figures", nargs="*", default=None, help="only these figures (default: all)")
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    results = json.loads(out.read_text()) if out.is_file() else {}
    if args.quick:
        size = {"canvas": 32, "k": 8, "m": 16, "config": "tiny", "overrides": ["data.num_frames=16"],
                "batches": (4, 8), "repeats": 2, "curve_steps": 20}
    else:
        size = {"canvas": 128, "k": 32, "m": 150, "config": "synthetic", "overrides": ["data.num_frames=64"],
                "batches": (64, 256, 1024, 4096), "repeats": 5, "curve_steps": 200}
    size["scratch"] = str(out.parent / "device_scratch")
    start = time.perf_counter()
    results["device"] = {"kind": jax.devices()[0].device_kind, "backend": jax.default_backend(),
                         "count": jax.device_count(), "jax": jax.__version__, "quick": args.quick}
    figures = [(f"composite_{p}", lambda p=p: composite_figure(p, size["batches"], size, size["repeats"]))
               for p in PRECISIONS]
    figures += [(f"train_step_{p}", lambda p=p: step_and_forward_figure(p, size, size["repeats"])) for p in PRECISIONS]
    figures += [(f"correctness_{p}", lambda p=p: correctness_figure(p, size)) for p in PRECISIONS]
    figures += [("bf16_loss_curve", lambda: loss_curve_figure(size, size["curve_steps"]))]
    for name, figure in figures:
        if name in results or (args.figures is not None and name not in args.figures):
            continue
        if time.perf_counter() - start > args.budget_s:
            results.setdefault("skipped_for_time", []).append(name)
            continue
        t0 = time.perf_counter()
        try:
            results[name] = {**figure(), "seconds": round(time.perf_counter() - t0, 1)}
        except Exception as e:  # one figure's failure (a backend without TF32, say) must not lose the others
            results[name] = {"error": " ".join(f"{type(e).__name__}: {e}".split())[:300]}
        out.write_text(json.dumps(results, indent=1, default=float))
        print(f"device.py: {name} done in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    results["wall_seconds"] = round(time.perf_counter() - start, 1)
    out.write_text(json.dumps(results, indent=1, default=float))
    print(json.dumps({"benchmark": "device", **finite(results)}))


def finite(x):
    """The results with ±inf / NaN (a PSNR of identical pictures) as null: strict JSON."""
    if isinstance(x, dict):
        return {k: finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [finite(v) for v in x]
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(x) else None
    return x


if __name__ == "__main__":
    main()
