"""edit: each operation changes exactly the pixels it should, on a hand-made decomposition rendered for real."""

import numpy as np
import pytest

from spritejax import edit, render
from spritejax.errors import UserError

GEOM = render.Geometry(16, 16, k=8, layers=2)  # cell 4, 4×4 anchors, pad 2
RED, GREEN, BLUE, GREY = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (0.5, 0.5, 0.5)


def _square_sprite(colour):
    """An 8×8 sprite whose opaque 4×4 centre covers exactly its anchor's cell."""
    s = np.zeros((8, 8, 4), np.float32)
    s[..., :3] = colour
    s[2:6, 2:6, 3] = 1.0
    return s


SPRITES = np.stack([_square_sprite(c) for c in (RED, GREEN, BLUE)])


def _decomposition():
    on = np.zeros((2, 4, 4), bool)
    ids = np.zeros((2, 4, 4), np.int32)
    on[0, 1, 1], ids[0, 1, 1] = True, 0  # red on cell (1,1): canvas [4:8, 4:8]
    on[1, 2, 2], ids[1, 2, 2] = True, 1  # green on cell (2,2): canvas [8:12, 8:12]
    ranks = np.broadcast_to(np.arange(16).reshape(4, 4), (2, 4, 4)).astype(np.int32)
    return edit.Decomposition(ids, on, np.zeros((2, 4, 4, 2), np.float32), ranks,
                              np.full((16, 16, 3), 0.5, np.float32))


def _recon(dec, sprites=SPRITES, geom=GEOM):
    return np.asarray(edit.render_decomposition(dec, sprites, geom).recon_bhw3[0])


def _changed(a, b):
    return np.any(np.abs(a - b) > 1e-5, axis=-1)


def _region(rows, cols):
    mask = np.zeros((16, 16), bool)
    mask[rows, cols] = True
    return mask


def test_unedited_decomposition_renders_the_hand_made_scene():
    recon = _recon(_decomposition())
    np.testing.assert_allclose(recon[4:8, 4:8], np.broadcast_to(RED, (4, 4, 3)), atol=1e-6)
    np.testing.assert_allclose(recon[8:12, 8:12], np.broadcast_to(GREEN, (4, 4, 3)), atol=1e-6)
    elsewhere = ~(_region(slice(4, 8), slice(4, 8)) | _region(slice(8, 12), slice(8, 12)))
    np.testing.assert_allclose(recon[elsewhere], 0.5, atol=1e-6)


def test_delete_shows_background_exactly_where_the_sprite_was():
    dec = _decomposition()
    before, after = _recon(dec), _recon(edit.delete(dec, (0, 1, 1)))
    np.testing.assert_array_equal(_changed(before, after), _region(slice(4, 8), slice(4, 8)))
    np.testing.assert_allclose(after[4:8, 4:8], 0.5, atol=1e-6)
    assert dec.on_lhw[0, 1, 1]  # edits are pure: the input is untouched


def test_delete_reveals_the_sprite_behind():
    dec = _decomposition()
    on, ids = dec.on_lhw.copy(), dec.sprite_ids_lhw.copy()
    on[1, 1, 1], ids[1, 1, 1] = True, 2  # blue in front of red (layer 1)
    dec = edit.Decomposition(ids, on, dec.offsets_lhw2, dec.ranks_lhw, dec.background_hw3)
    np.testing.assert_allclose(_recon(dec)[5, 5], BLUE, atol=1e-6)
    np.testing.assert_allclose(_recon(edit.delete(dec, (1, 1, 1)))[5, 5], RED, atol=1e-6)


def test_move_by_whole_cells_shifts_the_sprite():
    dec = _decomposition()
    moved = edit.move(dec, (0, 1, 1), dx=4, dy=8, cell=GEOM.cell)
    before, after = _recon(dec), _recon(moved)
    new_region = _region(slice(12, 16), slice(8, 12))
    np.testing.assert_array_equal(_changed(before, after), _region(slice(4, 8), slice(4, 8)) | new_region)
    np.testing.assert_allclose(after[new_region], np.broadcast_to(RED, (16, 3)), atol=1e-6)
    assert moved.active == [(0, 3, 2), (1, 2, 2)]
    np.testing.assert_allclose(moved.offsets_lhw2[0, 3, 2], [0.0, 0.0])


def test_move_by_sub_cell_pixels_uses_an_offset():
    moved = edit.move(_decomposition(), (0, 1, 1), dx=2, dy=-1, cell=GEOM.cell)
    after = _recon(moved)
    red_now = np.all(np.abs(after - RED) < 1e-5, axis=-1)
    np.testing.assert_array_equal(red_now, _region(slice(3, 7), slice(6, 10)))
    ((l, i, j),) = [a for a in moved.active if moved.sprite_ids_lhw[a] == 0]
    assert (i, j) == (1, 2)
    np.testing.assert_allclose(moved.offsets_lhw2[l, i, j], [-2.0, -1.0])


def test_move_onto_a_busy_anchor_uses_a_free_layer_and_goes_in_front():
    dec = _decomposition()
    moved = edit.move(dec, (1, 2, 2), dx=-4, dy=-4, cell=GEOM.cell)  # green onto red's cell, layer 1 is free
    assert moved.on_lhw[1, 1, 1] and moved.on_lhw[0, 1, 1]
    np.testing.assert_allclose(_recon(moved)[5, 5], GREEN, atol=1e-6)
    moved_again = edit.move(moved, (1, 1, 1), dx=0, dy=0, cell=GEOM.cell)
    np.testing.assert_array_equal(np.sort(moved_again.ranks_lhw[1].ravel()), np.arange(16))
    assert moved_again.ranks_lhw[1, 1, 1] == 15


def test_swap_and_set_sprite():
    dec = _decomposition()
    swapped = _recon(edit.swap(dec, (0, 1, 1), (1, 2, 2)))
    np.testing.assert_allclose(swapped[5, 5], GREEN, atol=1e-6)
    np.testing.assert_allclose(swapped[9, 9], RED, atol=1e-6)
    blue = _recon(edit.set_sprite(dec, (1, 2, 2), 2, num_sprites=3))
    np.testing.assert_allclose(blue[9, 9], BLUE, atol=1e-6)
    np.testing.assert_allclose(blue[5, 5], RED, atol=1e-6)


def test_replace_sprite_from_png(tmp_path):
    import imageio.v3 as iio

    rgba = np.zeros((4, 4, 4), np.uint8)  # a 4×4 PNG, upscaled to k=8: the centre 2×2 → centre 4×4
    rgba[1:3, 1:3] = (255, 255, 0, 255)
    path = tmp_path / "yellow.png"
    iio.imwrite(path, rgba)
    new_sprites = edit.replace_sprite(SPRITES, 0, edit.load_rgba(str(path), k=8))
    np.testing.assert_array_equal(SPRITES[0, 3, 3, :3], RED)  # original dictionary untouched
    after = _recon(_decomposition(), new_sprites)
    np.testing.assert_array_equal(_changed(_recon(_decomposition()), after), _region(slice(4, 8), slice(4, 8)))
    np.testing.assert_allclose(after[4:8, 4:8], np.broadcast_to((1.0, 1.0, 0.0), (4, 4, 3)), atol=1e-6)


def test_user_errors(tmp_path):
    dec = _decomposition()
    with pytest.raises(UserError, match="switch is off"):
        edit.delete(dec, (0, 0, 0))
    with pytest.raises(UserError, match="outside"):
        edit.delete(dec, (2, 0, 0))
    with pytest.raises(UserError, match="off the canvas"):
        edit.move(dec, (0, 1, 1), dx=-20, dy=0, cell=GEOM.cell)
    with pytest.raises(UserError, match="8×8 RGBA"):
        edit.replace_sprite(SPRITES, 0, np.zeros((4, 4, 4)))
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(UserError, match="cannot read"):
        edit.load_rgba(str(tmp_path / "bad.png"), 8)


def test_unedited_decomposition_of_a_real_model_matches_its_hard_reconstruction():
    import jax

    from spritejax import config
    from spritejax.data import synthetic
    from spritejax.inference import EVAL_STREAM, frame_keys
    from spritejax.model import SpriteModel

    cfg = config.load("tiny", ["canvas=(16, 16)"])
    model = SpriteModel.from_config(cfg)
    frames = synthetic.generate(2, (16, 16), seed=1, sprite_size=8).frames_nhw3
    params = model.init(jax.random.key(0), frames)
    keys = frame_keys(0, EVAL_STREAM, np.arange(2))
    decs = edit.decompose(model, params, frames, keys)
    expected = np.asarray(model.apply(params, frames, keys, mode="hard").recon_bhw3)
    sprites = model.decode_sprites(params)
    for b, dec in enumerate(decs):
        np.testing.assert_allclose(_recon(dec, sprites, model.geom), expected[b], atol=1e-5)
    dec = max(decs, key=lambda d: len(d.active))
    assert dec.active, "an untrained model switches some anchors on"
    after = _recon(edit.delete(dec, dec.active[0]), sprites, model.geom)
    assert np.count_nonzero(_changed(after, _recon(dec, sprites, model.geom))) > 0
