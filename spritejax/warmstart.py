"""Dictionary warm start: sprites cut from the training frames' foreground before the first step.

From random noise sprites every switch learns first that turning its anchor on makes the frame worse, so switches
fall towards 0 within ~50 steps, the sprites then get almost no gradient, and training settles in a background-only
or faint-blend optimum (measured in docs/model.md). Starting from the frames' own objects makes "on" pay from the
first step. The sprites are found without labels: pixels farther than `threshold` from the k-means background
colour are foreground; a window of k×k is centred on the bounding box of the 8-connected foreground blob under a
random foreground pixel, its alpha is that blob; the m most typical such crops (k-means medoids) become the
targets, and the generator and latent codes are fitted to them by Adam on the squared error.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

CANDIDATES_PER_SPRITE = 8


def _blob(mask_hw: np.ndarray, y: int, x: int, limit: int) -> np.ndarray:
    """Pixels of the 8-connected component of mask_hw through (y, x), as (n, 2) rows, at most `limit` of them."""
    h, w = mask_hw.shape
    seen = {(y, x)}
    todo = [(y, x)]
    while todo and len(seen) < limit:
        cy, cx = todo.pop()
        for ny, nx in ((cy + dy, cx + dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)):
            if 0 <= ny < h and 0 <= nx < w and mask_hw[ny, nx] and (ny, nx) not in seen:
                seen.add((ny, nx))
                todo.append((ny, nx))
    return np.array(sorted(seen))


def foreground_crops(frames_nhw3: np.ndarray, bg_color_3, k: int, count: int, seed: int,
                     threshold: float = 0.15) -> np.ndarray:
    """Up to `count` RGBA crops_ckk4 (alpha in {0, 1}) of foreground blobs, centred in a k×k window."""
    frames = np.asarray(frames_nhw3, np.float32)
    fg_nhw = np.linalg.norm(frames - np.asarray(bg_color_3, np.float32), axis=-1) > threshold
    where = np.argwhere(fg_nhw)
    if not len(where):
        return np.zeros((0, k, k, 4), np.float32)
    rng = np.random.default_rng(seed)
    crops = []
    for n, y, x in where[rng.choice(len(where), size=min(count, len(where)), replace=False)]:
        pix = _blob(fg_nhw[n], int(y), int(x), 4 * k * k)
        top = (pix[:, 0].min() + pix[:, 0].max() + 1) // 2 - k // 2
        left = (pix[:, 1].min() + pix[:, 1].max() + 1) // 2 - k // 2
        crop = np.zeros((k, k, 4), np.float32)
        rows, cols = pix[:, 0] - top, pix[:, 1] - left
        keep = (rows >= 0) & (rows < k) & (cols >= 0) & (cols < k)
        crop[rows[keep], cols[keep], :3] = frames[n, pix[keep, 0], pix[keep, 1]]
        crop[rows[keep], cols[keep], 3] = 1.0
        crops.append(crop)
    return np.stack(crops)


def typical(crops_ckk4: np.ndarray, m: int, seed: int, iters: int = 10) -> np.ndarray:
    """m representative crops: k-means (k-means++ seeding) over the RGBA crops, each cluster's member nearest its
    centre, biggest clusters first. Objects that recur are kept; one-off blends of touching objects are outvoted.
    With fewer than m crops they repeat."""
    if len(crops_ckk4) <= m:
        return np.resize(crops_ckk4, (m, *crops_ckk4.shape[1:])) if len(crops_ckk4) else crops_ckk4
    flat = crops_ckk4.reshape(len(crops_ckk4), -1)
    rng = np.random.default_rng(seed)
    centres = [flat[rng.integers(len(flat))]]
    dist = np.sum(np.square(flat - centres[0]), axis=1)
    for _ in range(m - 1):
        centres.append(flat[rng.choice(len(flat), p=dist / dist.sum())] if dist.sum() > 0 else centres[-1])
        dist = np.minimum(dist, np.sum(np.square(flat - centres[-1]), axis=1))
    centres = np.stack(centres)
    for _ in range(iters):
        d2 = np.sum(np.square(flat[:, None] - centres[None]), axis=-1)
        label = np.argmin(d2, axis=1)
        for j in range(m):
            if np.any(label == j):
                centres[j] = flat[label == j].mean(axis=0)
    d2 = np.sum(np.square(flat[:, None] - centres[None]), axis=-1)
    label = np.argmin(d2, axis=1)
    sizes = np.bincount(label, minlength=m)
    medoids = [int(np.argmin(np.where(label == j, d2[:, j], np.inf))) if sizes[j] else int(rng.integers(len(flat)))
               for j in np.argsort(-sizes, kind="stable")]
    return crops_ckk4[medoids]


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
    targets = typical(crops, m, seed)
    if model.generator == "pixels":  # the sprites are the parameters: set them
        clipped = np.clip(targets, 0.02, 0.98)
        logits = np.log(clipped) - np.log1p(-clipped)
        return {**params, "dictionary": {**params["dictionary"], "sprite_logits": jnp.asarray(logits)}}
    return {**params, "dictionary": fit_dictionary(model, params["dictionary"], jnp.asarray(targets), steps)}
