"""Frame sources (synthetic game, image folders, videos, Atari) and the resumable batch iterator.

load_dataset(cfg.data, cfg.canvas) is the one entry point train/eval/demo use; see docs/data.md.
"""

from __future__ import annotations

import inspect
import os

from spritejax.data.dataset import Dataset, holdout_split
from spritejax.data.iterator import BatchIterator, global_indices
from spritejax.errors import UserError

__all__ = ["Dataset", "BatchIterator", "capped_note", "global_indices", "holdout_split", "load_dataset"]

SOURCES = ("synthetic", "folder", "video", "atari")


def _plain(options) -> dict:
    """A ConfigDict / mapping / None as a plain dict."""
    if options is None:
        return {}
    return dict(options.to_dict() if hasattr(options, "to_dict") else options)


def data_config(data_cfg):
    """`data_cfg` (a config's data section, or a plain dict of some of its fields) over the defaults of
    spritejax.config.base_config().data, the one place data options and their defaults are declared."""
    from spritejax.config import conform

    return conform({"data": _plain(data_cfg)}, "data options").data


def load_dataset(data_cfg, canvas_hw) -> Dataset:
    """Load the frames `data_cfg` describes at `canvas_hw`, apply num_frames and the holdout split.

    data_cfg: the config's data section (ConfigDict), or a dict of some of its fields (the others take
    base_config()'s defaults). Fields: source, path, num_frames (None/0 = all the source has; the
    synthetic game and random crops need a number), seed, holdout, random_crop, resize ('area'|'nearest'),
    fit ('cover' = scale + centre crop | 'stretch'; Atari uses data.atari.fit, default 'stretch'),
    allow_upscale (accept images smaller than the canvas), crop_scale (source pixels per canvas pixel of
    random crops), synthetic (generator options), video_step (keep every n-th video frame), atari (options of
    spritejax.data.atari.load_atari). See docs/data.md.
    """
    cfg = data_config(data_cfg)
    source = cfg.source
    canvas_hw = (int(canvas_hw[0]), int(canvas_hw[1]))
    num_frames = cfg.num_frames or None
    seed = int(cfg.seed or 0)
    if source == "synthetic":
        from spritejax.data import synthetic
        dataset = synthetic.generate(num_frames or 1000, canvas_hw, seed, **_plain(cfg.synthetic))
    elif source == "folder":
        path = _require_path(cfg, source)
        from spritejax.data import frames
        if cfg.random_crop:
            dataset = frames.load_random_crops(path, canvas_hw, num_frames or 1000, seed, resize=cfg.resize,
                                               crop_scale=float(cfg.crop_scale or 1.0))
        else:
            dataset = frames.load_folder(path, canvas_hw, num_frames, resize=cfg.resize,
                                         allow_upscale=bool(cfg.allow_upscale), fit=cfg.fit)
    elif source == "video":
        path = _require_path(cfg, source)
        from spritejax.data import frames
        dataset = frames.load_video(path, canvas_hw, num_frames, resize=cfg.resize, step=int(cfg.video_step or 1),
                                    allow_upscale=bool(cfg.allow_upscale), fit=cfg.fit)
    elif source == "atari":
        from spritejax.data import atari
        options = _plain(cfg.atari)
        known = [n for n in inspect.signature(atari.load_atari).parameters
                 if n not in ("canvas_hw", "num_frames", "seed", "resize")]
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise UserError(f"unknown data.atari option(s) {', '.join(unknown)}; known: {', '.join(known)}")
        dataset = atari.load_atari(canvas_hw, num_frames or 5000, seed, resize=cfg.resize, **options)
    else:
        raise UserError(f"data.source must be one of {', '.join(SOURCES)}; got {source!r}")
    return dataset.with_split(float(cfg.holdout or 0.0), seed)


def _require_path(cfg, source: str) -> str:
    path = cfg.path
    if not path:
        raise UserError(f"data.source={source!r} needs data.path (e.g. --set data.path=/data/frames)")
    path = str(path)
    if not os.path.exists(path):
        where = "" if os.path.isabs(path) else f" (looked for {os.path.abspath(path)}, relative to the current folder)"
        raise UserError(f"data.path {path}: no such {'file or folder' if source == 'folder' else 'video file'}{where}")
    return path


def capped_note(dataset: Dataset) -> str | None:
    """'using N of the M frames in PATH (...)' when data.num_frames kept fewer frames than the folder or video
    holds (meta['frames_available'], set by those loaders); None otherwise."""
    available = dataset.meta.get("frames_available")
    if not available or available <= dataset.num_frames:
        return None
    about = "about " if dataset.meta.get("frames_available_estimated") else "the "
    where = dataset.meta.get("file") or os.path.dirname(dataset.meta["files"][0]) or "."
    return (f"using {dataset.num_frames} of {about}{available} frames in {where} "
            f"(data.num_frames={dataset.num_frames}; 0 uses them all)")
