"""Translation predictor (paper §2.4): per anchor, [frame crop ⊕ sprite] (k×k×7) -> offset (dx, dy) in pixels.

The encoder architecture (ConvBody) on 7 channels down to 1×1 (log2 k blocks), then Dense d → GN(8) → LeakyReLU →
Dense 2 → tanh × offset_bound. The crop's validity mask (0 where the window sticks out past the canvas) is the
partial convs' input mask, so padding outside the frame is not mistaken for image content.
"""

from __future__ import annotations

import jax.numpy as jnp
from flax import linen as nn

from spritejax.nn import ConvBody, MLPHead


class TranslationPredictor(nn.Module):
    """(crops_...kk3, valid_...kk1, sprites_...kk4) -> offsets_...2 (pixels, |offset| < offset_bound)."""

    latent_dim: int
    num_blocks: int
    offset_bound: float
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, crops_nkk3, valid_nkk1, sprites_nkk4):
        lead = sprites_nkk4.shape[:-3]
        k = sprites_nkk4.shape[-2]
        x = jnp.concatenate([jnp.broadcast_to(crops_nkk3, lead + crops_nkk3.shape[-3:]), sprites_nkk4], axis=-1)
        valid = jnp.broadcast_to(valid_nkk1, lead + valid_nkk1.shape[-3:])
        feats, _ = ConvBody(self.latent_dim, self.num_blocks, self.conv_impl, name="body")(
            x.reshape(-1, k, k, 7), valid.reshape(-1, k, k, 1))
        out_n2 = MLPHead(self.latent_dim, 2, name="head")(feats.reshape(feats.shape[0], -1))
        return (jnp.tanh(out_n2) * self.offset_bound).reshape(lead + (2,))
