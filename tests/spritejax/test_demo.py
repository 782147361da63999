"""The demo end to end in its reduced form (--quick: 16² canvas, 3 steps), then `eval` and `render` on its
workdir through the CLI: real training, real files (its MP4s read back by bmff, ffprobe and spritejax import)."""

import json
import os
import shutil
import subprocess

import imageio.v3 as iio
import numpy as np
import pytest

import bmff
from bmff import amd1, validate
from spritejax import cli, demo, export, nnr
from spritejax.checkpoint import load_workdir

REPORT_KEYS = {"psnr_soft", "psnr_hard", "psnr_hard_transform_soft", "psnr_hard_transform_hard",
               "psnr_background_only", "iou_multiclass", "iou_binary", "iou_per_class", "assignment",
               "sprites_used", "sprite_use_counts", "eval_split", "num_frames", "paper_figure6", "has_ground_truth",
               "active_anchors_per_frame", "visible_objects_per_frame"}
IMAGES = ("sprite_sheet.png", "dictionary.png", "reconstructions.png", "layers.png", "segmentation.png")


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert cli.main(["demo", "--out", str(out), "--quick", "--no-progress"]) == 0
    return out


def test_demo_writes_report_images_and_index(demo_dir, capsys):
    report = json.loads((demo_dir / "metrics.json").read_text())
    assert REPORT_KEYS <= set(report)
    assert report["has_ground_truth"] and report["eval_split"] == "test" and report["num_frames"] == 3
    for key in ("psnr_soft", "psnr_hard", "psnr_background_only"):
        assert 5.0 < report[key] < 80.0
    # IoUs computed (the game has ground truth) and consistent with what they are made of: the binary IoU of two
    # masks is at most the ratio of their areas, and the multiclass IoU is the mean of the per-class ones
    truth, pred = report["foreground_fraction_truth"], report["foreground_fraction_pred"]
    assert 0.0 < truth < 1.0 and 0.0 < pred < 1.0
    assert 0.0 < report["iou_binary"] <= min(truth, pred) / max(truth, pred)
    per_class = [v for v in report["iou_per_class"].values() if v is not None]
    assert per_class and all(0.0 <= v <= 1.0 for v in per_class)
    assert report["iou_multiclass"] == pytest.approx(np.mean(per_class))
    assert report["demo"]["quick"] and report["demo"]["train_steps"] == 3
    assert report["visible_objects_per_frame"] >= 1  # the synthetic game always shows objects
    assert len(report["sprite_use_counts"]) == 16 and report["sprites_used"] == sum(
        c > 0 for c in report["sprite_use_counts"])

    page = (demo_dir / "index.html").read_text()
    for name in IMAGES + ("input_vs_reconstruction.gif",):
        assert f'src="{name}"' in page
        assert (demo_dir / name).stat().st_size > 0
    assert "psnr_background_only" in page
    bg = f"{report['psnr_background_only']:.2f}"
    for key in ("psnr_hard", "psnr_soft", "iou_binary", "iou_multiclass", "sprites_used"):  # each with its meaning
        row = page[page.index(f"<th>{key}</th>"):].split("</tr>")[0]
        assert "higher is better" in row or "dictionary entries" in row, row
    assert f"the background alone gives {bg} dB" in page.split("<th>psnr_hard</th>")[1].split("</tr>")[0]
    assert page.count("<figcaption>") == page.count("<img ") >= len(IMAGES) and "<figcaption></figcaption>" not in page
    segmentation = iio.imread(demo_dir / "segmentation.png")
    reconstructions = iio.imread(demo_dir / "reconstructions.png")
    assert segmentation.shape[0] == reconstructions.shape[0]  # one row per shown frame in both
    assert segmentation.shape[1] > reconstructions.shape[1]  # ids | matched classes | true classes
    assert 1 <= iio.imread(demo_dir / "input_vs_reconstruction.gif", index=None).shape[0] <= 3  # GIF merges repeats
    assert (demo_dir / "workdir" / "config.json").exists()


def _video_samples(f: bmff.File) -> list[bytes]:
    (track,) = bmff.tracks.tracks(f)
    assert track.handler_type == "vide"
    return [bmff.tracks.read_sample(f, s) for s in bmff.tracks.samples(track.trak)]


def test_demo_model_files_hold_the_trained_model(demo_dir):
    """model.mp4 and game_with_model.mp4 are valid files whose NNR item is exactly the workdir's parameters; the
    embedded one keeps game.mp4's frames untouched and announces the post-filter."""
    record = json.loads((demo_dir / "export.json").read_text())
    assert record["identical_reconstructions_after_reload"] is True
    _, _, params = load_workdir(str(demo_dir / "workdir"))
    trained = nnr.flatten(params)
    for mode, name in (("standalone", "model.mp4"), ("embedded", "game_with_model.mp4")):
        path = demo_dir / name
        assert record[mode]["mode"] == mode and record[mode]["file_bytes"] == path.stat().st_size
        f = bmff.parse(path)
        assert [x for x in validate.run_checks(f) if x.severity == "error"] == []
        meta = amd1.find_file_meta(f, "nnet")
        assert amd1.item_types(meta) == {1: "nnr1", 2: "mime"}
        assert list(amd1.references(meta, "cdsc")) == [(2, [1])]
        loaded = nnr.flatten(export.load(path)[2])
        assert loaded.keys() == trained.keys()
        assert all(np.array_equal(loaded[k], trained[k]) for k in trained)
    assert bmff.tracks.tracks(bmff.parse(demo_dir / "model.mp4")) == []

    game, embedded = bmff.parse(demo_dir / "game.mp4"), bmff.parse(demo_dir / "game_with_model.mp4")
    assert _video_samples(embedded) == _video_samples(game)
    (track,) = bmff.tracks.tracks(embedded)
    (entry,) = bmff.tracks.sample_entries(track.trak)
    assert entry.type == "resv" and amd1.original_format(entry) == "avc1"
    assert list(amd1.nfcs_sample_groups(track.trak).values()) == [[1] * len(_video_samples(game))]  # every sample
    if shutil.which("ffprobe") is None:
        pytest.skip("ffprobe is not installed")
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,codec_tag_string,nb_frames",
                            "-of", "json", str(demo_dir / "game_with_model.mp4")],
                           check=True, capture_output=True, text=True).stdout
    train_frames = 9  # 12 frames, a quarter held out
    assert json.loads(probe)["streams"] == [{"codec_type": "video", "codec_tag_string": "resv",
                                             "nb_frames": str(train_frames)}]


def test_demo_rerun_resumes_same_config_and_refuses_another(demo_dir):
    from spritejax.errors import UserError

    demo._check_workdir(str(demo_dir / "workdir"), demo.demo_config(quick=True))  # same config: resumes
    with pytest.raises(UserError, match="another config"):
        demo.make_demo(str(demo_dir), steps=5, quick=True, progress=False)


def test_eval_and_render_cli_on_the_demo_workdir(demo_dir, tmp_path, capsys):
    workdir = str(demo_dir / "workdir")
    report_path = tmp_path / "report.json"
    assert cli.main(["eval", "--workdir", workdir, "--out", str(report_path), "--batch-size", "2"]) == 0
    report = json.loads(report_path.read_text())
    assert REPORT_KEYS <= set(report)
    demo_report = json.loads((demo_dir / "metrics.json").read_text())
    for key in ("psnr_hard", "psnr_soft", "psnr_background_only", "iou_binary"):  # batching changes nothing
        assert report[key] == pytest.approx(demo_report[key], abs=1e-4)
    assert "psnr_hard=" in capsys.readouterr().out

    out = tmp_path / "render"
    assert cli.main(["render", "--workdir", workdir, "--out", str(out), "--frames", "2"]) == 0
    assert set(IMAGES) <= set(os.listdir(out)) and (out / "index.html").exists()
    assert np.array_equal(iio.imread(out / "sprite_sheet.png"), iio.imread(demo_dir / "sprite_sheet.png"))


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert cli.main(["eval", "--workdir", str(tmp_path)]) == 2
    assert "not a training workdir" in capsys.readouterr().err
    assert cli.main(["demo", "--out", str(tmp_path / "x"), "--steps", "0"]) == 2


def test_eval_on_another_labelled_folder_and_on_chosen_frames(demo_dir, tmp_path, capsys):
    """`eval --data` reads a frame folder the model never saw (with class maps beside it: IoUs), `--frames`
    picks indices; mistakes in either are one-line errors."""
    from spritejax.data import synthetic

    game = synthetic.generate(6, (16, 16), 7, sprite_size=8, counts={"player": 1, "enemy": 1, "block": 1})
    clip = tmp_path / "clip"
    (clip / "classes").mkdir(parents=True)
    for i, frame in enumerate(game.frames_nhw3):
        iio.imwrite(clip / f"{i:03d}.png", np.rint(frame * 255).astype(np.uint8))
        iio.imwrite(clip / "classes" / f"{i:03d}.png", game.class_ids_nhw[i].astype(np.uint8))
    (clip / "classes.txt").write_text("\n".join(game.class_names))
    workdir = str(demo_dir / "workdir")
    out = tmp_path / "other.json"
    assert cli.main(["eval", "--workdir", workdir, "--data", str(clip), "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["num_frames"] == 6 and report["eval_split"] == f"every frame of {clip}"
    assert report["has_ground_truth"] and 0 <= report["iou_binary"] <= 1
    assert set(report["iou_per_class"]) <= set(game.class_names[1:])
    assert cli.main(["eval", "--workdir", workdir, "--data", str(clip), "--frames", "1:3,5", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["num_frames"] == 3
    assert cli.main(["eval", "--workdir", workdir, "--frames", "0,2", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["eval_split"] == "frames 0,2 of the training data"
    capsys.readouterr()
    for bad, message in ((["--frames", "0:99"], "names frame 12"), (["--frames", "x"], "not an index"),
                         (["--data", str(tmp_path / "nope")], "no such folder")):
        assert cli.main(["eval", "--workdir", workdir, *bad]) == 2
        assert message in capsys.readouterr().err
