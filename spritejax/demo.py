"""`spritejax demo --out DIR`: the first thing to run. CPU only, ~2.2 minutes on 2 cores, everything in one folder.

It generates the synthetic sprite game (with ground truth), trains the `demo` config's model on it, evaluates
on held-out frames (PSNR against the background-only baseline, the paper's §3.1 IoUs) and writes

  DIR/index.html                 open this: every figure and number below
  DIR/metrics.json               the full evaluation report (spritejax eval's format) + the demo's timings
  DIR/sprite_sheet.png, reconstructions.png, layers.png, segmentation.png, input_vs_reconstruction.gif
  DIR/model.mp4                  the model as NNR items (standalone ISOBMFF file, `spritejax import` reads it)
  DIR/game_with_model.mp4        the game's frames as H.264 with the model embedded as an NNPFC post-filter
  DIR/workdir/                   the training workdir (config.json, checkpoints/, metrics.jsonl, samples/)

The config is `spritejax/configs/demo.py` (what each setting buys is measured in docs/model.md). `--quick` is a
smoke run on a 16² canvas (used by the tests); its numbers mean nothing.
"""

from __future__ import annotations

import os
import time

from . import config
from .checkpoint import load_workdir
from .data import load_dataset
from .errors import UserError
from .evaluate import evaluate_model
from .export import demo_export
from .inference import eval_indices, hard_outputs
from .reports import write_json
from .train import train
from .viz import render_outputs, write_index_html

QUICK_OVERRIDES = (
    "canvas=(16, 16)",
    "data.num_frames=12",
    "data.holdout=0.25",
    "data.synthetic={'sprite_size': 8, 'counts': {'player': 1, 'enemy': 1, 'block': 1}}",
    "train.batch_size=4",
    "train.num_steps=3",
    "optim.lr=1e-3",  # 3 steps at the demo's 2e-3 switch every anchor off: the smoke run would draw nothing
    "loss.finetune_steps=1",
    "train.log_every=1",
    "train.ckpt_every=3",
    "train.sample_every=0",
)
# The page's table: each figure with what it means, in the order shown ('{bg}' is the background-only PSNR).
SHOWN = {
    "psnr_hard": "reconstruction PSNR in dB, hard mode (one whole sprite per active anchor, as the sprite sheet "
                 "shows it); higher is better; the background alone gives {bg} dB",
    "psnr_soft": "reconstruction PSNR in dB, soft mode (score-weighted blends of sprites, as in training); higher "
                 "is better; the background alone gives {bg} dB",
    "psnr_background_only": "PSNR in dB of the background alone: the baseline any sprite must beat",
    "psnr_hard_transform_soft": "hard-mode PSNR in dB with offsets found for the soft sprite (the default)",
    "psnr_hard_transform_hard": "hard-mode PSNR in dB with offsets found for the hard sprite",
    "iou_multiclass": "how well each dictionary sprite's pixels match one object class (0 to 1, higher is "
                      "better; mean over classes)",
    "iou_binary": "overlap of the pixels drawn by sprites with the objects' pixels (0 to 1, higher is better)",
    "iou_per_class": "the multiclass IoU of each object class",
    "sprites_used": "dictionary entries that some active anchor draws",
    "active_anchors_per_frame": "anchors drawing a sprite, per frame",
    "visible_objects_per_frame": "objects the frames really show, per frame (what active anchors should match)",
    "num_frames": "frames the figures are measured on",
    "eval_split": "which frames those are ('test': held out from training)",
    "paper_figure6": "the paper's figures for comparison (a 128x128 model trained 200,000 steps on a GPU)",
}


def demo_config(steps: int | None = None, quick: bool = False):
    """The `demo` config (QUICK_OVERRIDES on top for --quick); steps overrides."""
    overrides = QUICK_OVERRIDES if quick else ()
    if steps is not None:
        overrides += (f"train.num_steps={steps}", f"loss.finetune_steps={max(1, steps // 10)}",
                      f"train.ckpt_every={steps}")
    return config.load("demo", overrides)


def _check_workdir(workdir: str, cfg) -> None:
    """A rerun into the same --out resumes; a different config there would not fit its checkpoints."""
    path = os.path.join(workdir, "config.json")
    if os.path.exists(path) and open(path).read() != config.to_json(config.resolved(cfg)):
        raise UserError(f"{workdir} holds a run with another config; choose a new --out or delete that folder")


def make_demo(out_dir: str, steps: int | None = None, quick: bool = False, progress: bool = True) -> dict:
    """Generate, train, evaluate, draw; returns the report written to out_dir/metrics.json."""
    start, cpu_start = time.perf_counter(), time.process_time()
    cfg = demo_config(steps, quick)
    workdir = os.path.join(out_dir, "workdir")
    _check_workdir(workdir, cfg)
    os.makedirs(out_dir, exist_ok=True)
    dataset = load_dataset(cfg.data, cfg.canvas)
    print(f"spritejax demo: synthetic game, {dataset.num_frames} frames of {cfg.canvas[0]}x{cfg.canvas[1]}; "
          f"training the demo model for {cfg.train.num_steps} steps into {workdir}", flush=True)
    train(cfg, workdir, progress=progress, dataset=dataset)
    trained = time.perf_counter()

    cfg, model, params = load_workdir(workdir)  # the config as the workdir recorded it
    batch_size = 16
    hard = hard_outputs(model, params, dataset, eval_indices(dataset)[0], batch_size, int(cfg.train.seed),
                        keep_layers=6)
    report = evaluate_model(model, params, dataset, batch_size, int(cfg.train.seed), hard_main=hard)
    figures = render_outputs(model, params, dataset, out_dir, hard=hard, batch_size=batch_size,
                             seed=int(cfg.train.seed))
    figures += demo_export(cfg, model, params, dataset, out_dir)
    report["demo"] = {"config": "demo", "overrides": list(QUICK_OVERRIDES if quick else ()),
                      "train_steps": int(cfg.train.num_steps), "quick": quick,
                      "train_seconds": round(trained - start, 1),
                      "wall_seconds": round(time.perf_counter() - start, 1),
                      "cpu_seconds": round(time.process_time() - cpu_start, 1)}
    write_json(os.path.join(out_dir, "metrics.json"), report)
    gain = report["psnr_hard"] - report["psnr_background_only"]
    notes = [f"MarioNette model ({model.num_sprites} sprites of {model.geom.k}x{model.geom.k}, "
             f"{model.geom.layers} layers) trained {cfg.train.num_steps} steps on {len(dataset.train_idx)} frames of "
             f"the synthetic game; figures on the {report['eval_split']} frames. Hard-mode PSNR is {gain:+.2f} dB "
             f"over the background-only baseline. Wall time {report['demo']['wall_seconds']} s.",
             "The paper's numbers (paper_figure6) come from a 128x128 model trained for 200k steps on a GPU."]
    meanings = {k: v.format(bg=f"{report['psnr_background_only']:.2f}") for k, v in SHOWN.items()}
    meanings["demo"] = "how the demo ran (steps, seconds)"
    write_index_html(os.path.join(out_dir, "index.html"), "spritejax demo", figures,
                     {k: report[k] for k in SHOWN if k in report} | {"demo": report["demo"]}, notes, meanings)
    return report
