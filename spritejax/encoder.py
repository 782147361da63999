"""Frame encoder (paper §2.2, Fig. 3): frames -> ℓ grids of anchor features, projections and switch probabilities.

ConvBody with log2(cell) blocks brings the frame to the anchor grid (one anchor per cell of k/2 pixels); then one
partial-conv head per layer, LayerNorm without affine. From the normalised features a switch MLP (Dense d → GN(8) →
LeakyReLU → Dense 1 → sigmoid) gives the active probability, a linear projection gives the vector that is scored
against the dictionary (render.score_sprites normalises it again). Projection and switch MLP are shared by layers.
"""

from __future__ import annotations

import jax.numpy as jnp
from flax import linen as nn

from spritejax.nn import ConvBody, MLPHead, PartialConv, torch_kernel_init
from spritejax.render import layer_norm


def num_down_blocks(size: int, target: int) -> int:
    """Stride-2 blocks that take `size` down to `target` (both powers of two)."""
    ratio = size // target
    if ratio < 1 or ratio * target != size or ratio & (ratio - 1):
        raise ValueError(f"size {size} is not a power-of-two multiple of {target}")
    return ratio.bit_length() - 1


class FrameEncoder(nn.Module):  # the frame is all valid: partial convs with mask None (static border rescaling)
    """frames_bhw3 -> (proj_blhwd, switches_blhw, body_bhwd); body features also feed the background shift head."""

    latent_dim: int
    layers: int
    num_blocks: int
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, frames_bhw3):
        body_bhwd, _ = ConvBody(self.latent_dim, self.num_blocks, self.conv_impl, name="body")(frames_bhw3)
        feats = [layer_norm(PartialConv(self.latent_dim, 1, self.conv_impl, name=f"head_{l}")(body_bhwd)[0])
                 for l in range(self.layers)]
        feats_blhwd = jnp.stack(feats, axis=1)
        proj_blhwd = nn.Dense(self.latent_dim, kernel_init=torch_kernel_init, name="projection")(feats_blhwd)
        switch_logit = MLPHead(self.latent_dim, 1, name="switch")(feats_blhwd)
        return proj_blhwd, nn.sigmoid(switch_logit[..., 0]), body_bhwd
