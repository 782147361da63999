"""Frame sources (synthetic game, image folders, videos, Atari) and the resumable batch iterator.

load_dataset(cfg.data, cfg.canvas) is the one entry point train/eval/demo use; see docs/data.md.
"""

from __future__ import annotations

from spritejax.data.dataset import Dataset, holdout_split
from spritejax.data.iterator import BatchIterator, global_indices
from spritejax.errors import UserError

__all__ = ["Dataset", "BatchIterator", "global_indices", "holdout_split", "load_dataset"]

SOURCES = ("synthetic", "folder", "video", "atari")


def _plain(options) -> dict:
    """A ConfigDict / mapping / None as a plain dict."""
    if options is None:
        return {}
    return dict(options.to_dict() if hasattr(options, "to_dict") else options)


def load_dataset(data_cfg, canvas_hw) -> Dataset:
    """Load the frames `data_cfg` describes at `canvas_hw`, apply num_frames and the holdout split.

    data_cfg fields (ConfigDict or dict): source, path, num_frames (None/0 = all the source has; the
    synthetic game and random crops need a number), seed, holdout, random_crop, resize ('area'|'nearest'),
    fit ('cover' = scale + centre crop | 'stretch'; Atari uses data.atari.fit, default 'stretch'),
    allow_upscale (accept images smaller than the canvas), crop_scale (source pixels per canvas pixel of
    random crops), synthetic (generator options), video_step (keep every n-th video frame), atari (options of
    spritejax.data.atari.load_atari).
    """
    cfg = _plain(data_cfg)
    source = cfg.get("source", "synthetic")
    canvas_hw = (int(canvas_hw[0]), int(canvas_hw[1]))
    num_frames = cfg.get("num_frames") or None
    seed = int(cfg.get("seed", 0) or 0)
    resize = cfg.get("resize", "area")
    upscale = bool(cfg.get("allow_upscale", False))
    fit = cfg.get("fit", "cover")
    if source == "synthetic":
        from spritejax.data import synthetic
        dataset = synthetic.generate(num_frames or 1000, canvas_hw, seed, **_plain(cfg.get("synthetic")))
    elif source == "folder":
        path = _require_path(cfg, source)
        from spritejax.data import frames
        if cfg.get("random_crop"):
            dataset = frames.load_random_crops(path, canvas_hw, num_frames or 1000, seed, resize=resize,
                                               crop_scale=float(cfg.get("crop_scale", 1.0) or 1.0))
        else:
            dataset = frames.load_folder(path, canvas_hw, num_frames, resize=resize, allow_upscale=upscale,
                                         fit=fit)
    elif source == "video":
        path = _require_path(cfg, source)
        from spritejax.data import frames
        dataset = frames.load_video(path, canvas_hw, num_frames, resize=resize,
                                    step=int(cfg.get("video_step", 1) or 1), allow_upscale=upscale,
                                    fit=fit)
    elif source == "atari":
        from spritejax.data import atari
        dataset = atari.load_atari(canvas_hw, num_frames or 5000, seed, resize=resize,
                                   **_plain(cfg.get("atari")))
    else:
        raise UserError(f"data.source must be one of {', '.join(SOURCES)}; got {source!r}")
    return dataset.with_split(float(cfg.get("holdout", 0.0) or 0.0), seed)


def _require_path(cfg: dict, source: str) -> str:
    path = cfg.get("path")
    if not path:
        raise UserError(f"data.source={source!r} needs data.path (e.g. --set data.path=/data/frames)")
    return str(path)
