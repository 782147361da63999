"""spritejax.align: the parameter-free offset search recovers the shift that places a sprite on its pixels."""

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from spritejax import align, render

GEOM = render.Geometry(32, 32, 8, 1)
BG = 0.3


def _scene(dx: int, dy: int, row: int, col: int, seed: int = 0):
    """A 4×3 random-colour sprite in anchor (row, col)'s window, and a frame showing it moved by (dx, dy)."""
    rng = np.random.default_rng(seed)
    sprite = np.zeros((8, 8, 4), np.float32)
    sprite[2:6, 3:6, :3] = rng.random((4, 3, 3))
    sprite[2:6, 3:6, 3] = 1.0
    frames = np.full((1, 32, 32, 3), BG, np.float32)
    top, left = row * GEOM.cell - GEOM.pad + 2 + dy, col * GEOM.cell - GEOM.pad + 3 + dx
    assert top >= 0 and left >= 0 and top + 4 <= 32 and left + 3 <= 32, "the sprite must lie on the canvas"
    frames[0, top:top + 4, left:left + 3] = sprite[2:6, 3:6, :3]
    sprites = np.zeros((1, 1, GEOM.grid_h, GEOM.grid_w, 8, 8, 4), np.float32)
    sprites[0, 0, row, col] = sprite
    return jnp.asarray(frames), jnp.asarray(sprites)


@settings(max_examples=25, deadline=None)
@given(dx=st.integers(-2, 2), dy=st.integers(-2, 2), row=st.integers(0, 7), col=st.integers(0, 7))
def test_recovers_the_integer_shift_and_the_frame(dx, dy, row, col):
    top, left = row * GEOM.cell - GEOM.pad + 2 + dy, col * GEOM.cell - GEOM.pad + 3 + dx
    if top < 0 or left < 0 or top + 4 > 32 or left + 3 > 32:
        return  # partly off the canvas: the shift is ambiguous there (see the border test)
    frames, sprites = _scene(dx, dy, row, col)
    offsets = align.correlation_offsets(frames, sprites, GEOM, 2, 0.01)
    np.testing.assert_allclose(np.asarray(offsets[0, 0, row, col]), [dx, dy], atol=1e-4)
    placed = render.translate(sprites, offsets)
    keys = jnp.stack([jax.random.key(0)])
    out = render.composite(placed, render.solid_background(jnp.full((3,), BG), 1, GEOM),
                           render.random_ranks(keys, GEOM), GEOM)
    np.testing.assert_allclose(np.asarray(out.recon_bhw3), np.asarray(frames), atol=1e-4)


def test_sliding_off_the_canvas_is_not_free():
    """A sprite in a corner window, shown at its unshifted place: the border pixels are compared with the
    replicated edge, so moving the sprite off the canvas costs more than leaving it where it matches."""
    frames, sprites = _scene(0, 0, 0, 0)
    offsets = align.correlation_offsets(frames, sprites, GEOM, 2, 0.01)
    np.testing.assert_allclose(np.asarray(offsets[0, 0, 0, 0]), [0.0, 0.0], atol=1e-4)


def test_transparent_sprites_stay_put_and_no_gradient_flows():
    frames, sprites = _scene(1, 1, 3, 3)
    empty = jnp.zeros_like(sprites)
    np.testing.assert_allclose(np.asarray(align.correlation_offsets(frames, empty, GEOM, 2, 0.01)), 0.0)
    grad = jax.grad(lambda s: jnp.sum(align.correlation_offsets(frames, s, GEOM, 2, 0.01)))(sprites)
    assert not np.any(np.asarray(grad))


def test_search_windows_are_the_anchor_windows_grown_by_the_radius():
    frames = jnp.asarray(np.random.default_rng(1).random((2, 32, 32, 3)), jnp.float32)
    grown = align.search_windows(frames, GEOM, 2)
    assert grown.shape == (2, 8, 8, 12, 12, 3)
    inner = np.asarray(grown[..., 2:10, 2:10, :])
    windows = np.asarray(render.extract_windows(frames, GEOM))
    inside = np.asarray(render.extract_windows(jnp.ones((2, 32, 32, 1)), GEOM)) > 0  # extract pads with zeros
    np.testing.assert_array_equal(np.where(inside, inner, 0), windows)
