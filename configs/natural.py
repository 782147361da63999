"""Natural images and video (paper §5): λBeta = 0 throughout, soft selection at test time, random 128² crops."""

from spritejax.config import base_config


def get_config():
    cfg = base_config()
    cfg.loss.lambda_beta = 0.0
    cfg.loss.lambda_beta_finetune = 0.0
    cfg.loss.finetune_steps = 0
    cfg.model.transform_input_at_test = "soft"
    cfg.data.source = "folder"
    cfg.data.random_crop = True
    return cfg
