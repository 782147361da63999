"""The fast rendering core against a slow, obviously-correct NumPy renderer, plus gradients, z-order and invariants."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# Every config soft and hard; offsets on for half of them, so soft/hard × with/without offsets all occur.
@pytest.mark.parametrize("cfg_idx,hard,offsets", [(c, h, (c + h) % 2 == 0 or c == 0)
                                                  for c in range(len(CONFIGS)) for h in (False, True)])
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


# ---------------------------------------------------------------------------------------------------------------
# Gradients


def directional_check(loss, args, argnums, seed, eps=1e-6, rtol=1e-5):
    """grad·v against a central finite difference along a random direction v, per argument (float64)."""
    grads = jax.grad(loss, argnums=argnums)(*args)
    rng = np.random.default_rng(seed)
    for n, g in zip(argnums, grads):
        g = np.asarray(g)
        assert np.all(np.isfinite(g)), n
        assert np.abs(g).max() > 0, n
        v = rng.normal(size=g.shape)
        plus = list(args)
        minus = list(args)
        plus[n] = args[n] + eps * v
        minus[n] = args[n] - eps * v
        fd = (float(loss(*plus)) - float(loss(*minus))) / (2 * eps)
        np.testing.assert_allclose(np.sum(g * v), fd, rtol=rtol, atol=1e-8, err_msg=f"argument {n}")


def test_gradients_match_finite_differences():
    geom = R.Geometry(12, 20, 8, 2)
    with jax.enable_x64(True):
        scene = random_scene(11, geom, dtype=np.float64)
        outs = R.RenderOut(*(np.random.default_rng(12).normal(size=o.shape)
                             for o in ref_render(**scene, geom=geom, hard=False)))

        def loss(sprites, offsets, scores, switches):
            placed = R.translate(R.select_soft(scores, switches, sprites), offsets)
            out = R.composite(placed, scene["background"], scene["ranks"], geom)
            return sum(jnp.sum(o * w) for o, w in zip(out, outs))

        args = tuple(jnp.asarray(scene[n]) for n in ("sprites", "offsets", "scores", "switches"))
        directional_check(jax.jit(loss), args, (0, 1, 2, 3), seed=13)


def test_background_gradients_match_finite_differences():
    with jax.enable_x64(True):
        rng = np.random.default_rng(5)
        tex, lx, ly = rng.uniform(size=(14, 17, 3)), rng.normal(size=(2, 6)), rng.normal(size=(2, 4))
        w = rng.normal(size=(2, 11, 12, 3))
        loss = jax.jit(lambda t, x, y: jnp.sum(R.texture_background(t, x, y) * w))
        directional_check(loss, (jnp.asarray(tex), jnp.asarray(lx), jnp.asarray(ly)), (0, 1, 2), seed=6)


# ---------------------------------------------------------------------------------------------------------------
# Z-order


def opaque_squares(geom, seed):
    """Layer 0: one opaque square of side cell+2 per anchor with its own colour; neighbours overlap by 2 px."""
    rng = np.random.default_rng(seed)
    n, k, c = geom.num_anchors, geom.k, geom.cell
    lo = (k - c - 2) // 2
    sprites = np.zeros((n * geom.layers, k, k, 4), np.float32)
    sprites[:, lo:lo + c + 2, lo:lo + c + 2, :3] = rng.uniform(size=(n * geom.layers, 1, 1, 3))
    sprites[:, lo:lo + c + 2, lo:lo + c + 2, 3] = 1.0
    placed = sprites.reshape(1, geom.layers, geom.grid_h, geom.grid_w, k, k, 4)
    cover = np.zeros((geom.grid_h, geom.grid_w, geom.canvas_h + 2 * geom.pad, geom.canvas_w + 2 * geom.pad), bool)
    for i, j in itertools.product(range(geom.grid_h), range(geom.grid_w)):
        cover[i, j, i * c + lo:i * c + lo + c + 2, j * c + lo:j * c + lo + c + 2] = True
    p = geom.pad
    return placed, cover[..., p:p + geom.canvas_h, p:p + geom.canvas_w]


def top_anchor(cover_hwHW, ranks_hw):
    """For each pixel the covering anchor of highest rank (-1 where none)."""
    r = np.where(cover_hwHW, ranks_hw[..., None, None], -1).reshape(-1, *cover_hwHW.shape[2:])
    return np.where(r.max(0) >= 0, r.argmax(0), -1)


def test_z_order_changes_exactly_where_sprites_overlap():
    geom = R.Geometry(24, 24, 8, 2)
    placed, cover = opaque_squares(geom, 0)
    placed[:, 1, :, :, :, :, 3] = 0.0  # layer 1 empty but for one sprite, which must stay in front of everything
    placed[:, 1, 2, 3] = placed[:, 0, 0, 0]
    bg = jnp.full((1, 24, 24, 3), 0.5)
    keys = [jax.random.key(s)[None] for s in (1, 2)]
    ranks = [R.random_ranks(k, geom) for k in keys]
    outs = [np.asarray(R.composite(placed, bg, r, geom).recon_bhw3[0]) for r in ranks]
    np.testing.assert_array_equal(outs[0], np.asarray(R.composite(placed, bg, R.random_ranks(keys[0], geom),
                                                                 geom).recon_bhw3[0]))
    overlap = cover.sum((0, 1)) >= 2
    tops = [top_anchor(cover, np.asarray(r[0, 0])) for r in ranks]
    front = cover[2, 3]
    differs = np.any(outs[0] != outs[1], axis=-1)
    assert differs.any()
    np.testing.assert_array_equal(differs, (tops[0] != tops[1]) & ~front)
    assert not (differs & ~overlap).any()
    np.testing.assert_array_equal(outs[0][front], np.broadcast_to(placed[0, 0, 0, 0, 3, 3, :3], outs[0][front].shape))


def test_random_ranks_are_per_frame_per_layer_permutations():
    geom = R.Geometry(32, 24, 8, 3)
    keys = jax.random.split(jax.random.key(0), 5)
    ranks = np.asarray(R.random_ranks(keys, geom))
    assert ranks.shape == (5, 3, 8, 6)
    flat = ranks.reshape(5, 3, -1)
    np.testing.assert_array_equal(np.sort(flat, axis=-1), np.broadcast_to(np.arange(48), flat.shape))
    assert len({tuple(f.ravel()) for f in ranks}) == 5
    # A frame's order depends on its own key only (frames can be sharded across devices).
    np.testing.assert_array_equal(ranks[::-1], np.asarray(R.random_ranks(keys[::-1], geom)))


# ---------------------------------------------------------------------------------------------------------------
# Transformations compose; no recompilation


def pipeline(scores, switches, sprites, offsets, background, ranks, geom):
    placed = R.translate(R.select_soft(scores, switches, sprites), offsets)
    return R.composite(placed, background, ranks, geom).recon_bhw3


def test_jit_vmap_grad_compose():
    geom = R.Geometry(16, 12, 8, 2)
    scenes = [random_scene(s, geom, b=1) for s in (20, 21, 22)]
    for s in scenes:
        s["sprites"] = scenes[0]["sprites"]
    names = ("sprites", "offsets", "scores", "switches", "background", "ranks")
    stacked = [np.stack([s[n] for s in scenes]) for n in names]

    def f(sprites, offsets, scores, switches, background, ranks):
        return pipeline(scores, switches, sprites, offsets, background, ranks, geom)

    # vmap over groups of frames == one batch of all frames (one shared dictionary).
    vmapped = jax.jit(jax.vmap(f))
    batched = jax.jit(f)(stacked[0][0], *(a.reshape(-1, *a.shape[2:]) for a in stacked[1:]))
    np.testing.assert_allclose(np.asarray(vmapped(*stacked)).reshape(batched.shape), np.asarray(batched), atol=1e-6)

    # grad of the vmapped loss: finite, and its directional derivatives match finite differences of the same
    # compiled forward (offsets are checked in float64 above; here the smooth arguments).
    def loss_of(outs):
        return float(np.sum(np.asarray(outs, np.float64) ** 2))

    grads = jax.jit(jax.grad(lambda *a: jnp.sum(vmapped(*a) ** 2), argnums=(0, 2, 3)))(*stacked)
    rng = np.random.default_rng(0)
    for n, g in zip((0, 2, 3), grads):
        g = np.asarray(g)
        assert np.all(np.isfinite(g)) and np.abs(g).max() > 0
        v = rng.normal(size=g.shape).astype(np.float32)
        eps = 1e-2
        plus, minus = list(stacked), list(stacked)
        plus[n], minus[n] = stacked[n] + eps * v, stacked[n] - eps * v
        fd = (loss_of(vmapped(*plus)) - loss_of(vmapped(*minus))) / (2 * eps)
        np.testing.assert_allclose(np.sum(g * v), fd, rtol=2e-2)


def test_no_recompilation_for_same_shapes():
    geom = R.Geometry(20, 16, 8, 2)
    traces = []

    @jax.jit
    def step(scores, switches, sprites, offsets, background, ranks):
        traces.append(1)  # runs only while tracing
        return pipeline(scores, switches, sprites, offsets, background, ranks, geom)

    names = ("scores", "switches", "sprites", "offsets", "background", "ranks")
    for seed in range(3):
        step(*(random_scene(seed, geom)[n] for n in names)).block_until_ready()
    assert len(traces) == 1
    # The module-level jit of composite: an equal (not identical) Geometry and new values reuse the compilation.
    placed = np.random.default_rng(0).uniform(size=(3, 2, geom.grid_h, geom.grid_w, 8, 8, 4)).astype(np.float32)
    R.composite(placed, random_scene(9, geom, b=3)["background"], random_scene(9, geom, b=3)["ranks"], geom)
    before = R.composite._cache_size()
    for seed in range(3):
        s = random_scene(seed + 30, geom, b=3)
        R.composite(placed * 0.5, s["background"], s["ranks"], R.Geometry(20, 16, 8, 2))
    assert R.composite._cache_size() == before


# ---------------------------------------------------------------------------------------------------------------
# Properties (hypothesis); geometries come from a short list so compilations stay few


GEOMS = [R.Geometry(16, 12, 8, 2), R.Geometry(12, 20, 8, 1)]
PROPS = settings(max_examples=8, deadline=None, derandomize=True)


@PROPS
@given(st.sampled_from(GEOMS), st.integers(0, 2**31 - 1))
def test_transparent_sprites_show_the_background_exactly(geom, seed):
    scene = random_scene(seed, geom)
    scene["switches"][:] = 0.0
    out = fast_render(scene, geom)
    np.testing.assert_array_equal(np.asarray(out.recon_bhw3), scene["background"])
    assert not np.asarray(out.visibility_blhwkk).any() and not np.asarray(out.layers_blhw4).any()
    np.testing.assert_array_equal(np.asarray(out.background_weight_bhw), 1.0)


@PROPS
@given(st.sampled_from(GEOMS), st.integers(0, 2**31 - 1), st.sampled_from([0.0, 1.0, None]))
def test_weights_partition_unity(geom, seed, alpha):
    """Anchor visibilities and the background weight sum to 1 at every pixel, whatever the alphas or order."""
    scene = random_scene(seed, geom)
    if alpha is not None:
        scene["sprites"][..., 3] = alpha
    out = fast_render(scene, geom)
    total = fold_visibility(np.asarray(out.visibility_blhwkk), geom) + np.asarray(out.background_weight_bhw)
    np.testing.assert_allclose(total, 1.0, atol=1e-5)
    assert np.asarray(out.visibility_blhwkk).min() >= 0.0


@PROPS
@given(st.integers(0, 2**31 - 1), st.integers(-9, 9), st.integers(-9, 9))
def test_integer_translation_is_a_shift_with_padding_rules(seed, dx, dy):
    k = 8
    sprites = np.random.default_rng(seed).uniform(size=(3, k, k, 4)).astype(np.float32)
    got = np.asarray(R.translate(sprites, np.tile(np.float32([dx, dy]), (3, 1))))
    idx = np.arange(k)
    src_y, src_x = idx[:, None] - dy, idx[None, :] - dx
    inside = (src_y >= 0) & (src_y < k) & (src_x >= 0) & (src_x < k)
    rgb = sprites[:, np.clip(src_y, 0, k - 1), np.clip(src_x, 0, k - 1), :3]
    alpha = np.where(inside, sprites[:, np.clip(src_y, 0, k - 1), np.clip(src_x, 0, k - 1), 3], 0.0)
    np.testing.assert_allclose(got[..., :3], rgb, atol=1e-6)
    np.testing.assert_allclose(got[..., 3], alpha, atol=1e-6)
    if dx == dy == 0:
        np.testing.assert_array_equal(got, sprites)


@PROPS
@given(st.sampled_from(GEOMS), st.integers(0, 2**31 - 1))
def test_extract_windows_are_crops_of_the_padded_frame(geom, seed):
    frames = np.random.default_rng(seed).uniform(size=(2, geom.canvas_h, geom.canvas_w, 3)).astype(np.float32)
    got = np.asarray(R.extract_windows(frames, geom))
    padded = np.pad(frames, ((0, 0), (geom.pad,) * 2, (geom.pad,) * 2, (0, 0)))
    for i, j in itertools.product(range(geom.grid_h), range(geom.grid_w)):
        want = padded[:, i * geom.cell:i * geom.cell + geom.k, j * geom.cell:j * geom.cell + geom.k]
        np.testing.assert_array_equal(got[:, i, j], want)


@PROPS
@given(st.integers(0, 2**31 - 1), st.booleans())
def test_texture_background_mixes_crops(seed, hard):
    rng = np.random.default_rng(seed)
    tex = rng.uniform(size=(9, 11, 3)).astype(np.float32)
    lx, ly = rng.normal(size=(2, 4)).astype(np.float32), rng.normal(size=(2, 3)).astype(np.float32)
    got = np.asarray(R.texture_background(tex, lx, ly, hard=hard))
    assert got.shape == (2, 7, 8, 3)
    for b in range(2):
        if hard:
            y, x = np.argmax(ly[b]), np.argmax(lx[b])
            np.testing.assert_array_equal(got[b], tex[y:y + 7, x:x + 8])
        else:
            py, px = np.exp(ly[b]) / np.exp(ly[b]).sum(), np.exp(lx[b]) / np.exp(lx[b]).sum()
            want = sum(py[y] * px[x] * tex[y:y + 7, x:x + 8] for y in range(3) for x in range(4))
            np.testing.assert_allclose(got[b], want, rtol=1e-5, atol=1e-6)


def test_solid_background_and_opaque_front_layer():
    geom = R.Geometry(16, 16, 8, 2)
    bg = R.solid_background(jnp.array([0.1, 0.2, 0.3]), 2, geom)
    assert bg.shape == (2, 16, 16, 3)
    np.testing.assert_allclose(np.asarray(bg[1, 5, 7]), [0.1, 0.2, 0.3])
    scene = random_scene(4, geom)
    scene["sprites"][..., 3] = 1.0
    scene["switches"][:, 0] = 1.0
    scene["switches"][:, 1] = np.float32(0.0)
    scene["switches"][:, 1, 1, 1] = 1.0  # one opaque anchor in the front layer
    out = fast_render(scene, geom, hard=True)
    front = np.asarray(out.layers_blhw4[:, 1])
    covered = front[..., 3] == 1.0
    assert covered.any()
    np.testing.assert_allclose(np.asarray(out.recon_bhw3)[covered], front[..., :3][covered], atol=1e-6)
