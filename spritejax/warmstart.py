"""Dictionary warm start: sprites cut from the training frames' foreground before the first step.

From random noise sprites every switch learns first that turning its anchor on makes the frame worse, so switches
fall towards 0 within ~50 steps, the sprites then get almost no gradient, and training settles in a background-only
or faint-blend optimum (measured in docs/model.md). Starting from the frames' own objects makes "on" pay from the
first step. The sprites are found without labels: pixels farther than `threshold` from the k-means background
colour are foreground; a window of k×k is centred on the bounding box of each foreground blob, its alpha is that
blob; the m most frequent such crops (see `typical`) become the targets, and the generator and latent codes are
fitted to them by Adam on the squared error.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

CANDIDATES_PER_SPRITE = 16
PIXEL_CLIP = 0.02  # 'pixels' generator: targets clipped to [c, 1 − c] before the logit (finite, trainable)


REACH = 2  # blob pixels join across a one-pixel gap: a sprite's parts (an enemy's legs) are one blob
NEAR = range(-REACH, REACH + 1)


def _blob(mask_hw: np.ndarray, y: int, x: int, limit: int) -> np.ndarray:
    """Pixels of the component of mask_hw through (y, x) whose neighbours lie within REACH (Chebyshev), as (n, 2)
    rows, at most `limit` of them."""
    h, w = mask_hw.shape
    seen = {(y, x)}
    todo = [(y, x)]
    while todo and len(seen) < limit:
        cy, cx = todo.pop()
        for ny, nx in ((cy + dy, cx + dx) for dy in NEAR for dx in NEAR):
            if 0 <= ny < h and 0 <= nx < w and mask_hw[ny, nx] and (ny, nx) not in seen:
                seen.add((ny, nx))
                todo.append((ny, nx))
    return np.array(sorted(seen))


def foreground_crops(frames_nhw3: np.ndarray, bg_color_3, k: int, count: int, seed: int,
                     threshold: float = 0.15) -> np.ndarray:
    """Up to `count` RGBA crops_ckk4 (alpha in {0, 1}) of foreground blobs, centred in a k×k window: every blob of
    frames taken in random order, so each object is sampled once per frame whatever its size (sampling pixels
    gave a 4×4 coin a third of an 8×6 player's share, and two of its four poses no cluster of their own)."""
    frames = np.asarray(frames_nhw3, np.float32)
    fg_nhw = np.linalg.norm(frames - np.asarray(bg_color_3, np.float32), axis=-1) > threshold
    last_2 = np.array(fg_nhw.shape[1:]) - 1
    crops = []
    for n in np.random.default_rng(seed).permutation(len(frames)):
        left_hw = fg_nhw[n].copy()
        for y, x in np.argwhere(fg_nhw[n]):
            if len(crops) == count:
                return np.stack(crops)
            if not left_hw[y, x]:
                continue
            pix = _blob(left_hw, int(y), int(x), 4 * k * k)
            left_hw[pix[:, 0], pix[:, 1]] = False
            low, high = pix.min(axis=0), pix.max(axis=0)
            if low.min() > 0 and np.all(high < last_2) and np.all(high - low < k):  # not cut by edge or window
                crops.append(_crop(frames[n], pix, (low + high + 1) // 2 - k // 2, k))
    return np.stack(crops) if crops else np.zeros((0, k, k, 4), np.float32)


def _crop(frame_hw3: np.ndarray, pix: np.ndarray, top_left_2: np.ndarray, k: int) -> np.ndarray:
    """The blob's pixels (n, 2) with alpha 1 in the k×k window at top_left_2 (centred on its bounding box)."""
    top, left = top_left_2
    crop = np.zeros((k, k, 4), np.float32)
    rows, cols = pix[:, 0] - top, pix[:, 1] - left
    keep = (rows >= 0) & (rows < k) & (cols >= 0) & (cols < k)
    crop[rows[keep], cols[keep], :3] = frame_hw3[pix[keep, 0], pix[keep, 1]]
    crop[rows[keep], cols[keep], 3] = 1.0
    return crop


def _cover(crop_kk4: np.ndarray, sprite_kk4: np.ndarray, radius: int, tolerance: float):
    """The crop's pixels explained by sprite at its best integer shift (|shift| ≤ radius), as a mask_kk: the sprite
    must lie inside the crop's opaque pixels and show its colour (squared RGB error ≤ 5·tolerance per pixel) on at
    least half of them — the rest may be hidden behind another object. None when no shift fits."""
    k = crop_kk4.shape[0]
    alpha = sprite_kk4[..., 3] > 0.5
    if not alpha.any():
        return None
    padded = np.pad(crop_kk4, ((radius, radius), (radius, radius), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (k, k), axis=(0, 1)).transpose(0, 1, 3, 4, 2)
    inside = np.all((windows[..., 3] > 0.5) | ~alpha, axis=(2, 3))
    same = (np.sum(np.square(windows[..., :3] - sprite_kk4[..., :3]), axis=-1) <= 5 * tolerance) & alpha
    score = np.where(inside, same.sum(axis=(2, 3)), -1)
    dy, dx = np.unravel_index(np.argmax(score), score.shape)
    if score[dy, dx] < 0.5 * alpha.sum():
        return None
    covered = np.zeros((k + 2 * radius, k + 2 * radius), bool)
    covered[dy:dy + k, dx:dx + k] = same[dy, dx]
    return covered[radius:radius + k, radius:radius + k]


def _is_blend(crop_kk4: np.ndarray, kept, radius: int, tolerance: float) -> bool:
    """Kept sprites, taken greedily, explain all of the crop's opaque pixels and more than one is needed: touching
    or overlapping objects, not a pose of their own."""
    rest = crop_kk4[..., 3] > 0.5
    covers = [c for c in (_cover(crop_kk4, a, radius, tolerance) for a in kept) if c is not None]
    used = 0
    while rest.any():
        cover = max(covers, key=lambda c: np.sum(c & rest), default=None)
        if cover is None or not (cover & rest).any():
            return False
        rest, used = rest & ~cover, used + 1
    return used > 1


def typical(crops_ckk4: np.ndarray, m: int, tolerance: float = 2e-3) -> np.ndarray:
    """m representative crops, most frequent first: greedy leader clustering (a crop joins the first cluster whose
    leader it matches to a mean squared RGBA error ≤ tolerance, else it leads a new one), each cluster's member
    nearest its mean. Game sprites recur pixel-exact, so every pose is its own cluster however small it is (k-means
    on squared error merged the small coin poses into the bullet). A cluster whose crop two already kept sprites
    explain (touching objects, which recur while the objects touch) is skipped. Fewer clusters than m: the rest
    are transparent (never selected until training gives them pixels)."""
    flat = crops_ckk4.reshape(len(crops_ckk4), -1)
    leaders, members = [], []
    for i, crop in enumerate(flat):
        for leader, group in zip(leaders, members):
            if np.mean(np.square(crop - flat[leader])) <= tolerance:
                group.append(i)
                break
        else:
            leaders.append(i)
            members.append([i])
    radius = crops_ckk4.shape[1] // 2  # a part of a blend may sit anywhere in the crop
    kept = []
    for j in sorted(range(len(members)), key=lambda j: -len(members[j])):
        group = flat[members[j]]
        crop = crops_ckk4[members[j][int(np.argmin(np.sum(np.square(group - group.mean(axis=0)), axis=1)))]]
        if not _is_blend(crop, kept, radius, tolerance):
            kept.append(crop)
        if len(kept) == 2 * m:
            break
    # A blend more frequent than one of its parts came before that part: test each against all the others.
    kept = [c for i, c in enumerate(kept) if not _is_blend(c, kept[:i] + kept[i + 1:], radius, tolerance)][:m]
    out = np.zeros((m, *crops_ckk4.shape[1:]), np.float32)
    out[:len(kept)] = kept
    return out


@functools.partial(jax.jit, static_argnums=(0, 3))
def fit_dictionary(model, dictionary_params, targets_mkk4, steps: int, lr: float = 3e-3):
    """Dictionary parameters whose decoded sprites approach targets_mkk4 (Adam on the squared RGBA error)."""
    optimizer = optax.adam(lr)

    def loss(params):
        return jnp.mean(jnp.square(model.dictionary.apply({"params": params}) - targets_mkk4))

    def step(carry, _):
        params, state = carry
        grads = jax.grad(loss)(params)
        updates, state = optimizer.update(grads, state, params)
        return (optax.apply_updates(params, updates), state), None

    (params, _), _ = jax.lax.scan(step, (dictionary_params, optimizer.init(dictionary_params)), None, length=steps)
    return params


def warm_start(model, params: dict, frames_nhw3: np.ndarray, seed: int, steps: int = 300) -> dict:
    """params with params['dictionary'] fitted to foreground crops of frames_nhw3 (unchanged when the frames
    show no foreground against the background colour)."""
    bg = np.asarray(params["background"]["color"] if "color" in params["background"]
                    else jax.nn.sigmoid(params["background"]["texture_logits"]).mean(axis=(0, 1)))
    m, k = model.num_sprites, model.geom.k
    crops = foreground_crops(frames_nhw3, bg, k, CANDIDATES_PER_SPRITE * m, seed)
    if not len(crops):
        return params
    targets = typical(crops, m)
    if model.generator == "pixels":  # the sprites are the parameters: set them
        clipped = np.clip(targets, PIXEL_CLIP, 1 - PIXEL_CLIP)
        logits = np.log(clipped) - np.log1p(-clipped)
        return {**params, "dictionary": {**params["dictionary"], "sprite_logits": jnp.asarray(logits)}}
    return {**params, "dictionary": fit_dictionary(model, params["dictionary"], jnp.asarray(targets), steps)}
