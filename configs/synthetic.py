"""The synthetic sprite game with ground truth (spritejax.data.synthetic) at the paper's model size."""

from spritejax.config import base_config


def get_config():
    cfg = base_config()
    cfg.data.num_frames = 2_000
    cfg.train.num_steps = 50_000
    cfg.loss.finetune_steps = 5_000
    return cfg
