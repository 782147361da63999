"""Sprite dictionary (paper §2.1): m trainable latent codes decoded by a fully connected generator into RGBA sprites.

LayerNorm (no affine) on each code → Dense 8d → GroupNorm(8) → ReLU → Dense 4k² → sigmoid. Normalising the codes
keeps the latent space compact; the same normalised codes are compared with anchor features when scoring.
generator 'pixels' (not the paper's) gives each entry its own RGBA logits instead: entries do not share weights, so
an entry no anchor uses keeps its pixels instead of drifting with the generator; the codes still do the scoring.
"""

from __future__ import annotations

from flax import linen as nn

from spritejax.nn import MLPHead
from spritejax.render import layer_norm


class Dictionary(nn.Module):
    """() -> sprites_mkk4 in [0, 1]; the latent codes live in params['latents'] (m, d)."""

    num_sprites: int
    latent_dim: int
    k: int
    generator: str = "mlp"

    @nn.compact
    def __call__(self):
        latents_md = self.param("latents", nn.initializers.normal(1.0), (self.num_sprites, self.latent_dim))
        if self.generator == "pixels":
            logits_mkk4 = self.param("sprite_logits", nn.initializers.normal(1.0),
                                     (self.num_sprites, self.k, self.k, 4))
            return nn.sigmoid(logits_mkk4)
        flat_m4kk = MLPHead(8 * self.latent_dim, 4 * self.k * self.k, activation="relu",
                            name="generator")(layer_norm(latents_md))
        return nn.sigmoid(flat_m4kk).reshape(self.num_sprites, self.k, self.k, 4)
