"""ATARI Space Invaders (paper §4: k=16), as the public variant: 54 dictionary entries, batch 4, 60k steps.

With k=16 on a 128² canvas the anchor grid is 16×16 per layer. Frames come from ale-py (extra `atari`).
"""

from spritejax.config import base_config


def get_config():
    cfg = base_config()
    cfg.model.k = 16
    cfg.model.num_sprites = 54
    cfg.train.batch_size = 4
    cfg.train.num_steps = 60_000
    cfg.loss.finetune_steps = 5_000
    cfg.data.source = "atari"
    cfg.data.num_frames = 5_000
    return cfg
