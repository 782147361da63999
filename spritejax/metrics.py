"""Reconstruction and segmentation figures (paper §3.1, Figure 6).

Label conventions:
  sprite id maps (predictions), int: -1 = background (no sprite shows), s ≥ 0 = dictionary sprite s.
  class maps (ground truth, and predictions after matching), int: 0 = background, c ≥ 1 = sprite class c.

Matching: each dictionary sprite is assigned the ground-truth class (background included) it overlaps on the
most pixels over the whole dataset. A sprite that mostly covers background is thus labelled background, and
its pixels count as background in both IoUs. Sprites that never show get -1.

IoUs are taken over the pixels of all frames at once (one confusion matrix for the dataset):
  iou_multiclass = mean over the foreground classes present in the ground truth or the prediction;
  iou_binary     = IoU of the foreground masks (class > 0). Background is not averaged in: the paper's
                   SPACE figure (0.0361) is only possible as a foreground IoU.
"""

from __future__ import annotations

import sys

import numpy as np

from .render import place_windows

BACKGROUND_SPRITE = -1
PAPER_FIGURE6 = {"psnr": 38.54, "iou_multiclass": 0.6497, "iou_binary": 0.7352}  # MarioNette, synthetic game


# ---------------------------------------------------------------- PSNR

def _xp(*arrays):
    """jax.numpy when any input is a jax array (or tracer), else numpy (host figures stay numpy)."""
    jax = sys.modules.get("jax")
    if jax is not None and any(isinstance(x, jax.Array) for x in arrays):
        return jax.numpy
    return np


def psnr(a, b, max=1.0):  # noqa: A002 - the conventional name of the peak value
    """PSNR in dB of the mean squared error over all elements (inf for identical inputs). numpy or jax."""
    xp = _xp(a, b)
    mse = xp.mean((xp.asarray(a, dtype=xp.float32) - xp.asarray(b, dtype=xp.float32)) ** 2)
    with np.errstate(divide="ignore"):
        return 10.0 * xp.log10(max ** 2 / mse)


def psnr_per_frame(a_n, b_n, max=1.0):  # noqa: A002
    """PSNR of each frame (leading axis) -> float[n]. numpy or jax."""
    xp = _xp(a_n, b_n)
    diff = xp.asarray(a_n, dtype=xp.float32) - xp.asarray(b_n, dtype=xp.float32)
    mse_n = xp.mean(diff.reshape(diff.shape[0], -1) ** 2, axis=1)
    with np.errstate(divide="ignore"):
        return 10.0 * xp.log10(max ** 2 / mse_n)


def mean_psnr(a_n, b_n, max=1.0) -> float:  # noqa: A002
    """The mean over frames of per-frame PSNR (the figure reported as 'PSNR')."""
    return float(np.mean(np.asarray(psnr_per_frame(a_n, b_n, max))))


# ---------------------------------------------------------------- sprite id maps from a model output

def sprite_id_maps_from_output(visibility_blhwkk, sprite_ids_blhw, geom) -> np.ndarray:
    """Per-pixel dictionary id of the most visible sprite, -1 where the background shows most -> int32 bhw.

    A pixel is foreground when the sprites together show more than the background (Σ visibility > 0.5, the
    render's visibilities and background weight sum to 1); it then takes the id of the single most visible
    anchor. With hard selection (binary alphas) this is exactly the owner of the pixel. Windows are placed by
    render.place_windows, the compositor's own placement.
    """
    vis_blhwkk = np.asarray(visibility_blhwkk, np.float32)
    ids_blhw = np.asarray(sprite_ids_blhw).astype(np.int32)
    k = vis_blhwkk.shape[-1]
    if k != geom.k or vis_blhwkk.shape[2:4] != ids_blhw.shape[2:4]:
        raise ValueError(f"visibility {vis_blhwkk.shape} / sprite ids {ids_blhw.shape} do not fit k={geom.k}")
    vis_bcHW = np.asarray(place_windows(vis_blhwkk[..., None], geom))[..., 0]
    # ids + 1 so that "no window" (placed as 0) comes out as -1
    owners = np.broadcast_to(ids_blhw[..., None, None, None] + 1, vis_blhwkk.shape + (1,))
    ids_bcHW = np.asarray(place_windows(owners, geom))[..., 0] - 1
    best_b1HW = np.argmax(vis_bcHW, axis=1)[:, None]
    best_ids_bHW = np.take_along_axis(ids_bcHW, best_b1HW, axis=1)[:, 0]
    foreground_bHW = vis_bcHW.sum(axis=1) > 0.5
    return np.where(foreground_bHW, best_ids_bHW, BACKGROUND_SPRITE).astype(np.int32)


# ---------------------------------------------------------------- matching (paper §3.1)

def overlap_counts(sprite_id_maps, class_maps, num_sprites: int, num_classes: int) -> np.ndarray:
    """int64[num_sprites, num_classes]: pixels where sprite s shows over ground-truth class c.

    Additive over batches, so a dataset can be streamed: sum the counts, then `match_from_counts`.
    """
    sprites = np.asarray(sprite_id_maps).ravel()
    classes = np.asarray(class_maps).ravel()
    if sprites.shape != classes.shape:
        raise ValueError(f"sprite maps {np.shape(sprite_id_maps)} and class maps {np.shape(class_maps)} differ")
    shown = sprites >= 0
    if shown.any() and (sprites[shown].max() >= num_sprites or classes.max() >= num_classes or classes.min() < 0):
        raise ValueError("sprite or class id out of range")
    flat = sprites[shown].astype(np.int64) * num_classes + classes[shown]
    return np.bincount(flat, minlength=num_sprites * num_classes).reshape(num_sprites, num_classes)


def match_from_counts(counts_mc: np.ndarray) -> np.ndarray:
    """Each sprite's most-overlapped class (ties: the lower class id), -1 for sprites never shown."""
    counts_mc = np.asarray(counts_mc)
    return np.where(counts_mc.sum(axis=1) > 0, np.argmax(counts_mc, axis=1), -1).astype(np.int64)


def match_sprites(sprite_id_maps, class_maps, num_sprites: int, num_classes: int | None = None) -> np.ndarray:
    """Dictionary sprite -> ground-truth class id (0 = background, -1 = never shown): int64[num_sprites]."""
    num_classes = int(np.max(class_maps)) + 1 if num_classes is None else num_classes
    return match_from_counts(overlap_counts(sprite_id_maps, class_maps, num_sprites, num_classes))


def labels_from_sprites(sprite_id_maps, assignment) -> np.ndarray:
    """Sprite id maps turned into class maps through a matching (background -1 -> 0) -> int32, same shape."""
    sprites = np.asarray(sprite_id_maps)
    lookup = np.concatenate([[0], np.maximum(np.asarray(assignment), 0)])  # index 0 = background sprite id -1
    return lookup[sprites + 1].astype(np.int32)


# ---------------------------------------------------------------- IoU

def confusion(pred_maps, class_maps, num_classes: int) -> np.ndarray:
    """int64[num_classes (truth), num_classes (prediction)] pixel counts; additive over batches."""
    truth = np.asarray(class_maps).ravel().astype(np.int64)
    pred = np.asarray(pred_maps).ravel().astype(np.int64)
    return np.bincount(truth * num_classes + pred, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def iou_per_class(confusion_cc: np.ndarray) -> np.ndarray:
    """float[num_classes]: |pred ∩ truth| / |pred ∪ truth| per class, nan where the class appears in neither."""
    inter = np.diag(confusion_cc).astype(np.float64)
    union = confusion_cc.sum(axis=0) + confusion_cc.sum(axis=1) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, np.nan)


def iou_multiclass(pred_maps, class_maps, num_classes: int | None = None) -> float:
    """Mean IoU over the foreground classes present in the truth or the prediction (nan if none)."""
    num_classes = int(max(np.max(pred_maps), np.max(class_maps))) + 1 if num_classes is None else num_classes
    ious = iou_per_class(confusion(pred_maps, class_maps, num_classes))[1:]
    return float(np.nanmean(ious)) if np.any(~np.isnan(ious)) else float("nan")


def iou_binary(pred_maps, class_maps) -> float:
    """IoU of the foreground masks (class > 0); nan when both are all background."""
    pred, truth = np.asarray(pred_maps) > 0, np.asarray(class_maps) > 0
    union = np.count_nonzero(pred | truth)
    return float(np.count_nonzero(pred & truth) / union) if union else float("nan")


# ---------------------------------------------------------------- reports

def segmentation_report(sprite_id_maps, class_maps, num_sprites: int, class_names=None) -> dict:
    """Every segmentation figure for a dataset with ground truth, JSON-able.

    class_names[c] names class c (class_names[0] the background); defaults to 'class<c>'.
    """
    num_classes = len(class_names) if class_names else int(np.max(class_maps)) + 1
    names = list(class_names) if class_names else [f"class{c}" for c in range(num_classes)]
    counts_mc = overlap_counts(sprite_id_maps, class_maps, num_sprites, num_classes)
    assignment = match_from_counts(counts_mc)
    pred = labels_from_sprites(sprite_id_maps, assignment)
    per_class = iou_per_class(confusion(pred, class_maps, num_classes))
    return {
        "iou_multiclass": _json_float(iou_multiclass(pred, class_maps, num_classes)),
        "iou_binary": _json_float(iou_binary(pred, class_maps)),
        "iou_per_class": {names[c]: _json_float(per_class[c]) for c in range(1, num_classes)},
        "assignment": [int(a) for a in assignment],
        "sprites_per_class": {names[c]: [int(s) for s in np.flatnonzero(assignment == c)]
                              for c in range(num_classes)},
        "num_sprites_shown": int(np.count_nonzero(assignment >= 0)),
        "foreground_fraction_truth": float(np.mean(np.asarray(class_maps) > 0)),
        "foreground_fraction_pred": float(np.mean(pred > 0)),
    }


def report(frames_nhw3, recon_soft_nhw3=None, recon_hard_nhw3=None, sprite_id_maps_nhw=None, class_maps_nhw=None,
           num_sprites: int | None = None, class_names=None) -> dict:
    """A dict of every figure that the given arrays allow (JSON-able): PSNR per mode (mean over frames of the
    per-frame PSNR, plus min/max), segmentation when ground truth and sprite maps are given, and the paper's
    Figure 6 numbers for comparison."""
    out: dict = {"num_frames": int(len(frames_nhw3)), "paper_figure6": dict(PAPER_FIGURE6)}
    for mode, recon in (("soft", recon_soft_nhw3), ("hard", recon_hard_nhw3)):
        if recon is not None:
            per_frame = np.asarray(psnr_per_frame(recon, frames_nhw3))
            out[f"psnr_{mode}"] = _json_float(per_frame.mean())
            out[f"psnr_{mode}_min"] = _json_float(per_frame.min())
            out[f"psnr_{mode}_max"] = _json_float(per_frame.max())
    if sprite_id_maps_nhw is not None and class_maps_nhw is not None:
        if num_sprites is None:
            raise ValueError("report needs num_sprites with sprite id maps")
        out.update(segmentation_report(sprite_id_maps_nhw, class_maps_nhw, num_sprites, class_names))
    return out


def _json_float(x) -> float | None:
    """A float for strict JSON: nan and ±inf (identical frames) -> None."""
    x = float(x)
    return x if np.isfinite(x) else None
