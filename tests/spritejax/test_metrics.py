"""spritejax.metrics: PSNR values, §3.1 matching and IoUs on hand-made maps, sprite id maps from a real render."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from spritejax import metrics
from spritejax.render import Geometry, composite

# ---------------------------------------------------------------- PSNR


def test_psnr_known_values():
    a = np.zeros((2, 4, 4, 3), np.float32)
    b = np.full_like(a, 0.1)
    assert metrics.psnr(a, b) == pytest.approx(20.0, abs=1e-4)  # mse 0.01
    assert metrics.psnr(a * 255, b * 255, max=255.0) == pytest.approx(20.0, abs=1e-4)
    b[1] = 0.01  # frame 1: mse 1e-4 -> 40 dB
    np.testing.assert_allclose(metrics.psnr_per_frame(a, b), [20.0, 40.0], atol=1e-4)
    assert metrics.mean_psnr(a, b) == pytest.approx(30.0, abs=1e-4)
    assert metrics.psnr(a, a) == math.inf


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.float32, (3, 5, 4, 3), elements=st.floats(0, 1, width=32)),
       st.floats(0.001, 0.5), st.sampled_from([1.0, 255.0]))
def test_psnr_of_a_constant_offset(a, offset, peak):
    b = a + np.float32(offset)
    expected = 20 * math.log10(1 / offset)  # the difference scales with the peak too
    assert float(metrics.psnr(a * peak, b * peak, max=peak)) == pytest.approx(expected, abs=1e-3)
    np.testing.assert_allclose(metrics.psnr_per_frame(a, b), 20 * math.log10(1 / offset), atol=1e-3)
    assert float(metrics.psnr(b, a)) == pytest.approx(float(metrics.psnr(a, b)))


def test_psnr_accepts_jax_arrays_and_traces():
    a = np.random.default_rng(0).random((2, 6, 6, 3)).astype(np.float32)
    b = np.clip(a + 0.05, 0, 1)
    got = jax.jit(metrics.psnr)(jnp.asarray(a), jnp.asarray(b))
    assert isinstance(got, jax.Array)
    assert float(got) == pytest.approx(float(metrics.psnr(a, b)), abs=1e-4)
    np.testing.assert_allclose(metrics.psnr_per_frame(jnp.asarray(a), b), metrics.psnr_per_frame(a, b), atol=1e-4)


# ---------------------------------------------------------------- matching and IoU on hand-made maps

# Two 2×3 frames. Sprite ids (-1 = background) and ground-truth classes (0 = background).
SPRITES = np.array([[[0, 0, -1], [1, 1, 2]],
                    [[0, 3, -1], [1, -1, 2]]])
CLASSES = np.array([[[1, 1, 0], [2, 1, 0]],
                    [[1, 2, 2], [2, 0, 0]]])
# By hand: sprite 0 covers class 1 three times; sprite 1 class 2 twice, class 1 once; sprite 2 only
# background; sprite 3 class 2 once; sprite 4 never shows.
ASSIGNMENT = [1, 2, 0, 2, -1]
# Predicted classes: f0 [[1,1,0],[2,2,0]], f1 [[1,2,0],[2,0,0]].
# Class 1: ∩ 3, ∪ 4 -> 0.75.  Class 2: ∩ 3, ∪ 5 -> 0.6.  Foreground: ∩ 7, ∪ 8 -> 0.875.


def test_match_sprites_by_hand():
    assert metrics.match_sprites(SPRITES, CLASSES, num_sprites=5).tolist() == ASSIGNMENT
    counts = metrics.overlap_counts(SPRITES, CLASSES, 5, 3)
    assert counts.tolist() == [[0, 3, 0], [0, 1, 2], [2, 0, 0], [0, 0, 1], [0, 0, 0]]
    streamed = metrics.overlap_counts(SPRITES[:1], CLASSES[:1], 5, 3) + metrics.overlap_counts(
        SPRITES[1:], CLASSES[1:], 5, 3)
    np.testing.assert_array_equal(streamed, counts)
    pred = metrics.labels_from_sprites(SPRITES, ASSIGNMENT)
    assert pred.tolist() == [[[1, 1, 0], [2, 2, 0]], [[1, 2, 0], [2, 0, 0]]]


def test_match_ties_go_to_the_lower_class():
    sprites = np.array([[0, 0]])
    assert metrics.match_sprites(sprites, np.array([[2, 1]]), 1).tolist() == [1]
    assert metrics.match_sprites(sprites, np.array([[0, 1]]), 1).tolist() == [0]


def test_ious_by_hand():
    pred = metrics.labels_from_sprites(SPRITES, ASSIGNMENT)
    np.testing.assert_allclose(metrics.iou_per_class(metrics.confusion(pred, CLASSES, 3))[1:], [0.75, 0.6])
    assert metrics.iou_multiclass(pred, CLASSES) == pytest.approx(0.675)
    assert metrics.iou_multiclass(pred, CLASSES, num_classes=5) == pytest.approx(0.675)  # absent classes skipped
    assert metrics.iou_binary(pred, CLASSES) == pytest.approx(0.875)
    missed = CLASSES.copy()
    missed[1, 1, 2] = 3  # a class only in the truth counts as IoU 0
    assert metrics.iou_multiclass(pred, missed) == pytest.approx((0.75 + 0.6 + 0.0) / 3)
    assert metrics.iou_multiclass(pred, pred) == 1.0 and metrics.iou_binary(pred, pred) == 1.0
    assert math.isnan(metrics.iou_binary(np.zeros((2, 2)), np.zeros((2, 2))))


def test_segmentation_report_is_json_and_matches_the_parts():
    names = ["background", "hero", "coin"]
    rep = metrics.segmentation_report(SPRITES, CLASSES, 5, names)
    assert rep["iou_multiclass"] == pytest.approx(0.675) and rep["iou_binary"] == pytest.approx(0.875)
    assert rep["iou_per_class"] == pytest.approx({"hero": 0.75, "coin": 0.6})
    assert rep["assignment"] == ASSIGNMENT and rep["sprites_per_class"]["coin"] == [1, 3]
    assert rep["num_sprites_shown"] == 4
    frames = np.zeros((2, 2, 3, 3), np.float32)
    full = metrics.report(frames, recon_soft_nhw3=frames + 0.1, recon_hard_nhw3=frames, sprite_id_maps_nhw=SPRITES,
                          class_maps_nhw=CLASSES, num_sprites=5, class_names=names)
    assert full["psnr_soft"] == pytest.approx(20.0, abs=1e-4) and full["psnr_hard"] is None  # identical: inf
    assert full["iou_binary"] == pytest.approx(0.875) and full["paper_figure6"]["iou_multiclass"] == 0.6497
    json.loads(json.dumps(full, allow_nan=False))


# ---------------------------------------------------------------- sprite id maps from a render


def test_sprite_id_map_places_windows_like_the_geometry():
    geom = Geometry(8, 8, 4, 1)  # cell 2, pad 1, 4×4 anchors; window (i, j) starts at canvas (2i-1, 2j-1)
    vis = np.zeros((1, 1, 4, 4, 4, 4), np.float32)
    ids = np.arange(16).reshape(1, 1, 4, 4)
    vis[0, 0, 1, 2, 0, 0] = 1.0  # anchor (1,2), window pixel (0,0) -> canvas (1, 3)
    vis[0, 0, 3, 3, 3, 3] = 1.0  # window pixel (3,3) of the last anchor -> canvas (8, 8): outside
    vis[0, 0, 0, 0, 2, 2] = 0.4  # 0.4 + 0.3 of two anchors at canvas (1, 1): foreground, most visible wins
    vis[0, 0, 1, 1, 0, 0] = 0.3
    vis[0, 0, 2, 0, 1, 1] = 0.45  # canvas (4, 0): background shows more
    got = metrics.sprite_id_maps_from_output(vis, ids, geom)
    expected = np.full((1, 8, 8), -1)
    expected[0, 1, 3] = 6
    expected[0, 1, 1] = 0
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("grid", [(4, 4), (3, 5)])
def test_sprite_id_map_names_the_owner_in_a_hard_render(grid):
    """Binary-alpha sprites through the real compositor: the id map equals a brute-force owner search."""
    k, layers = 4, 2
    geom = Geometry(grid[0] * 2, grid[1] * 2, k, layers)
    rng = np.random.default_rng(0)
    b, gh, gw = 2, geom.grid_h, geom.grid_w
    placed = rng.random((b, layers, gh, gw, k, k, 4)).astype(np.float32)
    placed[..., 3] = (rng.random((b, layers, gh, gw, k, k)) < 0.3).astype(np.float32)
    ranks = np.stack([[rng.permutation(gh * gw).reshape(gh, gw) for _ in range(layers)] for _ in range(b)])
    ids = rng.integers(0, 9, size=(b, layers, gh, gw))
    out = composite(jnp.asarray(placed), jnp.zeros((b, geom.canvas_h, geom.canvas_w, 3)), jnp.asarray(ranks),
                    geom)
    got = metrics.sprite_id_maps_from_output(out.visibility_blhwkk, ids, geom)

    expected = np.full((b, geom.canvas_h, geom.canvas_w), -1)
    for f in range(b):
        for layer in range(layers):
            order = np.argsort(ranks[f, layer].ravel())  # back to front inside the layer
            for flat in order:
                i, j = divmod(int(flat), gw)
                for r in range(k):
                    for c in range(k):
                        y, x = i * geom.cell - geom.pad + r, j * geom.cell - geom.pad + c
                        if 0 <= y < geom.canvas_h and 0 <= x < geom.canvas_w and placed[f, layer, i, j, r, c, 3]:
                            expected[f, y, x] = ids[f, layer, i, j]
    np.testing.assert_array_equal(got, expected)


def test_oracle_dictionary_on_the_synthetic_game_scores_perfectly():
    """One 'dictionary sprite' per ground-truth (class, pose): matching recovers the classes, IoUs are 1."""
    from spritejax.data import synthetic

    ds = synthetic.generate(20, (32, 32), seed=0)
    poses_no = ds.meta["pose_no"]
    frame_n11 = np.arange(20)[:, None, None]
    obj_nhw = np.maximum(ds.instance_ids_nhw - 1, 0)
    sprite_nhw = np.where(ds.instance_ids_nhw > 0, ds.class_ids_nhw * 4 + poses_no[frame_n11, obj_nhw], -1)
    num_sprites = 4 * len(ds.class_names)
    assignment = metrics.match_sprites(sprite_nhw, ds.class_ids_nhw, num_sprites)
    shown = assignment >= 0
    np.testing.assert_array_equal(assignment[shown], (np.arange(num_sprites) // 4)[shown])
    rep = metrics.segmentation_report(sprite_nhw, ds.class_ids_nhw, num_sprites, ds.class_names)
    assert rep["iou_multiclass"] == 1.0 and rep["iou_binary"] == 1.0
    coin = ds.class_names.index("coin")
    missed = np.where(ds.class_ids_nhw == coin, -1, sprite_nhw)  # a model that never finds the coins
    rep = metrics.segmentation_report(missed, ds.class_ids_nhw, num_sprites, ds.class_names)
    fg, coins = np.count_nonzero(ds.class_ids_nhw), np.count_nonzero(ds.class_ids_nhw == coin)
    assert rep["iou_binary"] == pytest.approx((fg - coins) / fg)
    assert rep["iou_per_class"]["coin"] == 0.0
    assert rep["iou_multiclass"] == pytest.approx(4 / 5)  # five classes, one at IoU 0
