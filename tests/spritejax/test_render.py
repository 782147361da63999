"""The fast rendering core against a slow, obviously-correct NumPy renderer, plus gradients, z-order and invariants."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from spritejax import render as R
from spritejax.errors import UserError


# ---------------------------------------------------------------------------------------------------------------
# Slow reference: explicit loops, one pixel at a time


def ref_select(scores_m, switch, sprites_mkk4, hard):
    if hard:
        s = sprites_mkk4[int(np.argmax(scores_m))].copy()
        s[..., 3] *= float(switch > 0.5)
    else:
        s = np.zeros(sprites_mkk4.shape[1:])
        for i in range(len(scores_m)):
            s += scores_m[i] * sprites_mkk4[i]
        s[..., 3] *= switch
    return s


def ref_sample(sprite_kk4, y, x, dx, dy):
    """Bilinear sample of the sprite moved by (dx, dy) at window pixel (y, x): RGB border-, alpha zero-padded."""
    k = sprite_kk4.shape[0]
    sy, sx = y - dy, x - dx
    out = np.zeros(4)
    # RGB: clamp the sample position into the sprite.
    cy, cx = min(max(sy, 0.0), k - 1.0), min(max(sx, 0.0), k - 1.0)
    y0, x0 = int(np.floor(cy)), int(np.floor(cx))
    for yy, wy in ((y0, 1 - (cy - y0)), (y0 + 1, cy - y0)):
        for xx, wx in ((x0, 1 - (cx - x0)), (x0 + 1, cx - x0)):
            if 0 <= yy < k and 0 <= xx < k:
                out[:3] += wy * wx * sprite_kk4[yy, xx, :3]
    # Alpha: outside the sprite is transparent.
    y0, x0 = int(np.floor(sy)), int(np.floor(sx))
    for yy, wy in ((y0, 1 - (sy - y0)), (y0 + 1, sy - y0)):
        for xx, wx in ((x0, 1 - (sx - x0)), (x0 + 1, sx - x0)):
            if 0 <= yy < k and 0 <= xx < k:
                out[3] += wy * wx * sprite_kk4[yy, xx, 3]
    return out


def ref_render(scores, switches, sprites, offsets, background, ranks, geom, hard):
    """Per frame: per layer back to front, anchors in rank order, each window pixel painted with "over"."""
    b = scores.shape[0]
    k, cell, p, H, W = geom.k, geom.cell, geom.pad, geom.canvas_h, geom.canvas_w
    hp, wp = H + 2 * p, W + 2 * p
    recon = np.zeros((b, H, W, 3))
    layers = np.zeros((b, geom.layers, H, W, 4))
    vis = np.zeros((b, geom.layers, geom.grid_h, geom.grid_w, k, k))
    bgw = np.zeros((b, H, W))
    for f in range(b):
        painted = [[[] for _ in range(wp)] for _ in range(hp)]  # per padded pixel: (anchor pixel, alpha) in paint order
        out = background[f].astype(np.float64).copy()
        for l in range(geom.layers):
            col = np.zeros((hp, wp, 3))
            alp = np.zeros((hp, wp))
            order = np.argsort(ranks[f, l].ravel(), kind="stable")
            for a in order:
                i, j = divmod(int(a), geom.grid_w)
                sprite = ref_select(scores[f, l, i, j], switches[f, l, i, j], sprites, hard)
                dx, dy = offsets[f, l, i, j]
                for y in range(k):
                    for x in range(k):
                        rgba = ref_sample(sprite, y, x, dx, dy)
                        Y, X = i * cell + y, j * cell + x
                        col[Y, X] = rgba[3] * rgba[:3] + (1 - rgba[3]) * col[Y, X]
                        alp[Y, X] = rgba[3] + (1 - rgba[3]) * alp[Y, X]
                        painted[Y][X].append(((l, i, j, y, x), rgba[3]))
            inner_c, inner_a = col[p:p + H, p:p + W], alp[p:p + H, p:p + W]
            layers[f, l, ..., :3], layers[f, l, ..., 3] = inner_c, inner_a
            out = inner_c + (1 - inner_a)[..., None] * out
        recon[f] = out
        for Y in range(p, p + H):
            for X in range(p, p + W):
                through = 1.0
                for idx, a in reversed(painted[Y][X]):
                    vis[(f,) + idx] = a * through
                    through *= 1 - a
                bgw[f, Y - p, X - p] = through
    return recon, layers, vis, bgw


# ---------------------------------------------------------------------------------------------------------------
# Helpers


def random_scene(seed, geom, b=2, m=4, offsets=True, dtype=np.float32):
    rng = np.random.default_rng(seed)
    shape = (b, geom.layers, geom.grid_h, geom.grid_w)
    sprites = rng.uniform(size=(m, geom.k, geom.k, 4))
    logits = rng.normal(size=shape + (m,)) * 2
    scores = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    switches = rng.uniform(size=shape)
    offs = rng.uniform(-geom.pad, geom.pad, size=shape + (2,)) if offsets else np.zeros(shape + (2,))
    background = rng.uniform(size=(b, geom.canvas_h, geom.canvas_w, 3))
    ranks = np.stack([np.stack([rng.permutation(geom.num_anchors).reshape(shape[2:]) for _ in range(geom.layers)])
                      for _ in range(b)])
    cast = lambda x: x.astype(dtype)  # noqa: E731
    return dict(scores=cast(scores), switches=cast(switches), sprites=cast(sprites), offsets=cast(offs),
                background=cast(background), ranks=ranks.astype(np.int32))


def fast_render(scene, geom, hard=False):
    select = R.select_hard if hard else R.select_soft
    sel = select(scene["scores"], scene["switches"], scene["sprites"])
    placed = R.translate(sel, scene["offsets"])
    return R.composite(placed, scene["background"], scene["ranks"], geom)


def fold_visibility(vis_blhwkk, geom):
    """Sum each anchor window's visibility back onto the canvas (loops): per-pixel total over anchors."""
    b = vis_blhwkk.shape[0]
    p, cell, k = geom.pad, geom.cell, geom.k
    canvas = np.zeros((b, geom.canvas_h + 2 * p, geom.canvas_w + 2 * p))
    for l, i, j in itertools.product(range(geom.layers), range(geom.grid_h), range(geom.grid_w)):
        canvas[:, i * cell:i * cell + k, j * cell:j * cell + k] += vis_blhwkk[:, l, i, j]
    return canvas[:, p:p + geom.canvas_h, p:p + geom.canvas_w]


CONFIGS = [  # (H, W, k, layers): even, odd and mixed grids
    (16, 16, 8, 2),   # 4x4
    (20, 12, 8, 2),   # 5x3 odd
    (12, 20, 8, 1),   # 3x5 odd, one layer
    (24, 16, 8, 3),   # 6x4 even, three layers
    (12, 8, 4, 2),    # 6x4, k=4 (cell 2, pad 1)
]


# ---------------------------------------------------------------------------------------------------------------
# Fast path == reference


@pytest.mark.parametrize("cfg_idx", range(len(CONFIGS)))
@pytest.mark.parametrize("hard", [False, True])
@pytest.mark.parametrize("offsets", [False, True])
def test_matches_reference(cfg_idx, hard, offsets):
    geom = R.Geometry(*CONFIGS[cfg_idx])
    scene = random_scene(100 * cfg_idx + 10 * hard + offsets, geom, offsets=offsets)
    want = ref_render(**scene, geom=geom, hard=hard)
    got = fast_render(scene, geom, hard)
    for name, w, g in zip(R.RenderOut._fields, want, got):
        assert g.shape == w.shape, name
        np.testing.assert_allclose(np.asarray(g), w, atol=2e-5, err_msg=name)
    # Every pixel's weights (anchors + background) form a partition of unity.
    np.testing.assert_allclose(fold_visibility(np.asarray(got.visibility_blhwkk), geom)
                               + np.asarray(got.background_weight_bhw), 1.0, atol=1e-5)


def test_reference_catches_wrong_order():
    """The comparison above can fail: reversing the in-layer order changes the fast result away from the reference."""
    geom = R.Geometry(16, 16, 8, 1)
    scene = random_scene(7, geom, offsets=True)
    scene["switches"][:] = 1.0
    want = ref_render(**scene, geom=geom, hard=False)[0]
    scene["ranks"] = (geom.num_anchors - 1 - scene["ranks"]).astype(np.int32)
    assert np.abs(np.asarray(fast_render(scene, geom).recon_bhw3) - want).max() > 1e-2


def test_select_soft_is_score_weighted_sum():
    rng = np.random.default_rng(0)
    scores, switches, sprites = rng.uniform(size=(3, 5)), rng.uniform(size=3), rng.uniform(size=(5, 4, 4, 4))
    got = np.asarray(R.select_soft(scores, switches, sprites))
    for a in range(3):
        np.testing.assert_allclose(got[a], ref_select(scores[a], switches[a], sprites, hard=False), rtol=1e-5)


def test_select_soft_never_materialises_the_product():
    """No intermediate of the soft selection holds a [..., m, k, k, 4] tensor (m·k²·4 per anchor)."""
    geom, m = R.Geometry(64, 64, 16, 2), 50
    scores = jnp.ones((2, 2, geom.grid_h, geom.grid_w, m)) / m
    switches = jnp.ones((2, 2, geom.grid_h, geom.grid_w))
    sprites = jnp.ones((m, 16, 16, 4))
    jaxpr = jax.make_jaxpr(R.select_soft)(scores, switches, sprites)
    biggest = max(np.prod(v.aval.shape) for e in jaxpr.jaxpr.eqns for v in e.outvars)
    assert biggest < 2 * 2 * geom.num_anchors * m * 16 * 16 * 4 / 10


def test_hard_of_one_hot_equals_soft():
    geom = R.Geometry(16, 20, 8, 2)
    scene = random_scene(3, geom)
    ids = np.random.default_rng(3).integers(0, 4, size=scene["switches"].shape)
    scene["scores"] = np.eye(4, dtype=np.float32)[ids]
    scene["switches"] = (scene["switches"] > 0.5).astype(np.float32)
    soft = R.select_soft(scene["scores"], scene["switches"], scene["sprites"])
    hard = R.select_hard(scene["scores"], scene["switches"], scene["sprites"])
    np.testing.assert_array_equal(np.asarray(soft), np.asarray(hard))
    for s, h in zip(fast_render(scene, geom, hard=False), fast_render(scene, geom, hard=True)):
        np.testing.assert_array_equal(np.asarray(s), np.asarray(h))


def test_score_sprites_matches_formula():
    rng = np.random.default_rng(1)
    a, z = rng.normal(size=(3, 2, 6)) * 3 + 1, rng.normal(size=(5, 6))
    ln = lambda x: (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5)  # noqa: E731
    logits = ln(a) @ ln(z).T / np.sqrt(6)
    want = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    np.testing.assert_allclose(np.asarray(R.score_sprites(a, z)), want, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(R.layer_norm(a)), ln(a), rtol=1e-4, atol=1e-5)


def test_geometry_validates_and_reads_config():
    import ml_collections
    cfg = ml_collections.ConfigDict({"canvas": (128, 96), "model": {"k": 32, "layers": 2}})
    g = R.Geometry.from_config(cfg)
    assert (g.cell, g.pad, g.grid_h, g.grid_w, g.num_anchors) == (16, 8, 8, 6, 48)
    with pytest.raises(UserError):
        R.Geometry(100, 128, 32, 2)
    with pytest.raises(UserError):
        R.Geometry(60, 60, 6, 2)
