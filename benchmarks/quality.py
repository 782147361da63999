"""Learning quality on a fixed budget: train a config for N steps per seed, evaluate on its held-out frames.

Prints one JSON line: per seed and as mean/min/max over seeds, the held-out PSNR soft / hard, the background-only
PSNR, binary and multiclass IoU, active anchors per frame against the visible objects, dictionary entries used,
the sharpness of the decomposition (top score of active anchors: median and fraction ≥ 0.9; switches within 0.1
of 0 or 1), the first logged step whose training PSNR reached 25 / 30 dB, wall seconds and training frames/s.

  python benchmarks/quality.py --config demo                       # the README demo's config, seed 0
  python benchmarks/quality.py --config tiny --steps 200 --seeds 0 1 2 --set model.num_sprites=16
  python benchmarks/quality.py --quick                             # a seconds-long run for the test suite

`--config` is a config name (`demo` is the README demo's) or path, as spritejax.config.load takes it; `--set`
overrides apply on top, `--steps` last.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import tempfile
import time

import numpy as np

QUICK = ("canvas=(16, 16)", "data.num_frames=24", "data.holdout=0.25",
         "data.synthetic={'sprite_size': 4, 'counts': {'player': 1, 'enemy': 1, 'block': 1}}",
         "train.batch_size=4", "train.log_every=5")


def load_config(name: str, overrides, steps: int | None, seed: int):
    from spritejax import config

    cfg = config.load(name)
    for item in overrides:
        config.apply_override(cfg, item)
    if steps is not None:
        config.apply_override(cfg, f"train.num_steps={steps}")
    for item in (f"train.seed={seed}", "train.sample_every=0", f"train.ckpt_every={cfg.train.num_steps}"):
        config.apply_override(cfg, item)
    return cfg


def sharpness(model, params, dataset, indices, seed: int) -> dict:
    """How binary the soft decomposition is on the held-out frames: hard mode shows it only when it is."""
    from spritejax.inference import predict

    out = predict(model, params, dataset.frames_nhw3, indices, "soft", ("scores_blhwm", "switches_blhw"), seed=seed)
    switches = out["switches_blhw"].reshape(-1)
    top = out["scores_blhwm"].max(axis=-1).reshape(-1)[switches > 0.5]
    return {"top_score_median_active": float(np.median(top)) if top.size else None,
            "top_score_ge_0.9_active": float(np.mean(top >= 0.9)) if top.size else None,
            "switches_binary": float(np.mean(np.minimum(switches, 1 - switches) <= 0.1))}


def steps_to(rows: list[dict], db: float) -> int | None:
    return next((r["step"] for r in rows if r.get("psnr", -1.0) >= db), None)


def run_seed(name: str, overrides, steps, seed: int, workdir: pathlib.Path) -> dict:
    from spritejax.checkpoint import load_workdir
    from spritejax.data import load_dataset
    from spritejax.evaluate import evaluate_model
    from spritejax.inference import eval_indices
    from spritejax.model import SpriteModel
    from spritejax.train import train

    cfg = load_config(name, overrides, steps, seed)
    dataset = load_dataset(cfg.data, cfg.canvas)
    start = time.perf_counter()
    result = train(cfg, workdir, progress=False, dataset=dataset)
    train_seconds = time.perf_counter() - start
    _, model, params = load_workdir(workdir)
    report = evaluate_model(model, params, dataset, 16, seed)
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    keys = ("psnr_soft", "psnr_hard", "psnr_background_only", "iou_binary", "iou_multiclass",
            "active_anchors_per_frame", "visible_objects_per_frame", "sprites_used")
    return {"seed": seed, **{k: report.get(k) for k in keys},
            **sharpness(model, params, dataset, eval_indices(dataset)[0], seed),
            "train_psnr_final": result.get("psnr"), "steps_to_25db": steps_to(rows, 25.0),
            "steps_to_30db": steps_to(rows, 30.0), "train_seconds": round(train_seconds, 1),
            "frames_per_s": result.get("frames_per_s"), "num_sprites": SpriteModel.from_config(cfg).num_sprites}


def summarise(runs: list[dict]) -> dict:
    out = {}
    for key in ("psnr_hard", "psnr_soft", "psnr_background_only", "iou_binary", "iou_multiclass",
                "top_score_ge_0.9_active", "switches_binary", "sprites_used", "active_anchors_per_frame"):
        vals = [r[key] for r in runs if isinstance(r.get(key), (int, float))]
        if vals:
            out[key] = {"mean": float(np.mean(vals)), "min": float(np.min(vals)), "max": float(np.max(vals))}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="demo", help="'demo', a config name or a .py path")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: the config's)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--quick", action="store_true", help="16² canvas, 20 steps: a smoke run")
    parser.add_argument("--label", default=None, help="a name for this variant, echoed in the JSON")
    parser.add_argument("--keep", default=None, help="keep the training workdirs under this folder")
    args = parser.parse_args(argv)
    overrides = list(QUICK) + args.overrides if args.quick else args.overrides
    steps = 20 if args.quick and args.steps is None else args.steps
    start = time.perf_counter()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            workdir = pathlib.Path(args.keep or tmp) / f"seed{seed}"
            runs.append(run_seed(args.config, overrides, steps, seed, workdir))
    line = {"benchmark": "quality", "label": args.label, "config": args.config, "overrides": overrides,
            "steps": steps, "seeds": args.seeds, "summary": summarise(runs), "runs": runs,
            "wall_seconds": round(time.perf_counter() - start, 1)}
    print(json.dumps(line))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    sys.exit(main())
