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


def _gains_loop(frames, background, sprites, geom, radius):
    """match_gains by its definition: every anchor, sprite and integer shift, in float64 numpy."""
    frames, background, sprites = (np.asarray(x, np.float64) for x in (frames, background, sprites))
    p, k = geom.pad + radius, geom.k
    pf = np.pad(frames, ((0, 0), (p, p), (p, p), (0, 0)), mode="edge")
    pb = np.pad(background, ((0, 0), (p, p), (p, p), (0, 0)), mode="edge")
    gains = np.full((frames.shape[0], geom.grid_h, geom.grid_w, len(sprites)), -np.inf)
    for b in range(frames.shape[0]):
        for i in range(geom.grid_h):
            for j in range(geom.grid_w):
                for dy in range(2 * radius + 1):
                    for dx in range(2 * radius + 1):
                        rows, cols = slice(i * geom.cell + dy, i * geom.cell + dy + k), \
                            slice(j * geom.cell + dx, j * geom.cell + dx + k)
                        c, bg = pf[b, rows, cols], pb[b, rows, cols]
                        for m, s in enumerate(sprites):
                            g = np.sum(s[..., 3:] * (np.square(c - bg) - np.square(c - s[..., :3])))
                            gains[b, i, j, m] = max(gains[b, i, j, m], g)
    return gains


def test_match_gains_equal_their_definition():
    rng = np.random.default_rng(0)
    geom = render.Geometry(16, 16, 8, 1)
    frames = rng.random((2, 16, 16, 3)).astype(np.float32)
    background = np.broadcast_to(rng.random(3), (2, 16, 16, 3)).astype(np.float32)
    sprites = rng.random((3, 8, 8, 4)).astype(np.float32)
    got, _ = align.match_gains(jnp.asarray(frames), jnp.asarray(background), jnp.asarray(sprites), geom, 2)
    np.testing.assert_allclose(np.asarray(got), _gains_loop(frames, background, sprites, geom, 2), rtol=1e-4,
                               atol=1e-3)


def _teacher_setup(frames, sprite_kk4):
    """A 1-layer pixels model whose entry 2 is sprite_kk4 and entry 1 a grey box, and its output on frames."""
    from spritejax import config
    from spritejax.model import SpriteModel

    cfg = config.load("tiny", ["model.generator='pixels'", "model.num_sprites=4", f"model.bg_color=({BG}, {BG}, {BG})",
                                "model.layers=1"])
    model = SpriteModel.from_config(cfg)
    params = model.init(jax.random.key(0))
    dictionary = np.zeros((4, 8, 8, 4), np.float32)
    dictionary[2] = np.asarray(sprite_kk4)
    dictionary[1, 2:6, 3:6] = (0.5, 0.5, 0.5, 1.0)
    clipped = np.clip(dictionary, 1e-4, 1 - 1e-4)
    params = {**params, "dictionary": {**params["dictionary"],
                                       "sprite_logits": jnp.asarray(np.log(clipped) - np.log1p(-clipped))}}
    return model, model.apply(params, frames, jnp.stack([jax.random.key(0)] * len(frames)))


def test_the_match_teacher_names_the_sprite_on_the_frame_once_and_its_loss_wants_it():
    """A frame showing dictionary entry 2 moved by (1, −1) in anchor (3, 3)'s window: match_gains is best for entry 2
    there at that shift; neighbouring anchors reach the object too, but the teacher turns on only (3, 3); and
    match_loss is lower for its targets than for other entries, for all switches off or on, or for every anchor
    with a positive gain on (the teacher before matching pursuit)."""
    from spritejax import losses

    frames, sprites_blhwkk4 = _scene(1, -1, 3, 3)
    model, out = _teacher_setup(frames, sprites_blhwkk4[0, 0, 3, 3])
    gains, offsets = (np.asarray(x) for x in align.match_gains(frames, out.background_bhw3, out.sprites_mkk4,
                                                                 model.geom, 2))
    assert gains[0, 3, 3].argmax() == 2 and tuple(offsets[0, 3, 3, 2]) == (1, -1)
    reaching = (gains.max(axis=-1) > 0)[:, None].astype(np.float32)
    assert reaching.sum() > 1  # neighbours reach it
    entry, on = (np.asarray(x) for x in losses.match_teacher(frames, out.background_bhw3, out.sprites_mkk4,
                                                             model.geom, 2))
    assert entry[0, 0, 3, 3] == 2 and np.argwhere(on).tolist() == [[0, 0, 3, 3]]

    def loss_for(ids_blhw, on_blhw):
        scores = 0.01 + 0.96 * np.asarray(jax.nn.one_hot(ids_blhw, 4))
        return float(losses.match_loss(out.replace(scores_blhwm=jnp.asarray(scores, jnp.float32),
                                                   switches_blhw=jnp.asarray(0.01 + 0.98 * on_blhw)),
                                       frames, model.geom, 2))

    assert loss_for(entry, on) < loss_for((entry + 1) % 4, on)
    assert loss_for(entry, on) < min(loss_for(entry, 0 * on), loss_for(entry, 1 + 0 * on), loss_for(entry, reaching))


def test_the_match_teacher_takes_objects_next_to_stronger_ones_in_later_rounds():
    """Three copies of entry 2 in the windows of anchors (3, 3), (3, 4), (3, 5): round 1 keeps the first of equal
    neighbours, so (3, 3) and (3, 5); a later round (against the picture with those painted) takes (3, 4)."""
    from spritejax import losses

    frames, sprites_blhwkk4 = _scene(0, 0, 3, 3)
    for col in (4, 5):
        other, _ = _scene(0, 0, 3, col)
        frames = jnp.where(jnp.abs(other - BG) > 1e-6, other, frames)
    model, out = _teacher_setup(frames, sprites_blhwkk4[0, 0, 3, 3])
    for rounds, cols in ((3, [3, 4, 5]), (1, [3, 5])):
        entry, on = (np.asarray(x) for x in losses.match_teacher(frames, out.background_bhw3, out.sprites_mkk4,
                                                                 model.geom, 2, rounds=rounds))
        assert np.argwhere(on).tolist() == [[0, 0, 3, c] for c in cols] and set(entry[0, 0, 3, cols]) == {2}
