"""Seconds on a CPU: a 32² synthetic game, k=8, 8 sprites, d=16. For tests and smoke runs."""

from spritejax.config import base_config


def get_config():
    cfg = base_config()
    cfg.canvas = (32, 32)
    cfg.model.k = 8  # 4-px cells: an 8×8 anchor grid per layer
    cfg.model.num_sprites = 8
    cfg.model.latent_dim = 16
    cfg.loss.finetune_steps = 50
    cfg.optim.lr = 1e-3  # short runs: a larger step than the paper's 1e-4
    cfg.optim.bg_lr = 1e-2
    cfg.train.num_steps = 300
    cfg.train.log_every = 25
    cfg.train.ckpt_every = 100
    cfg.train.keep_checkpoints = 2
    cfg.train.sample_every = 100
    cfg.data.num_frames = 64
    return cfg
