"""Frames/s of the full data-parallel train step and of a hard-mode forward, per convolution implementation.

The headline is like for like and raw: the train step against the reference PyTorch code's train step, and the
hard forward over *every* anchor (skip_inactive off) against the reference's hard forward, which ran every anchor.
The reference figures are constants measured on another day on a 2-core CPU (0.36 frames/s train, 1.2 frames/s
hard forward; that CPU did ~150 GFLOP/s in a 2048² matmul and ~85 in an XLA forward conv), not in this run, so
the raw ratios carry that machine's difference too. `*_normalised` ratios divide out this run's speed on those
two operations (× 150 / this machine's matmul GFLOP/s for the train step, × 85 / its conv GFLOP/s for the
forward); they are estimates, not measurements. docs/training.md gives the one same-run side-by-side there is.

Skipping inactive anchors at test time (model.skip_inactive) is reported separately, as its in-run ratio to the
all-anchor forward: with the init parameters' own switches, with the scene's activity (one anchor per visible
object of the synthetic game: the cell holding its centroid, a second object in a cell on the next layer), and,
with `--switches-from WORKDIR`, with a trained model's own hard switches on its held-out frames (a workdir of
the same anchor grid: the README demo's 64²/k=16 model has the default size's 2×8×8 anchors).

Default size (the paper's): batch 8, 128² frames, ℓ=2, 8×8 anchors, k=32, m=150, d=128. Variants, compiled and
timed in the same run: conv_impl 'xla' (lax.conv_general_dilated) and 'matmul' (shifted slices + one matmul), and
'matmul_unchunked' (the predictor on all anchors in one call, no rematerialised chunks): the in-run baselines.
FLOPs come from XLA's cost analysis of the unchunked 'xla' step; GFLOP/s = that count × frames/s. Every figure,
the machine's two rates included, is timed in the same round-robin rounds (one run of each per round), so a
machine whose speed drifts during the run slows all of them alike. Prints one JSON line.

    python benchmarks/train_step.py [--quick] [--repeats N] [--variants xla matmul matmul_unchunked]
                                    [--switches-from WORKDIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import time

import jax
import numpy as np
from timing import interleaved_medians

from spritejax import config, inference, render, train, train_state
from spritejax.data import load_dataset
from spritejax.model import SpriteModel

REFERENCE_TRAIN_FPS = 0.36  # PyTorch reference implementation, 2-core CPU, default config
REFERENCE_HARD_FORWARD_FPS = 1.2
REFERENCE_MACHINE_GFLOP_PER_S = {"matmul_2048": 150.0, "conv_fwd": 85.0}  # that CPU on machine_ops()


def compiled_flops(compiled) -> float | None:
    analysis = compiled.cost_analysis()
    if isinstance(analysis, (list, tuple)):  # older jax: one dict per program
        analysis = analysis[0] if analysis else {}
    flops = (analysis or {}).get("flops")
    return float(flops) if flops and flops > 0 else None


def scene_switches(instance_ids_bhw, geom) -> np.ndarray:
    """switches_blhw with one anchor on per visible object: the cell holding its centroid, first free layer."""
    b = instance_ids_bhw.shape[0]
    switches = np.zeros((b, geom.layers, geom.grid_h, geom.grid_w), np.float32)
    for f in range(b):
        for obj in np.unique(instance_ids_bhw[f])[1:]:
            rows, cols = np.nonzero(instance_ids_bhw[f] == obj)
            i, j = int(rows.mean()) // geom.cell, int(cols.mean()) // geom.cell
            free = np.flatnonzero(switches[f, :, i, j] == 0)
            if len(free):
                switches[f, free[0], i, j] = 1.0
    return switches


def lowered_step(cfg, frames_bhw3, abstract: bool = False):
    """(model, state, lowered train step, its arguments) for one batch; abstract: shapes only, no init run."""
    model, batch = SpriteModel.from_config(cfg), cfg.train.batch_size
    mesh = train.data_mesh(batch)
    init = train_state.jit_init(model, train_state.optim_args(cfg), jax.NamedSharding(mesh, jax.P()))
    state = (jax.eval_shape if abstract else lambda f, *a: f(*a))(init, np.int32(0), frames_bhw3)
    frames, ids = train.global_batch(mesh, frames_bhw3, np.arange(batch), batch)
    args = (frames, ids, np.int32(0), np.float32(cfg.loss.lambda_beta), np.float32(0.0))
    return model, state, train.make_train_step(model, cfg, mesh).lower(state, *args), args


def prepare(cfg, frames_bhw3, switch_sets: dict) -> tuple[dict, dict]:
    """Compiled train step and hard forwards of one config, ready to time: ({figure: blocking callable}, facts).

    The forwards use the initial parameters (a copy: the train step donates its state)."""
    batch = cfg.train.batch_size
    model, state, lowered, args = lowered_step(cfg, frames_bhw3)
    compile_start = time.perf_counter()
    compiled = lowered.compile()
    facts = {"compile_s": time.perf_counter() - compile_start}
    params = jax.tree.map(jax.numpy.copy, state["params"])
    holder = {"state": state}

    def train_step():
        holder["state"], metrics = compiled(holder["state"], *args)
        jax.block_until_ready(metrics)

    fns = {"train": train_step}
    keys_b = inference.frame_keys(0, 0, jax.numpy.arange(batch, dtype=jax.numpy.int32))
    all_anchors = dataclasses.replace(model, skip_inactive=False)
    for name, fwd_model, switches in (("all_anchors", all_anchors, None), ("init_switches", model, None),
                                      *((name, model, s) for name, s in switch_sets.items())):
        forward = jax.jit(lambda p, f, k, s, m=fwd_model: m.render_from(p, f, k, switches_blhw=s))
        fns[f"hard_forward_{name}"] = lambda fwd=forward, s=switches: jax.block_until_ready(
            fwd(params, frames_bhw3, keys_b, s))
        if name == "init_switches":
            active = np.asarray(fns[f"hard_forward_{name}"]().switches_blhw) > 0.5
            facts["init_switches_active_per_frame"] = float(active.sum() / batch)
    return fns, facts


def measure(variant_cfgs: dict, frames_bhw3, switch_sets: dict, repeats: int) -> tuple[dict, dict]:
    """Frames/s of every variant's train step and hard forwards, and the machine's GFLOP/s, all timed in the same
    rounds (timing.interleaved_medians) -> ({variant: row}, machine_gflop_per_s)."""
    fns, rows = {}, {}
    for variant, cfg in variant_cfgs.items():
        variant_fns, rows[variant] = prepare(cfg, frames_bhw3, switch_sets)
        fns.update({(variant, figure): fn for figure, fn in variant_fns.items()})
    machine_fns, machine_flops = machine_ops()
    fns.update({("machine", name): fn for name, fn in machine_fns.items()})
    seconds = interleaved_medians(fns, repeats)
    for (variant, figure), s in seconds.items():
        if variant != "machine":
            batch = variant_cfgs[variant].train.batch_size
            rows[variant][f"{figure}_frames_per_s"] = batch / s
            if figure == "train":
                rows[variant]["train_step_s"] = s
    machine = {name: machine_flops[name] / seconds[("machine", name)] / 1e9 for name in machine_fns}
    return rows, machine


def trained_switches(workdir: str, geom, batch: int) -> np.ndarray:
    """A trained model's hard switches_blhw on its first `batch` held-out frames; its anchor grid must be geom's."""
    from spritejax.checkpoint import load_workdir
    from spritejax.data import load_dataset
    from spritejax.inference import eval_indices, predict

    cfg, model, params = load_workdir(pathlib.Path(workdir))
    dataset = load_dataset(cfg.data, cfg.canvas)
    indices = np.resize(eval_indices(dataset)[0], batch)
    switches = predict(model, params, dataset.frames_nhw3, indices, "hard", ("switches_blhw",))["switches_blhw"]
    want = (batch, geom.layers, geom.grid_h, geom.grid_w)
    if switches.shape != want:
        raise SystemExit(f"--switches-from {workdir}: its anchor grid gives {switches.shape[1:]}, "
                         f"this size needs {want[1:]}")
    return (switches > 0.5).astype(np.float32)


def step_gflop_per_frame(name: str, frames_bhw3) -> float | None:
    """XLA's FLOP count of the train step with convolutions as convolutions and the predictor in one call (its
    count of a loop body is not multiplied by the trip count; the matmul form's count includes im2col copies)."""
    cfg = config.load(name, ["model.conv_impl='xla'", "model.predictor_chunk=None"])
    flops = compiled_flops(lowered_step(cfg, frames_bhw3, abstract=True)[2].compile())
    return None if flops is None else flops / cfg.train.batch_size / 1e9


def machine_ops() -> tuple[dict, dict]:
    """This CPU's two operations the reference figures were quoted with (~150 and ~85 GFLOP/s there): a 2048²
    matmul and one 3×3 128→128 stride-2 XLA convolution over 256 32² crops -> ({name: blocking callable},
    {name: FLOPs})."""
    a = jax.random.normal(jax.random.key(0), (2048, 2048))
    x = jax.random.normal(jax.random.key(1), (256, 32, 32, 128))
    w = jax.random.normal(jax.random.key(2), (3, 3, 128, 128))
    matmul = jax.jit(lambda a: a @ a)
    conv = jax.jit(lambda x, w: jax.lax.conv_general_dilated(x, w, (2, 2), ((1, 1), (1, 1)),
                                                             dimension_numbers=("NHWC", "HWIO", "NHWC")))
    runs = 5  # per round: each takes ~0.1 s, a train step ~10 s

    def repeated(op, *operands):
        def run():
            for _ in range(runs):
                op(*operands).block_until_ready()
        return run

    fns = {"matmul_2048": repeated(matmul, a), "conv_fwd": repeated(conv, x, w)}
    return fns, {"matmul_2048": runs * 2 * 2048 ** 3, "conv_fwd": runs * 256 * 16 * 16 * 9 * 128 * 128 * 2}


VARIANTS = {  # name -> config overrides; 'unchunked' is the in-run baseline for the predictor's anchor chunks
    "xla": ["model.conv_impl='xla'"],
    "matmul": ["model.conv_impl='matmul'"],
    "matmul_unchunked": ["model.conv_impl='matmul'", "model.predictor_chunk=None"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (canvas 32, k=8): a smoke run")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per figure (median)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--switches-from", default=None, metavar="WORKDIR",
                        help="also time the hard forward with this trained model's own switches (same anchor grid)")
    args = parser.parse_args()
    repeats = args.repeats or (5 if args.quick else 3)
    name = "tiny" if args.quick else "synthetic"

    base = config.load(name)
    dataset = load_dataset(config.load(name, ["data.num_frames=64", "data.holdout=0.0"]).data, base.canvas)
    batch = base.train.batch_size
    frames_bhw3 = dataset.frames_nhw3[:batch]
    geom = render.Geometry.from_config(base)
    switch_sets = {"scene": scene_switches(dataset.instance_ids_nhw[:batch], geom)}
    if args.switches_from:
        switch_sets["trained"] = trained_switches(args.switches_from, geom, batch)

    rows, machine = measure({v: config.load(name, VARIANTS[v]) for v in args.variants}, frames_bhw3, switch_sets,
                            repeats)
    per_frame = step_gflop_per_frame(name, frames_bhw3)
    for row in rows.values():
        if per_frame is not None:
            row["train_gflop_per_s"] = per_frame * row["train_frames_per_s"]
    best_train = max(rows, key=lambda v: rows[v]["train_frames_per_s"])
    best_forward = max(rows, key=lambda v: rows[v]["hard_forward_all_anchors_frames_per_s"])
    forward = rows[best_forward]
    result = {"benchmark": "train_step", "quick": args.quick}
    if not args.quick:  # the reference figures are for the default size only
        result["train_speedup_raw_vs_reference"] = rows[best_train]["train_frames_per_s"] / REFERENCE_TRAIN_FPS
        result["hard_forward_all_anchors_speedup_raw_vs_reference"] = (
            forward["hard_forward_all_anchors_frames_per_s"] / REFERENCE_HARD_FORWARD_FPS)
    result.update({
        "train_frames_per_s": rows[best_train]["train_frames_per_s"],
        "train_variant": best_train,
        "hard_forward_all_anchors_frames_per_s": forward["hard_forward_all_anchors_frames_per_s"],
        "hard_forward_variant": best_forward,
        # test-time skipping, separately: the forward with fewer active anchors over the all-anchor forward
        **{f"hard_forward_skip_{s}_vs_all_anchors": (forward[f"hard_forward_{s}_frames_per_s"]
                                                     / forward["hard_forward_all_anchors_frames_per_s"])
           for s in switch_sets},
        **{f"{s}_active_per_frame": float(switches.sum() / batch) for s, switches in switch_sets.items()},
        "config": {"batch": batch, "canvas": list(base.canvas), "layers": base.model.layers,
                   "k": base.model.k, "num_sprites": base.model.num_sprites, "latent_dim": base.model.latent_dim},
        "backend": jax.default_backend(),
        "devices": jax.device_count(),
        "repeats": repeats,
        "train_gflop_per_frame": per_frame,
        "train_gflop_per_s": rows[best_train].get("train_gflop_per_s"),
        "per_variant": rows,
        "machine_gflop_per_s": machine,
        "reference_pytorch_cpu": {"train_frames_per_s": REFERENCE_TRAIN_FPS,
                                  "hard_forward_all_anchors_frames_per_s": REFERENCE_HARD_FORWARD_FPS,
                                  "machine_gflop_per_s": REFERENCE_MACHINE_GFLOP_PER_S,
                                  "note": "constants from another day and machine, not timed in this run"},
    })
    if not args.quick:
        # estimates, not measurements: the raw ratios × (the reference CPU's rate / this run's rate) on the
        # operation each figure is mostly made of (train: 2048² matmul; the reference's forward: convs)
        for figure, op in (("train", "matmul_2048"), ("hard_forward_all_anchors", "conv_fwd")):
            result[f"{figure}_speedup_normalised_by_{op}"] = (
                result[f"{figure}_speedup_raw_vs_reference"] * REFERENCE_MACHINE_GFLOP_PER_S[op] / machine[op])
    for a, b in (("matmul", "xla"), ("matmul", "matmul_unchunked")):
        if a in rows and b in rows:
            result[f"{a}_vs_{b}_train"] = rows[a]["train_frames_per_s"] / rows[b]["train_frames_per_s"]
            result[f"{a}_vs_{b}_hard_forward_all_anchors"] = (rows[a]["hard_forward_all_anchors_frames_per_s"]
                                                              / rows[b]["hard_forward_all_anchors_frames_per_s"])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
