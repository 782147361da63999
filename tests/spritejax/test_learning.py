"""Learning, measured as benchmarks/quality.py measures it: real training runs on the synthetic game, held-out
frames. The bars are the figures measured in docs/model.md "Learning fast", less a margin for seeds and
platforms; the issue's goal (30 dB hard, binary IoU 0.9, mIoU 0.8) is above them."""

import importlib.util
import json
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
# 200 demo steps measured +4.3 dB hard over the background alone (23.63 vs 19.35, binary IoU 0.73, mIoU 0.65,
# 15 entries used); the paper's recipe at the old demo size was +2.2 dB after 1,000 steps
MARGIN_200 = 2.0


def _quality():
    spec = importlib.util.spec_from_file_location("quality_benchmark", ROOT / "benchmarks" / "quality.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quality_quick_prints_one_json_line():
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "quality.py"), "--quick", "--label", "smoke"],
                         capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.strip().splitlines()
    assert len(lines) == 1
    line = json.loads(lines[0])
    assert line["label"] == "smoke" and line["steps"] == 20 and len(line["runs"]) == 1
    seed = line["runs"][0]
    for key in ("psnr_soft", "psnr_hard", "psnr_background_only", "iou_binary", "iou_multiclass",
                "active_anchors_per_frame", "sprites_used", "train_seconds", "frames_per_s"):
        assert isinstance(seed[key], (int, float)), key
    assert 5.0 < seed["psnr_background_only"] < 60.0


def test_200_demo_steps_beat_the_background(tmp_path):
    """200 steps of the demo config (fine-tune λBeta for the last half, as the demo's 500 of 1,000)."""
    result = _quality().run_seed("demo", ["loss.finetune_steps=100"], 200, 0, tmp_path)
    gain = result["psnr_hard"] - result["psnr_background_only"]
    assert gain >= MARGIN_200, result
    assert result["sprites_used"] >= 6, result


@pytest.mark.slow
def test_the_demo_config_reaches_its_measured_bar(tmp_path):
    result = _quality().run_seed("demo", [], None, 0, tmp_path)
    # measured 32.34 / 33.71 / 33.98 dB, binary IoU 0.935 / 0.955 / 0.945, mIoU 0.872 / 0.887 / 0.891 on seeds
    # 0 / 1 / 2 (docs/model.md, fourth round); the bar is the goal
    assert result["psnr_hard"] >= 30.0 and result["iou_binary"] >= 0.9 and result["iou_multiclass"] >= 0.8, result
    assert result["psnr_soft"] - result["psnr_hard"] <= 0.5, result


def test_device_benchmark_quick_is_resumable_and_prints_one_json_line(tmp_path):
    """benchmarks/device.py on the CPU at --quick sizes, two figures: the one JSON line, and a rerun that finds
    them in --out and measures nothing again."""
    out = tmp_path / "device.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "device.py"), "--quick", "--out", str(out),
           "--figures", "composite_float32", "correctness_bfloat16"]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert first.returncode == 0, first.stderr[-2000:]
    line = json.loads(first.stdout.strip().splitlines()[-1])
    assert line["benchmark"] == "device" and line["device"]["backend"] == "cpu"
    assert line["composite_float32"]["soft_b8_frames_per_s"] > 0
    assert line["correctness_bfloat16"]["soft_psnr_vs_cpu_float32"] > 30  # bfloat16 against the float32 reference
    assert "train_step_float32" not in line
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert again.returncode == 0 and "done in" not in again.stderr  # both figures were already in --out
    assert json.loads(again.stdout.strip().splitlines()[-1])["composite_float32"] == line["composite_float32"]
