"""Synthetic sprite game with exact ground truth: our stand-in for the paper's Figure 6 dataset.

A fixed sheet of procedurally drawn pixel-art sprites (5 classes, some animated) moves over a solid or
horizontally scrolling textured background. Alpha is binary, so every pixel is either background or exactly
one sprite's colour: the instance and class maps are the visible (post-occlusion) owners of each pixel.

Vectorised over frames: per object (back to front) and pose, one scatter of the sprite's opaque pixels into
flat pixel arrays that end in a trash slot for off-canvas pixels, so there is no per-frame clipping.
"""

from __future__ import annotations

import numpy as np

from spritejax.data.dataset import Dataset
from spritejax.errors import UserError

CLASSES = ("player", "enemy", "coin", "block", "bullet")
NUM_POSES = {"player": 2, "enemy": 3, "coin": 4, "block": 1, "bullet": 1}
# (height, width) as fractions of sprite_size.
SIZES = {"player": (1.0, 0.75), "enemy": (0.75, 0.75), "coin": (0.5, 0.5), "block": (0.5, 1.0),
         "bullet": (0.5, 0.25)}
# (min, max) speed in pixels per frame at sprite_size 16, and how the object leaves the canvas.
MOTION = {"player": ((0.5, 1.5), "bounce"), "enemy": ((0.5, 2.0), "bounce"), "coin": ((0.0, 0.5), "bounce"),
          "block": ((0.0, 0.0), "bounce"), "bullet": ((2.0, 4.0), "wrap")}
# Drawing order: blocks are scenery at the back, bullets always in front; others in a random order.
DEPTH_BASE = {"block": 0, "coin": 1, "player": 1, "enemy": 1, "bullet": 2}

DEFAULTS = {
    "sprite_size": None,         # largest sprite side in pixels; None = min(canvas) // 4 (= k of the configs)
    "counts": {"player": 1, "enemy": 3, "coin": 3, "block": 3, "bullet": 2},  # objects per class
    "background": "solid",       # 'solid' | 'texture' (scrolls horizontally)
    "bg_color": (0.36, 0.56, 0.94),
    "texture_width": None,       # texture period in pixels; None = 2 * canvas width
    "scroll_speed": 1.0,         # texture pixels per frame
    "placement": "free",         # 'free' (any pixel) | 'grid' (centres snapped to cell centres + jitter)
    "grid_cell": None,           # None = sprite_size // 2, the model's anchor cell
    "jitter": 1,                 # max |offset| from the cell centre in grid placement, pixels
    "anim_period": 3,            # frames per animation pose
    "speed_scale": 1.0,
    "sprite_seed": 0,            # the sprite sheet; `seed` drives the scene
}


# ---------------------------------------------------------------- sprite sheet

def _uv(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates in [0, 1]: v_h1, u_1w."""
    return ((np.arange(h) + 0.5) / h)[:, None], ((np.arange(w) + 0.5) / w)[None, :]


def _paint(h: int, w: int, layers) -> np.ndarray:
    """RGBA hw4 from (mask_hw, rgb) pairs painted in order; alpha = union of masks."""
    out = np.zeros((h, w, 4), np.float32)
    for mask, rgb in layers:
        mask = np.broadcast_to(mask, (h, w))
        out[mask] = (*rgb, 1.0)
    return out


def _player(h: int, w: int, pose: int, rng) -> np.ndarray:
    v, u = _uv(h, w)
    du = np.abs(u - 0.5)
    head = ((u - 0.5) / 0.3) ** 2 + ((v - 0.17) / 0.17) ** 2 <= 1.0
    hair = head & (v < 0.12)
    body = (v >= 0.32) & (v < 0.68) & (du < 0.3)
    arms = (v >= 0.36) & (v < 0.6 - 0.12 * pose) & (du >= 0.3) & (du < 0.5)
    leg_centre = 0.2 if pose == 0 else 0.1
    legs = (v >= 0.68) & (np.abs(du - leg_centre) < 0.12 + 0.04 * pose)
    return _paint(h, w, [(head, (0.98, 0.75, 0.55)), (hair, (0.4, 0.2, 0.05)), (body, (0.85, 0.1, 0.1)),
                         (arms, (0.98, 0.75, 0.55)), (legs, (0.1, 0.15, 0.55))])


def _enemy(h: int, w: int, pose: int, rng) -> np.ndarray:
    """Space-invader style: a random left-right symmetric mask on a coarse (≤ 8×8) grid, scaled up;
    poses redraw the bottom third (legs)."""
    gh, gw = min(h, 8), min(w, 8)
    half = (gw + 1) // 2
    body_rows = max(1, (2 * gh) // 3)
    body = np.random.default_rng(rng.integers(2**32)).random((body_rows, half)) < 0.6
    body[body_rows // 3:, -1] = True  # a solid spine keeps the body connected
    legs = np.random.default_rng([int(rng.integers(2**32)), pose]).random((gh - body_rows, half)) < 0.45
    half_mask = np.concatenate([body, legs], axis=0)
    coarse = np.concatenate([half_mask, half_mask[:, ::-1][:, gw % 2:]], axis=1)
    eyes = np.zeros((gh, gw), bool)
    eye_row, eye_col = max(0, body_rows // 3), max(0, gw // 2 - max(1, gw // 4))
    eyes[eye_row, [eye_col, gw - 1 - eye_col]] = True
    rows = ((np.arange(h) + 0.5) * gh / h).astype(int)
    cols = ((np.arange(w) + 0.5) * gw / w).astype(int)
    mask, eyes = coarse[rows][:, cols], eyes[rows][:, cols]
    return _paint(h, w, [(mask, (0.25, 0.85, 0.3)), (mask & eyes, (0.05, 0.05, 0.1))])


def _coin(h: int, w: int, pose: int, rng) -> np.ndarray:
    """A spinning coin: the ellipse narrows over 4 poses."""
    v, u = _uv(h, w)
    half_w = max(0.5 * (1.0, 0.6, 0.2, 0.6)[pose], 0.6 / w)
    r2 = ((u - 0.5) / half_w) ** 2 + ((v - 0.5) / 0.5) ** 2
    return _paint(h, w, [(r2 <= 1.0, (0.75, 0.5, 0.05)), (r2 <= 0.4, (1.0, 0.85, 0.2))])


def _block(h: int, w: int, pose: int, rng) -> np.ndarray:
    """A brick: mortar rows every half height, vertical joints staggered between rows."""
    rows, cols = np.arange(h)[:, None], np.arange(w)[None, :]
    course = max(1, h // 2)
    brick = max(2, w // 2)
    stagger = (rows // course) % 2 * (brick // 2)
    mortar = (rows % course == 0) | ((cols + stagger) % brick == 0)
    return _paint(h, w, [(np.ones((h, w), bool), (0.7, 0.33, 0.12)), (mortar, (0.92, 0.82, 0.7))])


def _bullet(h: int, w: int, pose: int, rng) -> np.ndarray:
    rows, cols = np.arange(h)[:, None], np.arange(w)[None, :]
    shape = np.ones((h, w), bool)
    if w >= 3:
        shape[0, [0, w - 1]] = False
    tail = (rows >= h - max(1, h // 4)) & (cols >= 0)
    return _paint(h, w, [(shape, (1.0, 1.0, 0.65)), (shape & tail, (1.0, 0.5, 0.1))])


_DRAW = {"player": _player, "enemy": _enemy, "coin": _coin, "block": _block, "bullet": _bullet}


def sprite_sheet(sprite_size: int, sprite_seed: int = 0) -> dict[str, np.ndarray]:
    """The fixed sprites: class name -> poses_phw4 (float32 RGBA, alpha in {0, 1}), sides ≤ sprite_size."""
    rng = np.random.default_rng(sprite_seed)
    sheet = {}
    for name in CLASSES:
        fh, fw = SIZES[name]
        h, w = max(2, round(fh * sprite_size)), max(2, round(fw * sprite_size))
        class_rng = np.random.default_rng(rng.integers(2**32))
        seed_pair = class_rng.integers(2**32, size=2)
        sheet[name] = np.stack([_DRAW[name](h, w, p, np.random.default_rng(seed_pair))
                                for p in range(NUM_POSES[name])])
    return sheet


# ---------------------------------------------------------------- background

def texture(height: int, width: int, seed: int) -> np.ndarray:
    """A horizontally periodic (period = width) pixel-art landscape, hw3: sky, two hill bands, brick ground."""
    rng = np.random.default_rng(seed)
    rows, cols = np.arange(height)[:, None], np.arange(width)[None, :]
    x = 2 * np.pi * cols / width
    sky = np.array([0.45, 0.65, 0.95]) + (rows / height)[..., None] * np.array([0.25, 0.2, 0.05])
    out = np.broadcast_to(sky, (height, width, 3)).copy()
    phases = rng.uniform(0, 2 * np.pi, 4)
    far = height * (0.55 - 0.1 * np.sin(2 * x + phases[0]) - 0.04 * np.sin(5 * x + phases[1]))
    near = height * (0.75 - 0.06 * np.sin(3 * x + phases[2]) - 0.03 * np.sin(7 * x + phases[3]))
    checker = ((rows // 2 + cols // 2) % 2).astype(bool)
    out[rows >= far] = (0.45, 0.7, 0.55)
    out[(rows >= near) & checker] = (0.25, 0.55, 0.3)
    out[(rows >= near) & ~checker] = (0.3, 0.6, 0.35)
    ground = rows >= height - max(2, height // 8)
    out[ground & (cols % 4 == 0) | ground & (rows % 4 == 0)] = (0.55, 0.4, 0.3)
    out[ground & (cols % 4 != 0) & (rows % 4 != 0)] = (0.65, 0.45, 0.3)
    return out.astype(np.float32)


def _fill_background(out_nhw3: np.ndarray, opts: dict, seed: int) -> dict:
    """Write the background of every frame into out_nhw3; return the meta entries that describe it."""
    num_frames, h, w, _ = out_nhw3.shape
    if opts["background"] == "solid":
        color = np.asarray(opts["bg_color"], np.float32)
        out_nhw3[:] = color
        return {"bg_color": color}
    period = int(opts["texture_width"] or 2 * w)
    period += period % 2  # even, so the checker dither is periodic
    tex_hT3 = texture(h, period, seed)
    wrapped = np.concatenate([tex_hT3] * (1 + -(-w // period)), axis=1)  # any w-wide window is a slice
    shift_n = np.floor(np.arange(num_frames) * float(opts["scroll_speed"])).astype(np.int64) % period
    for t, shift in enumerate(shift_n):  # one contiguous copy per frame
        out_nhw3[t] = wrapped[:, shift:shift + w]
    return {"texture_hw3": tex_hT3, "scroll_n": shift_n}


# ---------------------------------------------------------------- scene

def _trajectory(start: float, velocity: float, num_frames: int, low: float, high: float, mode: str):
    """Positions float[n]: straight motion, reflected between [low, high] ('bounce') or wrapped ('wrap')."""
    p = start + velocity * np.arange(num_frames)
    span = high - low
    if span <= 0:
        return np.full(num_frames, low)
    if mode == "wrap":
        return low + np.mod(p - low, span)
    r = np.mod(p - low, 2 * span)
    return low + span - np.abs(r - span)


def _check_options(opts: dict) -> dict:
    unknown = set(opts) - set(DEFAULTS)
    if unknown:
        raise UserError(f"unknown synthetic game option(s) {', '.join(sorted(unknown))}; "
                        f"valid: {', '.join(DEFAULTS)}")
    out = {**DEFAULTS, **opts}
    counts = dict(out["counts"])
    bad = set(counts) - set(CLASSES)
    if bad:
        raise UserError(f"synthetic counts name unknown class(es) {', '.join(sorted(bad))}; "
                        f"classes: {', '.join(CLASSES)}")
    out["counts"] = {name: int(counts.get(name, 0)) for name in CLASSES}
    if out["background"] not in ("solid", "texture"):
        raise UserError(f"synthetic background must be 'solid' or 'texture', got {out['background']!r}")
    if out["placement"] not in ("free", "grid"):
        raise UserError(f"synthetic placement must be 'free' or 'grid', got {out['placement']!r}")
    return out


def generate(num_frames: int, canvas_hw, seed: int = 0, **opts) -> Dataset:
    """Render `num_frames` frames of the game at canvas_hw; deterministic in (seed, opts). See DEFAULTS.

    Returns a Dataset with instance ids (1 + object number, stable over frames) and class ids
    (1 + index in CLASSES); class_names = ['background', *CLASSES]. meta holds the sprite sheet
    ('sprites': name -> poses_phw4), per-object 'object_class' (class id), per-frame 'top_left_no2'
    (y, x of each object's sprite box), 'pose_no', 'draw_order' (objects back to front) and the background
    description ('bg_color', or 'texture_hw3' and per-frame 'scroll_n').
    """
    opts = _check_options(opts)
    h, w = int(canvas_hw[0]), int(canvas_hw[1])
    if num_frames < 1:
        raise UserError(f"synthetic game needs at least one frame, got num_frames={num_frames}")
    size = int(opts["sprite_size"] or max(4, min(h, w) // 4))
    if size > min(h, w):
        raise UserError(f"synthetic sprite_size {size} exceeds the {h}x{w} canvas")
    sheet = sprite_sheet(size, int(opts["sprite_seed"]))
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x6A3E]))

    objects = [name for name in CLASSES for _ in range(opts["counts"][name])]
    depth = np.array([DEPTH_BASE[name] for name in objects]) + rng.uniform(0, 0.5, len(objects))
    cell = int(opts["grid_cell"] or max(1, size // 2))
    speed_unit = float(opts["speed_scale"]) * size / 16
    # Flat pixel arrays with one trash slot at the end: off-canvas sprite pixels are written there, so the
    # vectorised scatter never needs per-frame clipping and the result is a view, not a cropped copy.
    num_pixels = num_frames * h * w
    rgb_p3 = np.empty((num_pixels + 1, 3), np.float32)
    bg_meta = _fill_background(rgb_p3[:num_pixels].reshape(num_frames, h, w, 3), opts, seed)
    instance_p = np.zeros(num_pixels + 1, np.int32)
    top_left_no2 = np.zeros((num_frames, len(objects), 2), np.int64)
    pose_no = np.zeros((num_frames, len(objects)), np.int64)

    for obj in range(len(objects)):  # per-object random draws in a fixed order: deterministic in seed
        name = objects[obj]
        poses_phw4 = sheet[name]
        _, sh, sw, _ = poses_phw4.shape
        (vmin, vmax), mode = MOTION[name]
        speed = rng.uniform(vmin, vmax) * speed_unit
        angle = np.pi / 2 if name == "bullet" else rng.uniform(0, 2 * np.pi)
        sign = rng.choice([-1.0, 1.0])
        vy, vx = sign * speed * np.sin(angle), speed * np.cos(angle)
        y0, x0 = rng.uniform(0, max(h - sh, 0)), rng.uniform(0, max(w - sw, 0))
        lows, highs = (-sh, -sw) if mode == "wrap" else (0, 0), (h, w) if mode == "wrap" else (h - sh, w - sw)
        y_n = _trajectory(y0, vy, num_frames, lows[0], highs[0], mode)
        x_n = _trajectory(x0, vx, num_frames, lows[1], highs[1], mode)
        jitter = rng.integers(-int(opts["jitter"]), int(opts["jitter"]) + 1, size=2)
        if opts["placement"] == "grid":  # snap the box centre to a cell centre, then a fixed jitter
            y_n = np.round((y_n + sh / 2 - cell / 2) / cell) * cell + cell / 2 - sh / 2 + jitter[0]
            x_n = np.round((x_n + sw / 2 - cell / 2) / cell) * cell + cell / 2 - sw / 2 + jitter[1]
        top_left_no2[:, obj] = np.stack([np.floor(y_n), np.floor(x_n)], -1).astype(np.int64)
        phase = rng.integers(NUM_POSES[name])
        pose_no[:, obj] = (np.arange(num_frames) // int(opts["anim_period"]) + phase) % NUM_POSES[name]

    draw_order = np.argsort(depth, kind="stable")
    for obj in draw_order:  # back to front; each object's opaque pixels are scattered, pose by pose
        poses_phw4 = sheet[objects[obj]]
        for pose in range(len(poses_phw4)):
            frames_f = np.flatnonzero(pose_no[:, obj] == pose)
            rows_q, cols_q = np.nonzero(poses_phw4[pose, ..., 3] > 0.5)
            y_fq = top_left_no2[frames_f, obj, :1] + rows_q
            x_fq = top_left_no2[frames_f, obj, 1:] + cols_q
            inside_fq = (y_fq >= 0) & (y_fq < h) & (x_fq >= 0) & (x_fq < w)
            flat_fq = np.where(inside_fq, (frames_f[:, None] * h + y_fq) * w + x_fq, num_pixels)
            rgb_p3[flat_fq] = poses_phw4[pose, rows_q, cols_q, :3]
            instance_p[flat_fq] = obj + 1
    object_class = np.array([CLASSES.index(n) + 1 for n in objects], np.int32)
    class_p = np.concatenate([[0], object_class]).astype(np.int32)[instance_p[:num_pixels]]

    meta = {"sprites": sheet, "sprite_size": size,
            "object_class": object_class,
            "top_left_no2": top_left_no2, "pose_no": pose_no, "draw_order": draw_order,
            "background": opts["background"], "options": opts, **bg_meta}
    return Dataset(frames_nhw3=rgb_p3[:num_pixels].reshape(num_frames, h, w, 3),
                   instance_ids_nhw=instance_p[:num_pixels].reshape(num_frames, h, w),
                   class_ids_nhw=class_p.reshape(num_frames, h, w),
                   class_names=["background", *CLASSES], meta=meta)
