"""A trained model's evaluation report (`spritejax eval`): reconstruction PSNR and the paper's §3.1 segmentation
IoUs, as JSON.

Figures, all over the held-out frames (the training frames when the split holds none out), or over another
folder / video, or chosen frame indices (eval_dataset):
- psnr_soft / psnr_hard: the model in training (soft) and test (hard) mode; psnr_hard_transform_soft /
  psnr_hard_transform_hard: hard mode with the translation predictor fed the soft sprite (the reference code)
  or the hard one (the paper's description) — ARCHITECTURE.md asks for both.
- psnr_background_only: the model's background alone, the baseline the sprites must beat.
- active_anchors_per_frame (switch > 0.5 in hard mode), and with instance ground truth
  visible_objects_per_frame: the sparsity the model reached against what the frames hold.
- with ground truth: each dictionary sprite is assigned the class it overlaps most often; multiclass mean
  IoU over classes and binary foreground/background IoU (the paper's 0.6497 / 0.7352 on its synthetic game).
"""

from __future__ import annotations

import dataclasses
import os
import time

import numpy as np

from . import inference, metrics
from .checkpoint import load_workdir
from .data import load_dataset
from .data.frames import IMAGE_EXTENSIONS
from .errors import UserError
from .inference import eval_indices, hard_outputs, predict


def eval_dataset(cfg, data: str | None = None, frames: str | None = None):
    """(dataset whose test_idx are the frames to evaluate, what they are). By default the training data's held-out
    frames; `data`: every frame of another folder, image or video instead, read with the training data's options
    (resize, fit, allow_upscale, video_step; a folder's ground-truth maps give it IoUs, docs/data.md); `frames`:
    frame indices of either, as `A:B` (B excluded), `N` or a comma list of those (`0:40,57`)."""
    if data is None:
        dataset = load_dataset(cfg.data, cfg.canvas)
        indices, split = eval_indices(dataset)
    else:
        if not os.path.exists(data):
            raise UserError(f"--data {data}: no such folder, image or video")
        is_video = os.path.isfile(data) and not data.lower().endswith(IMAGE_EXTENSIONS)
        options = {**cfg.data.to_dict(), "source": "video" if is_video else "folder", "path": data,
                   "num_frames": 0, "holdout": 0.0, "random_crop": False}
        dataset = load_dataset(options, cfg.canvas)
        indices, split = np.arange(dataset.num_frames), f"every frame of {data}"
    if frames is not None:
        indices, split = frame_indices(frames, dataset.num_frames), f"frames {frames} of " + (
            data or "the training data")
    return dataclasses.replace(dataset, test_idx=np.asarray(indices, np.int64)), split


def frame_indices(spec: str, num_frames: int) -> np.ndarray:
    """`A:B,N,...` -> sorted unique frame indices, each checked against num_frames."""
    picked = []
    for part in spec.replace(" ", "").split(","):
        try:
            if ":" in part:
                a, b = (int(x) if x else d for x, d in zip(part.split(":", 1), (0, num_frames)))
                picked.extend(range(a, b))
            else:
                picked.append(int(part))
        except ValueError:
            raise UserError(f"--frames {spec!r}: {part!r} is not an index or an A:B range") from None
    bad = [i for i in picked if not 0 <= i < num_frames]
    if bad or not picked:
        raise UserError(f"--frames {spec!r} names {'no frame' if not picked else f'frame {bad[0]}'}; the data has "
                        f"{num_frames} frames (0 to {num_frames - 1})")
    return np.unique(picked)


def evaluate_model(model, params, dataset, batch_size: int = 16, seed: int = 0, hard_main=None) -> dict:
    """Every figure of the module docstring as a JSON-able dict. hard_main: hard_outputs of the model as
    configured, when the caller already has them (the demo also draws them)."""
    indices, split = eval_indices(dataset)
    frames_nhw3 = dataset.frames_nhw3[indices]
    soft = predict(model, params, dataset.frames_nhw3, indices, "soft", ("recon_bhw3",), batch_size, seed)
    hard = {t: hard_main if hard_main is not None and t == model.transform_input_at_test
            else hard_outputs(model, params, dataset, indices, batch_size, seed, transform_input=t)
            for t in ("soft", "hard")}
    main = hard[model.transform_input_at_test]
    truth = dataset.class_ids_nhw[indices] if dataset.has_ground_truth else None
    report = metrics.report(frames_nhw3, soft["recon_bhw3"], main["recon_bhw3"],
                            main["sprite_id_maps_bhw"] if truth is not None else None, truth,
                            model.num_sprites, dataset.class_names or None)
    used_m = inference.used_sprites(main["sprite_ids_blhw"], main["switches_blhw"], model.num_sprites)
    report.update({
        "eval_split": split,
        "transform_input_at_test": model.transform_input_at_test,
        **{f"psnr_hard_transform_{t}": metrics.mean_psnr(hard[t]["recon_bhw3"], frames_nhw3) for t in hard},
        "psnr_background_only": metrics.mean_psnr(main["background_bhw3"], frames_nhw3),
        "sprites_used": int(np.count_nonzero(used_m)),
        "sprite_use_counts": used_m.tolist(),
        "active_anchors_per_frame": float(np.mean(np.sum(main["switches_blhw"] > 0.5, axis=(1, 2, 3)))),
        "has_ground_truth": truth is not None,
    })
    if dataset.instance_ids_nhw is not None:  # what a model that explains each frame needs active
        report["visible_objects_per_frame"] = float(np.mean(
            [len(np.unique(ids)) - (0 in ids) for ids in dataset.instance_ids_nhw[indices]]))
    return report


def evaluate_workdir(workdir: str, batch_size: int = 16, data: str | None = None, frames: str | None = None) -> dict:
    """Load a training workdir's latest checkpoint, evaluate it on eval_dataset(cfg, data, frames)."""
    cfg, model, params = load_workdir(workdir)
    start = time.perf_counter()
    dataset, split = eval_dataset(cfg, data, frames)
    report = evaluate_model(model, params, dataset, batch_size, seed=int(cfg.train.seed))
    report["eval_split"] = split
    report["workdir"] = os.path.abspath(workdir)
    report["eval_seconds"] = round(time.perf_counter() - start, 2)
    return report
