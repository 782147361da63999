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
    """(crops_...kk3, valid_...kk1, sprites_...kk4) -> offsets_...2 (pixels, |offset| < offset_bound).

    Leading dims are any anchor batch; crops and valid need only broadcast against the sprites' leading dims."""

    latent_dim: int
    num_blocks: int
    offset_bound: float
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, crops_skk3, valid_skk1, sprites_skk4):
        lead = jnp.broadcast_shapes(crops_skk3.shape[:-3], sprites_skk4.shape[:-3])
        x = jnp.concatenate([jnp.broadcast_to(crops_skk3, lead + crops_skk3.shape[-3:]),
                             jnp.broadcast_to(sprites_skk4, lead + sprites_skk4.shape[-3:])], axis=-1)
        feats, _ = ConvBody(self.latent_dim, self.num_blocks, self.conv_impl, name="body")(x, valid_skk1)
        out_s2 = MLPHead(self.latent_dim, 2, name="head")(feats.reshape(lead + (-1,)))
        return jnp.tanh(out_s2) * self.offset_bound
