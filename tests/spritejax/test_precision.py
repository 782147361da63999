"""`model.compute_dtype='bfloat16'`: the networks compute in bfloat16 while parameters, optimiser state, rendering
and the loss stay float32 — and the tiny config trains as it does in float32."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from spritejax import config, train
from spritejax.checkpoint import load_workdir
from spritejax.data import load_dataset
from spritejax.errors import UserError
from spritejax.inference import EVAL_STREAM, frame_keys
from spritejax.metrics import psnr
from spritejax.model import SpriteModel

TINY = ["data.num_frames=16", "data.holdout=0.0"]


def test_bfloat16_forward_is_float32_out_and_close_to_float32():
    cfg = config.load("tiny", TINY)
    frames = load_dataset(cfg.data, cfg.canvas).frames_nhw3[:4]
    f32 = SpriteModel.from_config(cfg)
    bf16 = SpriteModel.from_config(config.load("tiny", TINY + ["model.compute_dtype=bfloat16"]))
    params = f32.init(jax.random.key(0), jnp.asarray(frames))
    keys = frame_keys(0, EVAL_STREAM, np.arange(4))
    for mode in ("soft", "hard"):
        a, b = (m.apply(params, frames, keys, mode) for m in (f32, bf16))
        assert b.recon_bhw3.dtype == jnp.float32 and b.scores_blhwm.dtype == jnp.float32
        assert float(jnp.max(jnp.abs(a.switches_blhw - b.switches_blhw))) < 0.05
        # offsets move by up to ~1.5 px (an untrained predictor), so compare the pictures, not pixels:
        # 53 dB soft, 38 dB hard at this seed
        assert float(psnr(a.recon_bhw3, b.recon_bhw3)) > 30
        assert not np.array_equal(np.asarray(a.recon_bhw3), np.asarray(b.recon_bhw3))  # bfloat16 did run


def _loss_curve(tmp_path, dtype: str) -> list[float]:
    cfg = config.load("tiny", TINY + ["train.num_steps=60", "train.log_every=10", "train.sample_every=0",
                                      "train.ckpt_every=60", "loss.finetune_steps=0",
                                      f"model.compute_dtype={dtype}"])
    workdir = tmp_path / dtype
    train.train(cfg, workdir, progress=False)
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    return [row["loss"] for row in rows if "loss" in row]


def test_bfloat16_trains_the_tiny_config_like_float32(tmp_path):
    f32, bf16 = _loss_curve(tmp_path, "float32"), _loss_curve(tmp_path, "bfloat16")
    assert len(f32) == len(bf16) >= 6
    fall_f32, fall_bf16 = f32[-1] / f32[0], bf16[-1] / bf16[0]
    assert fall_f32 < 0.8  # the float32 run learns something to compare with
    assert fall_bf16 == pytest.approx(fall_f32, rel=0.1), (f32, bf16)
    _, _, params = load_workdir(tmp_path / "bfloat16")
    assert {x.dtype for x in jax.tree.leaves(params)} == {jnp.dtype(jnp.float32)}  # float32 master parameters


def test_an_unknown_compute_dtype_is_a_user_error():
    with pytest.raises(UserError, match="compute_dtype"):
        SpriteModel.from_config(config.load("tiny", ["model.compute_dtype=float16"]))
