"""Parameter-free translation (an alternative to the §2.4 network): each anchor's sprite is slid over its crop and
the offset is the soft-argmin of the alpha-weighted squared colour error over integer shifts.

For a sprite game the right offset is the one at which the sprite's opaque pixels match the frame, and searching
it exhaustively is cheap: (2r+1)² shifts of a k×k window (r = ⌊offset_bound⌋) cost ~(2r+1)²·k²·10 FLOPs per
anchor, against ~2·10⁸ for the translation network at k=32. The search sees the sprite and the frame through
stop_gradient: offsets are an alignment step (as in EM), and the reconstruction loss trains the sprites and the
encoder given those offsets. Pixels outside the canvas compare against the replicated border, so sliding a
sprite off the canvas is never free.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from spritejax import render

EPS = 1e-6


def search_windows(frames_bhwc, geom: render.Geometry, radius: int):
    """crops_bhwKKc: each anchor's window grown by `radius` on every side (K = k + 2·radius), border-replicated
    outside the canvas. Window (i, j) covers canvas rows [i·cell − k/4 − radius, … + K)."""
    p = geom.pad + radius
    size = geom.k + 2 * radius
    padded = jnp.pad(frames_bhwc, ((0, 0), (p, p), (p, p), (0, 0)), mode="edge")
    rows_hK = np.arange(geom.grid_h)[:, None] * geom.cell + np.arange(size)
    cols_wK = np.arange(geom.grid_w)[:, None] * geom.cell + np.arange(size)
    crops = padded[:, rows_hK[:, :, None, None], cols_wK[None, None, :, :]]  # b, h, K, w, K, 3
    return crops.transpose(0, 1, 3, 2, 4, 5)


def match_costs(crops_bhwKK3, sprites_blhwkk4, radius: int):
    """costs_blhwS: per anchor and shift s = (dy + r)·(2r+1) + (dx + r), the alpha-weighted mean squared RGB error
    between the sprite moved by (dx, dy) and the frame (0 for a fully transparent sprite)."""
    k = sprites_blhwkk4.shape[-2]
    rgb, alpha = sprites_blhwkk4[..., :3], sprites_blhwkk4[..., 3:]
    crops = crops_bhwKK3[:, None]  # shared by the layers
    costs = []
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            sub = crops[..., radius + dy:radius + dy + k, radius + dx:radius + dx + k, :]
            costs.append(jnp.sum(alpha * jnp.square(sub - rgb), axis=(-3, -2, -1)))
    return jnp.stack(costs, axis=-1) / (jnp.sum(alpha, axis=(-3, -2, -1))[..., None] + EPS)


def correlation_offsets(frames_bhw3, sprites_blhwkk4, geom: render.Geometry, radius: int, temperature: float):
    """offsets_blhw2 (dx, dy pixels, |·| ≤ radius): the softmax(−cost / temperature)-weighted mean shift."""
    frames_bhw3, sprites_blhwkk4 = jax.lax.stop_gradient((frames_bhw3, sprites_blhwkk4))
    if radius == 0:
        return jnp.zeros(sprites_blhwkk4.shape[:4] + (2,), sprites_blhwkk4.dtype)
    costs = match_costs(search_windows(frames_bhw3, geom, radius), sprites_blhwkk4, radius)
    weights = jax.nn.softmax(-costs / temperature, axis=-1)
    shifts = np.arange(-radius, radius + 1, dtype=np.float32)
    dy_s, dx_s = np.repeat(shifts, 2 * radius + 1), np.tile(shifts, 2 * radius + 1)
    offsets = jnp.stack([weights @ dx_s, weights @ dy_s], axis=-1)
    return offsets.astype(sprites_blhwkk4.dtype)


def match_gains(frames_bhw3, background_bhw3, sprites_mkk4, geom: render.Geometry, radius: int):
    """(gains_bhwm, offsets_bhwm2): how much better dictionary sprite i, at its best shift in anchor (i, j)'s window,
    explains the frame than the background does, Σ α·(‖c − b‖² − ‖c − rgb‖²) over the sprite's pixels (c frame,
    b background), and that shift (dx, dy pixels, as correlation_offsets gives it).

    ‖c − b‖² − ‖c − rgb‖² = (‖c − b‖² − ‖c‖²) + 2 c·rgb − ‖rgb‖² is linear in the maps [‖c − b‖² − ‖c‖², c], so
    every sprite at every shift is one valid cross-correlation of those 4 channels with the kernels [α, 2α·rgb]."""
    frames_bhw3, background_bhw3, sprites_mkk4 = jax.lax.stop_gradient((frames_bhw3, background_bhw3, sprites_mkk4))
    maps = jnp.concatenate([jnp.sum(jnp.square(frames_bhw3 - background_bhw3) - jnp.square(frames_bhw3), axis=-1,
                                    keepdims=True), frames_bhw3], axis=-1)
    windows = search_windows(maps, geom, radius)
    b, gh, gw, size = windows.shape[:4]
    alpha, rgb = sprites_mkk4[..., 3:], sprites_mkk4[..., :3]
    kernels_kk4m = jnp.concatenate([alpha, 2.0 * alpha * rgb], axis=-1).transpose(1, 2, 3, 0)
    corr = jax.lax.conv_general_dilated(windows.reshape(b * gh * gw, size, size, 4), kernels_kk4m, (1, 1), "VALID",
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))
    shifts = 2 * radius + 1
    corr_bhwSm = corr.reshape(b, gh, gw, shifts * shifts, -1)
    const_m = jnp.sum(alpha * jnp.square(rgb), axis=(1, 2, 3))
    where_bhwm = jnp.argmax(corr_bhwSm, axis=3)  # s = (dy + r)·(2r+1) + (dx + r), as in match_costs
    offsets = jnp.stack([where_bhwm % shifts - radius, where_bhwm // shifts - radius], axis=-1)
    return jnp.max(corr_bhwSm, axis=3) - const_m, offsets.astype(frames_bhw3.dtype)
