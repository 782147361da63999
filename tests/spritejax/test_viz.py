"""viz: pure image helpers on hand-made inputs (values checked by hand), t-SNE ordering, file writers."""

import numpy as np
import pytest

from spritejax import inference, reports, viz


def test_checkerboard_pattern():
    board = viz.checkerboard(4, 6, cell=2, light=0.9, dark=0.1)
    assert board.shape == (4, 6, 3)
    expected_row0 = [0.9, 0.9, 0.1, 0.1, 0.9, 0.9]
    np.testing.assert_allclose(board[0, :, 0], expected_row0, rtol=1e-6)
    np.testing.assert_allclose(board[2, :, 1], [0.1, 0.1, 0.9, 0.9, 0.1, 0.1], rtol=1e-6)


def test_over_checkerboard_values():
    rgba = np.zeros((2, 2, 4), np.float32)
    rgba[0, 0] = [1.0, 0.0, 0.0, 1.0]  # opaque red stays red
    rgba[0, 1] = [0.0, 1.0, 0.0, 0.0]  # fully transparent: the (dark) board square
    rgba[1, 0] = [0.0, 0.0, 1.0, 0.5]  # half blue over the dark square
    out = viz.over_checkerboard(rgba, cell=1)
    np.testing.assert_allclose(out[0, 0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(out[0, 1], [0.6, 0.6, 0.6], rtol=1e-6)  # (0+1)%2 → dark
    np.testing.assert_allclose(out[1, 0], [0.3, 0.3, 0.8], rtol=1e-6)  # .5*blue + .5*.6
    np.testing.assert_allclose(out[1, 1], [0.85, 0.85, 0.85], rtol=1e-6)


def test_upscale_nearest_and_uint8():
    img = np.array([[[0.0], [1.0]]])
    up = viz.upscale_nearest(img, 3)
    assert up.shape == (3, 6, 1)
    np.testing.assert_array_equal(up[:, :3, 0], 0.0)
    np.testing.assert_array_equal(up[:, 3:, 0], 1.0)
    np.testing.assert_array_equal(viz.to_uint8(np.array([-1.0, 0.5, 2.0])), [0, 128, 255])


def test_tile_layout():
    a, b, c = (np.full((2, 3, 3), v, np.float32) for v in (0.1, 0.2, 0.3))
    out = viz.tile([a, b, c], cols=2, gap=1, fill=1.0)
    assert out.shape == (1 + 2 + 1 + 2 + 1, 1 + 3 + 1 + 3 + 1, 3)
    np.testing.assert_allclose(out[1:3, 1:4], 0.1)
    np.testing.assert_allclose(out[1:3, 5:8], 0.2)
    np.testing.assert_allclose(out[4:6, 1:4], 0.3)
    np.testing.assert_allclose(out[4:6, 5:8], 1.0)  # empty slot keeps the fill
    np.testing.assert_allclose(out[0], 1.0)


def test_used_sprites_counts_only_switched_on():
    ids = np.array([[[[0, 1], [2, 2]]], [[[2, 4, ], [0, 0]]]])  # b=2, l=1, 2×2
    switches = np.array([[[[0.9, 0.2], [0.6, 0.7]]], [[[0.1, 0.8], [0.4, 0.51]]]])
    counts = inference.used_sprites(ids, switches, num_sprites=6)
    np.testing.assert_array_equal(counts, [2, 0, 2, 0, 1, 0])


def test_tsne_orders_clusters_contiguously_and_deterministically():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(5, 16)) * 4.0
    x = np.concatenate([c + rng.normal(size=(12, 16)) for c in centres])
    labels = np.repeat(np.arange(5), 12)
    perm = rng.permutation(len(x))
    y = viz.tsne_1d(x[perm])
    assert y.shape == (60,)
    np.testing.assert_array_equal(y, viz.tsne_1d(x[perm]))
    runs = labels[perm][np.argsort(y)]
    assert 1 + np.count_nonzero(runs[1:] != runs[:-1]) == 5  # each cluster in one contiguous block


def test_tsne_small_inputs():
    assert viz.tsne_1d(np.zeros((0, 3))).shape == (0,)
    assert viz.tsne_1d(np.ones((1, 3))).shape == (1,)
    assert viz.tsne_1d(np.ones((2, 3))).shape == (2,)
    assert np.all(np.isfinite(viz.tsne_1d(np.ones((5, 3)))))  # identical points: no NaN


def test_sprite_order_drops_unused_and_groups_similar():
    latents = np.array([[0.0, 0.0], [10.0, 10.0], [0.1, 0.0], [10.1, 10.0], [0.0, 0.2], [5.0, -5.0]])
    used = np.array([3, 1, 0, 2, 5, 0])
    order = viz.sprite_order(latents, used)
    assert sorted(order.tolist()) == [0, 1, 3, 4]
    groups = [0 if i in (0, 4) else 1 for i in order]
    assert groups in ([0, 0, 1, 1], [1, 1, 0, 0])
    assert sorted(viz.sprite_order(latents, np.zeros(6)).tolist()) == list(range(6))  # none used: all shown


def test_sprite_sheet_shape_and_content():
    sprites = np.zeros((3, 4, 4, 4), np.float32)
    sprites[1, :, :, 0] = 1.0
    sprites[1, :, :, 3] = 1.0  # opaque red
    sheet = viz.sprite_sheet(sprites, [1, 0], scale=2, cols=2, cell=2)
    assert sheet.shape == (2 + 8 + 2, 2 + 8 + 2 + 8 + 2, 3)
    np.testing.assert_allclose(sheet[2:10, 2:10], np.broadcast_to([1.0, 0.0, 0.0], (8, 8, 3)))
    np.testing.assert_allclose(sheet[2:10, 12:20], viz.checkerboard(8, 8, 2))  # transparent sprite


def test_label_overlay_background_and_foreground():
    frame = np.full((2, 2, 3), 0.4, np.float32)
    labels = np.array([[-1, 0], [1, -1]])
    out = viz.label_overlay(frame, labels, num_labels=2, background=-1, opacity=1.0)
    np.testing.assert_allclose(out[0, 0], 0.2)
    np.testing.assert_allclose(out[0, 1], viz.palette(2)[0])
    np.testing.assert_allclose(out[1, 0], viz.palette(2)[1])
    assert not np.allclose(viz.palette(2)[0], viz.palette(2)[1])


@pytest.mark.parametrize("ext", [".gif", ".mp4"])
def test_write_animation_roundtrip(tmp_path, ext, no_fork_warning):
    import imageio.v3 as iio

    frames = np.zeros((3, 9, 11, 3), np.float32)
    for t in range(3):
        frames[t, :, :, t] = 1.0
    with no_fork_warning():  # ffmpeg runs as a subprocess: fork, then exec at once
        path = viz.write_animation(str(tmp_path / f"a{ext}"), frames, fps=4)
    back = iio.imread(path, index=None)
    assert back.shape[0] == 3
    assert abs(back.shape[1] - 9) <= 1 and abs(back.shape[2] - 11) <= 1
    assert back[1, 4, 5, 1] > 200 and back[1, 4, 5, 0] < 60  # second frame is green


def test_write_animation_rejects_unknown_extension(tmp_path):
    from spritejax.errors import UserError

    with pytest.raises(UserError):
        viz.write_animation(str(tmp_path / "a.avi"), np.zeros((2, 4, 4, 3)))


def test_over_checkerboard_premultiplied_matches_straight():
    straight = np.array([[[0.2, 0.4, 1.0, 0.5]]], np.float32)
    premult = straight.copy()
    premult[..., :3] *= 0.5
    np.testing.assert_allclose(viz.over_checkerboard(premult, premultiplied=True), viz.over_checkerboard(straight),
                               rtol=1e-6)


def test_index_html_and_json(tmp_path):
    import json

    page = viz.write_index_html(str(tmp_path / "index.html"), "Demo <1>", [("sheet & co", "sheet.png")],
                                {"psnr_hard": 31.234567, "iou": {"binary": 0.5}}, notes=["trained 10 steps"])
    text = open(page).read()
    assert '<img src="sheet.png"' in text and "sheet &amp; co" in text and "Demo &lt;1&gt;" in text
    assert "31.23" in text and "binary: 0.5" in text and "trained 10 steps" in text
    path = reports.write_json(str(tmp_path / "m.json"), {"a": np.float32(1.5), "b": np.arange(3), "c": float("nan"),
                                                     "d": (np.int64(2), np.bool_(True))})
    assert json.load(open(path)) == {"a": 1.5, "b": [0, 1, 2], "c": None, "d": [2, True]}
