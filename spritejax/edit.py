"""Editing a decomposed frame: move, delete or swap sprites, or repaint a dictionary sprite, then re-render.

A `Decomposition` is the model's hard-mode explanation of one frame — which dictionary sprite sits at each
anchor, whether its switch is on, its sub-cell offset, the z-order inside each layer and the background. Edits
are pure functions Decomposition -> Decomposition (or sprites -> sprites); `render_decomposition` composites
the result with the same pure functions the model uses (spritejax.render), so an unedited decomposition
re-renders to exactly the model's hard reconstruction.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .errors import UserError

Anchor = tuple[int, int, int]  # (layer, row, col)


@dataclasses.dataclass(frozen=True)
class Decomposition:
    """One frame, hard mode. sprite_ids_lhw int, on_lhw bool, offsets_lhw2 float (dx, dy) px, ranks_lhw int
    (a permutation per layer, higher = in front), background_hw3 float."""

    sprite_ids_lhw: np.ndarray
    on_lhw: np.ndarray
    offsets_lhw2: np.ndarray
    ranks_lhw: np.ndarray
    background_hw3: np.ndarray

    @property
    def active(self) -> list[Anchor]:
        """Anchors whose switch is on, as (layer, row, col)."""
        return [tuple(int(v) for v in a) for a in np.argwhere(self.on_lhw)]


def decompose(model, params, frames_bhw3, keys_b) -> list[Decomposition]:
    """Run the model in hard mode and keep, per frame, what re-rendering needs (ranks from the same keys)."""
    from . import render

    out = model.apply(params, frames_bhw3, keys_b, mode="hard")
    ranks_blhw = np.asarray(render.random_ranks(keys_b, model.geom))
    return [
        Decomposition(
            sprite_ids_lhw=np.asarray(out.sprite_ids_blhw[b]).astype(np.int32),
            on_lhw=np.asarray(out.switches_blhw[b]) > 0.5,
            offsets_lhw2=np.asarray(out.offsets_blhw2[b], np.float32),
            ranks_lhw=ranks_blhw[b],
            background_hw3=np.asarray(out.background_bhw3[b], np.float32),
        )
        for b in range(len(ranks_blhw))
    ]


def render_decomposition(dec: Decomposition, sprites_mkk4, geom):
    """Composite a decomposition with a dictionary -> render.RenderOut for a batch of one (recon_bhw3 [1,...])."""
    import jax.numpy as jnp

    from . import render

    sprites_mkk4 = jnp.asarray(sprites_mkk4, jnp.float32)
    chosen_lhwkk4 = jnp.take(sprites_mkk4, jnp.asarray(dec.sprite_ids_lhw), axis=0)
    alpha = chosen_lhwkk4[..., 3:] * jnp.asarray(dec.on_lhw, jnp.float32)[..., None, None, None]
    chosen_lhwkk4 = jnp.concatenate([chosen_lhwkk4[..., :3], alpha], axis=-1)
    placed_lhwkk4 = render.translate(chosen_lhwkk4, jnp.asarray(dec.offsets_lhw2, jnp.float32))
    return render.composite(placed_lhwkk4[None], jnp.asarray(dec.background_hw3)[None],
                            jnp.asarray(dec.ranks_lhw)[None], geom)


# --------------------------------------------------------------------------------------------------- edits


def _check_anchor(dec: Decomposition, anchor: Anchor) -> Anchor:
    l, i, j = (int(v) for v in anchor)
    layers, gh, gw = dec.on_lhw.shape
    if not (0 <= l < layers and 0 <= i < gh and 0 <= j < gw):
        raise UserError(f"anchor {anchor} is outside the {layers}×{gh}×{gw} anchor grid (layer, row, col)")
    return l, i, j


def _check_active(dec: Decomposition, anchor: Anchor) -> Anchor:
    anchor = _check_anchor(dec, anchor)
    if not dec.on_lhw[anchor]:
        raise UserError(f"anchor {anchor} holds no sprite (its switch is off); active: {dec.active[:8]}")
    return anchor


def delete(dec: Decomposition, anchor: Anchor) -> Decomposition:
    """Switch the anchor's sprite off: whatever was behind it (another sprite or the background) shows."""
    anchor = _check_active(dec, anchor)
    on = dec.on_lhw.copy()
    on[anchor] = False
    return dataclasses.replace(dec, on_lhw=on)


def set_sprite(dec: Decomposition, anchor: Anchor, sprite_id: int, num_sprites: int) -> Decomposition:
    """Show dictionary sprite `sprite_id` at an active anchor instead of the one the model chose."""
    anchor = _check_active(dec, anchor)
    if not 0 <= sprite_id < num_sprites:
        raise UserError(f"sprite id {sprite_id} is outside the dictionary (0..{num_sprites - 1})")
    ids = dec.sprite_ids_lhw.copy()
    ids[anchor] = sprite_id
    return dataclasses.replace(dec, sprite_ids_lhw=ids)


def swap(dec: Decomposition, a: Anchor, b: Anchor) -> Decomposition:
    """Exchange the sprites shown at two active anchors (each keeps its place, offset and depth)."""
    a, b = _check_active(dec, a), _check_active(dec, b)
    ids = dec.sprite_ids_lhw.copy()
    ids[a], ids[b] = dec.sprite_ids_lhw[b], dec.sprite_ids_lhw[a]
    return dataclasses.replace(dec, sprite_ids_lhw=ids)


def _bring_to_front(ranks_lhw: np.ndarray, anchor: Anchor) -> np.ndarray:
    """Ranks with `anchor` above every other anchor of its layer, still a permutation per layer."""
    l = anchor[0]
    flat = ranks_lhw[l].reshape(-1).astype(np.int64)
    flat[np.ravel_multi_index(anchor[1:], ranks_lhw.shape[1:])] = flat.size
    out = ranks_lhw.copy()
    out[l] = np.argsort(np.argsort(flat, kind="stable"), kind="stable").reshape(ranks_lhw.shape[1:])
    return out


def move(dec: Decomposition, anchor: Anchor, dx: float, dy: float, cell: int) -> Decomposition:
    """Move an active sprite by (dx, dy) pixels, in front of its layer.

    The sprite is handed to the anchor whose cell holds its new centre, with the remaining sub-cell offset
    in [-cell/2, cell/2) — inside the offset range the model itself uses. If that anchor is busy in this layer,
    the sprite goes to the first layer where it is free.
    """
    l, i, j = _check_active(dec, anchor)
    layers, gh, gw = dec.on_lhw.shape
    ox, oy = (float(v) for v in dec.offsets_lhw2[l, i, j])
    cx, cy = (j + 0.5) * cell + ox + dx, (i + 0.5) * cell + oy + dy  # new sprite centre on the canvas
    j2, i2 = int(np.floor(cx / cell)), int(np.floor(cy / cell))
    if not (0 <= i2 < gh and 0 <= j2 < gw):
        raise UserError(f"moving by ({dx}, {dy}) px puts the sprite off the canvas")
    on = dec.on_lhw.copy()
    on[l, i, j] = False
    free = [l] + [x for x in range(layers) if x != l]
    l2 = next((x for x in free if not on[x, i2, j2]), l)
    target = (l2, i2, j2)
    ids, offsets = dec.sprite_ids_lhw.copy(), dec.offsets_lhw2.copy()
    ids[target] = dec.sprite_ids_lhw[l, i, j]
    offsets[target] = (cx - (j2 + 0.5) * cell, cy - (i2 + 0.5) * cell)
    on[target] = True
    return dataclasses.replace(dec, sprite_ids_lhw=ids, on_lhw=on, offsets_lhw2=offsets,
                               ranks_lhw=_bring_to_front(dec.ranks_lhw, target))


# ----------------------------------------------------------------------------------------- dictionary edits


def replace_sprite(sprites_mkk4: np.ndarray, sprite_id: int, rgba_kk4: np.ndarray) -> np.ndarray:
    """A copy of the dictionary with entry `sprite_id` replaced by a straight-alpha RGBA image (k×k, [0, 1])."""
    sprites_mkk4 = np.array(sprites_mkk4, np.float32)
    m, k = sprites_mkk4.shape[:2]
    if not 0 <= sprite_id < m:
        raise UserError(f"sprite id {sprite_id} is outside the dictionary (0..{m - 1})")
    if rgba_kk4.shape != (k, k, 4):
        raise UserError(f"replacement sprite must be {k}×{k} RGBA, got shape {rgba_kk4.shape}")
    sprites_mkk4[sprite_id] = rgba_kk4
    return sprites_mkk4


def load_rgba(path: str, k: int) -> np.ndarray:
    """An image file as a k×k straight-alpha RGBA float array (nearest resize; no alpha channel → opaque)."""
    import imageio.v3 as iio

    try:
        img = np.asarray(iio.imread(path, plugin="pillow"))
    except Exception as e:  # imageio raises many types for unreadable files
        raise UserError(f"cannot read sprite image {path}: {e}") from None
    if img.ndim == 2:
        img = img[..., None]
    if img.ndim != 3 or img.shape[-1] not in (1, 2, 3, 4):
        raise UserError(f"sprite image {path} has unsupported shape {img.shape}")
    scale = 255.0 if img.dtype == np.uint8 else 65535.0 if img.dtype == np.uint16 else 1.0
    img = img.astype(np.float32) / scale
    channels = img.shape[-1]
    colour = img[..., :3] if channels >= 3 else np.repeat(img[..., :1], 3, axis=-1)
    alpha = img[..., -1:] if channels in (2, 4) else np.ones_like(img[..., :1])
    rgba = np.concatenate([colour, alpha], axis=-1)
    rows = (np.arange(k) * rgba.shape[0]) // k
    cols = (np.arange(k) * rgba.shape[1]) // k
    return rgba[rows][:, cols]
