"""Super Mario Bros. (one level, ~2,220 frames; paper §4): k=32, solid k-means background.

Point data.path at a folder of frames or a video: `--set data.path=/data/mario.mp4 --set data.source=video`.
"""

from spritejax.config import base_config


def get_config():
    cfg = base_config()
    cfg.model.k = 32
    cfg.data.source = "folder"
    cfg.data.num_frames = 2_220
    return cfg
