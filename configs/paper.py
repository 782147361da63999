"""The paper's recipe exactly (§3, the reference code's defaults): 128² synthetic game, k=32, 150 sprites, d=128,
the §2.4 translation network, random dictionary, λBeta 0.002 then 0.1 for the last 10k of 210k steps at lr 1e-4.
Kept as the baseline every learning-speed option in docs/model.md is measured against."""

from spritejax.config import base_config


def get_config():
    return base_config()
