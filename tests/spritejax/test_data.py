"""spritejax.data: batch iterator, split, synthetic game ground truth, image/video loaders."""

import json
import os
import re
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spritejax.data import BatchIterator, holdout_split, load_dataset
from spritejax.errors import UserError

# ---------------------------------------------------------------- iterator

@settings(max_examples=40, deadline=None)
@given(num_frames=st.integers(1, 40), batch_size=st.integers(1, 12), seed=st.integers(0, 2**31))
def test_iterator_epochs_cover_every_frame_once(num_frames, batch_size, seed):
    it = BatchIterator(num_frames, batch_size, seed)
    steps = num_frames * 2  # 2 * batch_size epochs worth of positions: a multiple of num_frames
    stream = np.concatenate([it.next() for _ in range(steps)])
    epochs = stream.reshape(-1, num_frames)
    for epoch in epochs:
        np.testing.assert_array_equal(np.sort(epoch), np.arange(num_frames))


@settings(max_examples=40, deadline=None)
@given(num_frames=st.integers(1, 30), batch_size=st.integers(1, 10), seed=st.integers(0, 1000),
       stop=st.integers(0, 25))
def test_iterator_state_round_trip_continues_identically(num_frames, batch_size, seed, stop):
    it = BatchIterator(num_frames, batch_size, seed)
    for _ in range(stop):
        it.next()
    state = json.loads(json.dumps(it.get_state()))
    expected = [it.next() for _ in range(5)]
    resumed = BatchIterator(num_frames, batch_size, seed)
    resumed.set_state(state)
    for want in expected:
        np.testing.assert_array_equal(resumed.next(), want)


@settings(max_examples=30, deadline=None)
@given(num_frames=st.integers(1, 30), per_process=st.integers(1, 4), process_count=st.sampled_from([1, 2, 4]),
       seed=st.integers(0, 1000), step=st.integers(0, 20))
def test_process_slices_partition_the_global_batch(num_frames, per_process, process_count, seed, step):
    batch_size = per_process * process_count
    its = [BatchIterator(num_frames, batch_size, seed, p, process_count) for p in range(process_count)]
    for it in its:
        it.set_state({"step": step})
    want = its[0].global_indices()
    got = np.concatenate([it.next() for it in its])
    np.testing.assert_array_equal(got, want)
    single = BatchIterator(num_frames, batch_size, seed)
    single.set_state({"step": step})
    np.testing.assert_array_equal(single.next(), want)


def test_iterator_rejects_bad_settings():
    with pytest.raises(UserError, match="divisible"):
        BatchIterator(10, 6, 0, process_index=0, process_count=4)
    with pytest.raises(UserError, match="empty"):
        BatchIterator(0, 2, 0)
    it = BatchIterator(10, 2, 0)
    with pytest.raises(UserError, match="batch_size=4"):
        it.set_state({"step": 3, "num_frames": 10, "batch_size": 4, "seed": 0})


def test_seeds_give_different_orders():
    a = np.concatenate([BatchIterator(50, 10, 1).next() for _ in range(1)])
    b = np.concatenate([BatchIterator(50, 10, 2).next() for _ in range(1)])
    assert not np.array_equal(a, b)


def test_holdout_split_is_deterministic_and_disjoint():
    train, test = holdout_split(100, 0.2, 7)
    assert len(test) == 20 and len(train) == 80
    assert not set(train) & set(test)
    np.testing.assert_array_equal(holdout_split(100, 0.2, 7)[1], test)
    assert not np.array_equal(holdout_split(100, 0.2, 8)[1], test)
    assert len(holdout_split(5, 0.0, 0)[1]) == 0
    with pytest.raises(UserError, match="holdout"):
        holdout_split(10, 1.0, 0)


def test_load_dataset_rejects_unknown_source_and_missing_path():
    with pytest.raises(UserError, match="data.source"):
        load_dataset({"source": "webcam"}, (16, 16))
    with pytest.raises(UserError, match="data.path"):
        load_dataset({"source": "folder", "path": None}, (16, 16))


# ---------------------------------------------------------------- synthetic game

from spritejax.data import synthetic  # noqa: E402


def _naive_render(ds, t):
    """Re-render frame t object by object with plain loops: the reference the vectorised generator must match."""
    meta = ds.meta
    h, w = ds.frames_nhw3.shape[1:3]
    if meta["background"] == "solid":
        frame = np.broadcast_to(meta["bg_color"], (h, w, 3)).copy()
    else:
        tex = meta["texture_hw3"]
        frame = tex[:, (meta["scroll_n"][t] + np.arange(w)) % tex.shape[1]].copy()
    inst = np.zeros((h, w), np.int32)
    for obj in meta["draw_order"]:
        name = synthetic.CLASSES[meta["object_class"][obj] - 1]
        sprite = meta["sprites"][name][meta["pose_no"][t, obj]]
        y0, x0 = meta["top_left_no2"][t, obj]
        for r in range(sprite.shape[0]):
            for c in range(sprite.shape[1]):
                y, x = y0 + r, x0 + c
                if 0 <= y < h and 0 <= x < w and sprite[r, c, 3] > 0.5:
                    frame[y, x] = sprite[r, c, :3]
                    inst[y, x] = obj + 1
    return frame, inst


@pytest.mark.parametrize("opts", [{}, {"background": "texture", "placement": "grid", "scroll_speed": 1.5}])
def test_synthetic_ground_truth_matches_a_naive_render(opts):
    ds = synthetic.generate(12, (24, 28), seed=3, sprite_size=8, **opts)
    assert ds.frames_nhw3.shape == (12, 24, 28, 3) and ds.frames_nhw3.dtype == np.float32
    for t in (0, 5, 11):
        frame, inst = _naive_render(ds, t)
        np.testing.assert_array_equal(ds.frames_nhw3[t], frame.astype(np.float32))
        np.testing.assert_array_equal(ds.instance_ids_nhw[t], inst)
    classes = np.concatenate([[0], ds.meta["object_class"]])[ds.instance_ids_nhw]
    np.testing.assert_array_equal(ds.class_ids_nhw, classes)
    assert ds.class_names[0] == "background" and len(ds.class_names) == len(synthetic.CLASSES) + 1


def test_synthetic_background_pixels_equal_the_background():
    ds = synthetic.generate(20, (32, 32), seed=1, background="texture")
    bg = ds.class_ids_nhw == 0
    assert 0.2 < bg.mean() < 0.98  # sprites present, background visible
    tex = ds.meta["texture_hw3"]
    cols = (ds.meta["scroll_n"][:, None] + np.arange(32)) % tex.shape[1]
    expected = tex[:, cols].transpose(1, 0, 2, 3)
    np.testing.assert_array_equal(ds.frames_nhw3[bg], expected[bg])
    assert not np.array_equal(expected[0], expected[1])  # it scrolls
    solid = synthetic.generate(5, (32, 32), seed=1)
    np.testing.assert_allclose(solid.frames_nhw3[solid.class_ids_nhw == 0], np.broadcast_to(
        synthetic.DEFAULTS["bg_color"], ((solid.class_ids_nhw == 0).sum(), 3)), atol=1e-7)


def test_synthetic_is_deterministic_in_the_seed():
    a = synthetic.generate(8, (32, 32), seed=5)
    b = synthetic.generate(8, (32, 32), seed=5)
    c = synthetic.generate(8, (32, 32), seed=6)
    np.testing.assert_array_equal(a.frames_nhw3, b.frames_nhw3)
    np.testing.assert_array_equal(a.instance_ids_nhw, b.instance_ids_nhw)
    assert not np.array_equal(a.frames_nhw3, c.frames_nhw3)


def test_sprite_sheet_sizes_and_animation():
    sheet = synthetic.sprite_sheet(16)
    for name, poses in sheet.items():
        assert poses.shape[0] == synthetic.NUM_POSES[name]
        assert max(poses.shape[1:3]) <= 16 and set(np.unique(poses[..., 3])) <= {0.0, 1.0}
        assert poses[..., 3].sum(axis=(1, 2)).min() > 0
        for p in range(1, len(poses)):
            assert not np.array_equal(poses[p], poses[0]), name
    sizes = {poses.shape[1:3] for poses in sheet.values()}
    assert len(sizes) >= 4


def test_grid_placement_puts_box_centres_on_cell_centres():
    ds = synthetic.generate(10, (64, 64), seed=2, placement="grid", sprite_size=16, jitter=0)
    cell = 8
    for obj, cls in enumerate(ds.meta["object_class"]):
        sh, sw = ds.meta["sprites"][synthetic.CLASSES[cls - 1]].shape[1:3]
        centre = ds.meta["top_left_no2"][:, obj] + np.array([sh, sw]) / 2
        offset = np.mod(centre - cell / 2, cell)
        assert np.all(np.minimum(offset, cell - offset) <= 0.5)


def test_objects_move_and_animate():
    ds = synthetic.generate(30, (64, 64), seed=0)
    moved = np.any(ds.meta["top_left_no2"] != ds.meta["top_left_no2"][:1], axis=(0, 2))
    assert moved.sum() >= 5
    assert len(np.unique(ds.meta["pose_no"])) == 4


def test_synthetic_rejects_bad_options():
    with pytest.raises(UserError, match="unknown synthetic game option"):
        synthetic.generate(2, (32, 32), 0, colour="red")
    with pytest.raises(UserError, match="unknown class"):
        synthetic.generate(2, (32, 32), 0, counts={"dragon": 1})
    with pytest.raises(UserError, match="exceeds"):
        synthetic.generate(2, (32, 32), 0, sprite_size=64)


def test_load_dataset_synthetic_applies_num_frames_and_holdout():
    cfg = {"source": "synthetic", "num_frames": 20, "seed": 4, "holdout": 0.25,
           "synthetic": {"background": "texture"}}
    ds = load_dataset(cfg, (32, 32))
    assert ds.num_frames == 20 and len(ds.test_idx) == 5 and len(ds.train_idx) == 15
    assert ds.meta["background"] == "texture"


# ---------------------------------------------------------------- image folders, videos, crops

import imageio.v3 as iio  # noqa: E402
import PIL.Image  # noqa: E402

from spritejax.data import frames as frames_mod  # noqa: E402


def _write_pngs(folder, images):
    folder.mkdir(exist_ok=True)
    for i, image in enumerate(images):
        iio.imwrite(folder / f"frame{i}.png", image)
    return folder


def test_area_and_nearest_fit_hand_computed():
    image = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1).repeat(3, -1)
    area = frames_mod.fit_to_canvas(image, (2, 2), "area")[0, ..., 0]
    np.testing.assert_allclose(area, [[2.5, 4.5], [10.5, 12.5]])  # means of the 2×2 blocks
    nearest = frames_mod.fit_to_canvas(image, (2, 2), "nearest")[0, ..., 0]
    np.testing.assert_array_equal(nearest, [[5, 7], [13, 15]])  # source pixel under each output centre (1.0, 3.0)
    wide = np.arange(12, dtype=np.float32).reshape(1, 2, 6, 1).repeat(3, -1)
    np.testing.assert_array_equal(frames_mod.fit_to_canvas(wide, (2, 2), "area")[0, ..., 0],
                                  [[2, 3], [8, 9]])  # cover scale 1, centre crop of columns 2..3
    np.testing.assert_allclose(frames_mod.fit_to_canvas(wide, (2, 2), "area", fit="stretch")[0, ..., 0],
                               [[1, 4], [7, 10]])  # means of 1×3 strips
    with pytest.raises(UserError, match="data.fit"):
        frames_mod.fit_to_canvas(wide, (2, 2), "area", fit="squash")


def test_load_folder_reads_pngs_in_natural_order(tmp_path):
    rng = np.random.default_rng(0)
    images = [(rng.random((40, 60, 3)) * 255).astype(np.uint8) for _ in range(11)]
    folder = _write_pngs(tmp_path / "f", images)
    (folder / "notes.txt").write_text("not an image")
    ds = load_dataset({"source": "folder", "path": str(folder), "resize": "nearest", "holdout": 0.0},
                      (20, 20))
    assert ds.frames_nhw3.shape == (11, 20, 20, 3) and ds.class_ids_nhw is None
    assert [os.path.basename(f) for f in ds.meta["files"]][:3] == ["frame0.png", "frame1.png", "frame2.png"]
    np.testing.assert_array_equal(ds.frames_nhw3[10], images[10][1::2, 11:51:2] / np.float32(255))
    assert load_dataset({"source": "folder", "path": str(folder), "num_frames": 4}, (20, 20)).num_frames == 4


def test_load_folder_converts_gray_and_rgba(tmp_path):
    gray = np.full((16, 16), 128, np.uint8)
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., 0], rgba[:8, :, 3] = 200, 255
    folder = _write_pngs(tmp_path / "g", [gray, rgba])
    one_bit = np.zeros((16, 16), bool)
    one_bit[:, :4] = True
    PIL.Image.fromarray(one_bit).convert("1").save(folder / "frame2.png")
    ds = frames_mod.load_folder(str(folder), (16, 16))
    np.testing.assert_array_equal(ds.frames_nhw3[2, 0, :, 1], one_bit[0].astype(np.float32))
    np.testing.assert_allclose(ds.frames_nhw3[0], 128 / 255, atol=1e-6)
    np.testing.assert_allclose(ds.frames_nhw3[1, :8, :, 0], 200 / 255, atol=1e-6)
    assert ds.frames_nhw3[1, 8:].max() == 0  # transparent → black


def test_loaders_reject_bad_input_naming_the_file(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match="empty: folder holds no images"):
        frames_mod.load_folder(str(empty), (8, 8))
    with pytest.raises(UserError, match="nowhere: no such"):
        frames_mod.load_folder(str(tmp_path / "nowhere"), (8, 8))
    bad = _write_pngs(tmp_path / "bad", [np.zeros((16, 16, 3), np.uint8)])
    (bad / "frame1.png").write_bytes(b"definitely not a png")
    with pytest.raises(UserError, match=r"frame1\.png: cannot read image"):
        frames_mod.load_folder(str(bad), (8, 8))
    mixed = _write_pngs(tmp_path / "mixed", [np.zeros((16, 16, 3), np.uint8), np.zeros((16, 20, 3), np.uint8)])
    with pytest.raises(UserError, match=r"frame1\.png is 20x16 but .*frame0\.png is 16x16"):
        frames_mod.load_folder(str(mixed), (8, 8))
    small = _write_pngs(tmp_path / "small", [np.zeros((6, 30, 3), np.uint8)])
    with pytest.raises(UserError, match=r"frame0\.png is 30x6 .*smaller than the 8x8 canvas"):
        frames_mod.load_folder(str(small), (8, 8))
    assert frames_mod.load_folder(str(small), (8, 8), allow_upscale=True).frames_nhw3.shape == (1, 8, 8, 3)
    with pytest.raises(UserError, match="data.resize"):
        frames_mod.load_folder(str(mixed), (8, 8), num_frames=1, resize="bicubic")


def test_load_video_reads_an_mp4(tmp_path, no_fork_warning):
    num = 12
    t = np.arange(num)[:, None, None]
    video = np.zeros((num, 48, 64, 3), np.uint8)
    video[..., 0] = 40 + 15 * t  # the red level encodes the frame number
    video[..., 1] = 128
    path = tmp_path / "clip.mp4"
    iio.imwrite(path, video, plugin="FFMPEG", fps=10, macro_block_size=16)
    ds = load_dataset({"source": "video", "path": str(path), "holdout": 0.25}, (16, 16))
    assert ds.frames_nhw3.shape == (num, 16, 16, 3) and len(ds.test_idx) == 3
    red = ds.frames_nhw3[..., 0].mean(axis=(1, 2)) * 255
    np.testing.assert_allclose(red, 40 + 15 * np.arange(num), atol=6)  # lossy codec: a few levels
    with no_fork_warning():
        stepped = frames_mod.load_video(str(path), (16, 16), num_frames=3, step=3)
    np.testing.assert_allclose(stepped.frames_nhw3[..., 0].mean(axis=(1, 2)) * 255, [40, 85, 130], atol=6)


def test_load_video_rejects_missing_and_garbage_files(tmp_path):
    with pytest.raises(UserError, match="missing.mp4: no such video"):
        frames_mod.load_video(str(tmp_path / "missing.mp4"), (8, 8))
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00" * 1000)
    with pytest.raises(UserError, match="garbage.mp4: cannot read video"):
        frames_mod.load_video(str(garbage), (8, 8))
    with pytest.raises(UserError, match="is a folder.*data.source=folder"):
        frames_mod.load_video(str(tmp_path), (8, 8))
    with pytest.raises(UserError, match="garbage.mp4: not an image file.*data.source=video"):
        frames_mod.load_folder(str(garbage), (8, 8))


def test_random_crops_come_from_the_image(tmp_path):
    rng = np.random.default_rng(1)
    image = (rng.random((50, 70, 3)) * 255).astype(np.uint8)
    path = tmp_path / "photo.png"
    iio.imwrite(path, image)
    cfg = {"source": "folder", "path": str(path), "random_crop": True, "num_frames": 30, "seed": 3}
    ds = load_dataset(cfg, (16, 24))
    assert ds.frames_nhw3.shape == (30, 16, 24, 3)
    for crop, (_, y, x) in zip(ds.frames_nhw3, ds.meta["crops"]):
        np.testing.assert_array_equal(crop, image[y:y + 16, x:x + 24] / np.float32(255))
    assert len({tuple(c) for c in ds.meta["crops"]}) > 20
    np.testing.assert_array_equal(load_dataset(cfg, (16, 24)).frames_nhw3, ds.frames_nhw3)
    with pytest.raises(UserError, match=r"photo\.png is 70x50 .*too small"):
        load_dataset(cfg, (64, 64))


ATARI = {"source": "atari", "num_frames": 6, "seed": 0, "atari": {"frame_skip": 2, "start_noops": 0}}


def test_atari_source_without_ale_py_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ale_py", None)  # `import ale_py` now fails, as on a machine without it
    with pytest.raises(UserError, match=r"pip install -e '\.\[atari\]'"):
        load_dataset(ATARI, (64, 64))


def test_atari_source_runs():
    pytest.importorskip("ale_py")
    ds = load_dataset(ATARI, (64, 64))
    assert ds.frames_nhw3.shape == (6, 64, 64, 3) and ds.frames_nhw3.max() > 0


def test_data_options_come_from_the_config_schema(tmp_path):
    from spritejax import config

    small = _write_pngs(tmp_path / "small", [np.zeros((6, 30, 3), np.uint8)])
    with pytest.raises(UserError, match="data.allow_upscale=True"):
        load_dataset(config.load("tiny", ["data.source=folder", f"data.path={small}"]).data, (8, 8))
    cfg = config.load("tiny", ["data.source=folder", f"data.path={small}", "data.allow_upscale=True",
                                "data.resize=nearest", "data.fit=stretch", "data.holdout=0.0"])
    assert load_dataset(cfg.data, (8, 8)).frames_nhw3.shape == (1, 8, 8, 3)
    with pytest.raises(UserError, match="unknown field .data.resise"):
        load_dataset({"source": "folder", "path": str(small), "resise": "nearest"}, (8, 8))
    with pytest.raises(UserError, match="unknown data.atari option.*frameskip"):
        load_dataset({"source": "atari", "num_frames": 2, "atari": {"frameskip": 2}}, (8, 8))


@pytest.mark.parametrize("source, path", [("video", "clips/a.mp4"), ("folder", "frames")])
def test_a_missing_relative_path_says_where_it_looked(tmp_path, monkeypatch, source, path):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match=f"{path}.*looked for {re.escape(str(tmp_path / path))}"):
        load_dataset({"source": source, "path": path}, (8, 8))


def test_capped_footage_says_how_much_was_used(tmp_path):
    from spritejax.data import capped_note

    folder = _write_pngs(tmp_path / "f", [np.zeros((16, 16, 3), np.uint8)] * 5)
    ds = load_dataset({"source": "folder", "path": str(folder), "num_frames": 3}, (8, 8))
    assert ds.num_frames == 3 and ds.meta["frames_available"] == 5
    assert re.search(r"using 3 of the 5 frames in .*f \(data\.num_frames=3", capped_note(ds))
    assert capped_note(load_dataset({"source": "folder", "path": str(folder), "num_frames": 0}, (8, 8))) is None
    assert capped_note(load_dataset({"source": "synthetic", "num_frames": 4}, (16, 16))) is None

    path = tmp_path / "clip.mp4"
    iio.imwrite(path, np.zeros((30, 16, 16, 3), np.uint8), plugin="FFMPEG", fps=10, macro_block_size=16)
    video = load_dataset({"source": "video", "path": str(path), "num_frames": 4}, (8, 8))
    assert video.num_frames == 4 and abs(video.meta["frames_available"] - 30) <= 1
    assert re.search(r"using 4 of about \d+ frames in .*clip\.mp4", capped_note(video))
    stepped = load_dataset({"source": "video", "path": str(path), "num_frames": 4, "video_step": 3}, (8, 8))
    assert abs(stepped.meta["frames_available"] - 10) <= 1
    assert capped_note(load_dataset({"source": "video", "path": str(path), "num_frames": 0}, (8, 8))) is None


def _write_labelled_folder(folder, dataset, names_file=True):
    """The frames as PNGs with their class / instance maps beside them, as docs/data.md lays them out."""
    import imageio.v3 as iio

    (folder / "classes").mkdir(parents=True)
    (folder / "instances").mkdir()
    for i, frame in enumerate(dataset.frames_nhw3):
        iio.imwrite(folder / f"f{i}.png", np.rint(frame * 255).astype(np.uint8))
        iio.imwrite(folder / "classes" / f"f{i}.png", dataset.class_ids_nhw[i].astype(np.uint8))
        iio.imwrite(folder / "instances" / f"f{i}.png", dataset.instance_ids_nhw[i].astype(np.uint16))
    if names_file:
        (folder / "classes.txt").write_text("\n".join(dataset.class_names) + "\n")


def test_a_labelled_frame_folder_gives_ground_truth(tmp_path):
    from spritejax.data import synthetic

    game = synthetic.generate(5, (32, 48), 0)
    _write_labelled_folder(tmp_path / "clip", game)
    ds = load_dataset({"source": "folder", "path": str(tmp_path / "clip"), "num_frames": 0}, (32, 48))
    np.testing.assert_array_equal(ds.class_ids_nhw, game.class_ids_nhw)
    np.testing.assert_array_equal(ds.instance_ids_nhw, game.instance_ids_nhw)
    assert ds.class_names == game.class_names and ds.has_ground_truth
    half = load_dataset({"source": "folder", "path": str(tmp_path / "clip"), "num_frames": 0, "resize": "nearest"},
                        (16, 24))  # fitted as the frames are: the centre pixel of each 2×2 block
    np.testing.assert_array_equal(half.class_ids_nhw, game.class_ids_nhw[:, 1::2, 1::2])
    (tmp_path / "clip" / "classes" / "f3.png").unlink()
    with pytest.raises(UserError, match=r"classes/f3\.png: missing"):
        load_dataset({"source": "folder", "path": str(tmp_path / "clip"), "num_frames": 0}, (32, 48))
