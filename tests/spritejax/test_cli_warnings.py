"""A run that learns nothing says so (through the real CLI): train and eval each print one warning line."""

import subprocess
import sys

import imageio.v3 as iio


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "spritejax", *args], capture_output=True, text=True, timeout=600)


def test_a_run_whose_switches_all_died_says_so_in_train_and_eval(tmp_path):
    workdir = str(tmp_path / "dead")
    # λsparse 1000 at lr 0.1: every switch is off within 20 steps, the background explains every frame
    train = _cli("train", "--config", "tiny", "--workdir", workdir, "--no-progress", "--set", "canvas=(16,16)",
                 "--set", "data.num_frames=16", "--set", "train.num_steps=20", "--set", "loss.finetune_steps=0",
                 "--set", "loss.lambda_sparse=1000.0", "--set", "optim.lr=0.1", "--set", "train.ckpt_every=20",
                 "--set", "train.sample_every=0")
    assert train.returncode == 0, train.stderr[-2000:]
    warnings = [line for line in train.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "no anchor is active" in warnings[0], train.stderr[-2000:]
    evaluated = _cli("eval", "--workdir", workdir)
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    warnings = [line for line in evaluated.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "no anchor is active in hard mode" in warnings[0], evaluated.stderr[-2000:]
    rendered = _cli("render", "--workdir", workdir, "--out", str(tmp_path / "pictures"))
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    assert rendered.stderr.count("\n") == 1 and "no sprite is used" in rendered.stderr, rendered.stderr
    sheet = iio.imread(tmp_path / "pictures" / "sprite_sheet.png")
    assert min(sheet.shape[:2]) > 1  # the whole dictionary, not a 1×1 sheet
    assert "Traceback" not in train.stderr + evaluated.stderr + rendered.stderr
