"""spritejax.warmstart: the dictionary starts as the frames' recurring foreground objects."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from spritejax import warmstart

BG = np.array([0.2, 0.4, 0.8], np.float32)


def _sprite(h, w, rgb):
    s = np.zeros((h, w, 4), np.float32)
    s[..., :3], s[..., 3] = rgb, 1.0
    return s


def _frames(placements, n=1, size=32):
    """n frames of solid BG with (frame, sprite_hw4, top, left) pasted."""
    frames = np.broadcast_to(BG, (n, size, size, 3)).copy()
    for f, s, top, left in placements:
        frames[f, top:top + s.shape[0], left:left + s.shape[1]] = s[..., :3]
    return frames


@settings(max_examples=20, deadline=None)
@given(top=st.integers(1, 25), left=st.integers(1, 25), h=st.integers(1, 6), w=st.integers(1, 6))
def test_a_crop_is_the_blob_centred_in_its_window(top, left, h, w):
    sprite = _sprite(h, w, (0.9, 0.1, 0.1))
    crops = warmstart.foreground_crops(_frames([(0, sprite, top, left)]), BG, 8, 5, seed=0)
    assert len(crops) == 1  # one crop per blob and frame
    for crop in crops:
        assert crop[..., 3].sum() == h * w
        rows, cols = np.nonzero(crop[..., 3])
        assert (rows.min() + rows.max() + 1) // 2 == 4 and (cols.min() + cols.max() + 1) // 2 == 4
        np.testing.assert_allclose(crop[crop[..., 3] > 0][:, :3], np.broadcast_to([0.9, 0.1, 0.1], (h * w, 3)))


def test_every_object_is_sampled_once_per_frame_whatever_its_size():
    big, small = _sprite(6, 6, (0.9, 0.1, 0.1)), _sprite(2, 2, (0.1, 0.9, 0.1))
    frames = _frames([(f, s, top, 4) for f in range(3) for s, top in ((big, 2), (small, 20))], n=3)
    crops = warmstart.foreground_crops(frames, BG, 8, 100, seed=0)
    assert sorted(crop[..., 3].sum() for crop in crops) == [4, 4, 4, 36, 36, 36]
    assert len(warmstart.foreground_crops(frames, BG, 8, 4, seed=0)) == 4  # `count` caps the total


def test_frames_without_foreground_give_no_crops():
    assert warmstart.foreground_crops(_frames([]), BG, 8, 4, seed=0).shape == (0, 8, 8, 4)


def test_typical_keeps_every_recurring_pose_most_frequent_first_and_blends_last():
    """A small pose (2 px) next to a large one (16 px): k-means on squared error merged such poses; the leader
    clustering keeps both, ranks by frequency, and a one-off crop comes after them."""
    big, small = np.zeros((8, 8, 4), np.float32), np.zeros((8, 8, 4), np.float32)
    big[2:6, 2:6] = (0.9, 0.9, 0.1, 1.0)
    small[4, 3:5] = (0.9, 0.5, 0.1, 1.0)
    odd = big.copy()
    odd[2:6, 2:4, :3] = 0.0
    crops = np.stack([big] * 5 + [small] * 3 + [odd])
    picked = warmstart.typical(crops[np.random.default_rng(0).permutation(len(crops))], 4)
    np.testing.assert_array_equal(picked[0], big)
    np.testing.assert_array_equal(picked[1], small)
    np.testing.assert_array_equal(picked[2], odd)
    assert not picked[3].any()  # fewer clusters than entries: the rest is transparent


def test_warm_start_puts_the_scene_objects_in_the_dictionary():
    import jax

    from spritejax import config
    from spritejax.model import SpriteModel

    cfg = config.load("tiny", ["model.generator='pixels'", "model.num_sprites=4", "model.bg_color=(0.2, 0.4, 0.8)"])
    model = SpriteModel.from_config(cfg)
    red, green = _sprite(3, 4, (0.9, 0.1, 0.1)), _sprite(2, 2, (0.1, 0.9, 0.1))
    frames = _frames([(f, red, 3 + f, 5) for f in range(6)] + [(f, green, 20, 2 + 3 * f) for f in range(6)], n=6)
    params = warmstart.warm_start(model, model.init(jax.random.key(0)), frames, seed=0)
    sprites = np.asarray(model.decode_sprites(params))
    sizes = sorted(int(np.sum(s[..., 3] > 0.5)) for s in sprites)
    assert sizes == [0, 0, 4, 12]


def test_typical_skips_crops_of_two_touching_kept_sprites():
    big, small = np.zeros((8, 8, 4), np.float32), np.zeros((8, 8, 4), np.float32)
    big[2:6, 2:5] = (0.9, 0.9, 0.1, 1.0)
    small[3:5, 3:5] = (0.1, 0.5, 0.9, 1.0)
    both = np.zeros((8, 8, 4), np.float32)  # big at columns 1..3, small right beside it at columns 4..5
    both[2:6, 1:4] = (0.9, 0.9, 0.1, 1.0)
    both[3:5, 4:6] = (0.1, 0.5, 0.9, 1.0)
    picked = warmstart.typical(np.stack([big] * 4 + [small] * 3 + [both] * 2), 3)
    np.testing.assert_array_equal(picked[0], big)
    np.testing.assert_array_equal(picked[1], small)
    assert not picked[2].any()
