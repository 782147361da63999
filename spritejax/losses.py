"""Training loss, eq. 3 of the paper, with its normalisation:

  L = 1/(wh)·‖O − I‖²  +  k²/(4ℓwh) Σ_l Σ_j [ λBeta·( (1/m) Σ_i Beta(s_lij) + Beta(p_lj) ) + λsparse·|p_lj| ]

‖O − I‖² sums over pixels and RGB channels and is divided by the pixel count wh, i.e. the per-pixel squared RGB
distance averaged over pixels (3× the element-wise MSE). There are 4wh/k² anchors per layer, so k²/(4ℓwh) Σ_l Σ_j
is the mean over all ℓ·(2w/k)·(2h/k) anchors. Beta(2,2)(x) = 6x(1 − x) on x clamped to [1e-5, 1 − 1e-5]:
minimising it pushes scores and switches towards 0 or 1. Everything is averaged over the batch.
"""

from __future__ import annotations

import jax.numpy as jnp

BETA_CLAMP = 1e-5


def beta22_density(x):
    """Beta(2,2) probability density 6x(1−x), on x clamped to [1e-5, 1 − 1e-5]."""
    x = jnp.clip(x, BETA_CLAMP, 1.0 - BETA_CLAMP)
    return 6.0 * x * (1.0 - x)


def psnr_from_mse(mse, peak: float = 1.0):
    return 10.0 * jnp.log10(peak * peak / jnp.maximum(mse, 1e-12))


def loss_fn(out, frames_bhw3, lambda_beta: float, lambda_sparse: float):
    """(ModelOutput, target frames) -> (loss scalar, metrics dict).

    metrics: 'loss', 'recon' (eq. 3's first term), 'beta', 'sparse' (the unweighted regulariser means), 'mse'
    (element-wise mean squared error) and 'psnr' (of that mse, batch-pooled, peak 1).
    """
    err = out.recon_bhw3 - frames_bhw3
    mse = jnp.mean(jnp.square(err))
    recon = jnp.mean(jnp.sum(jnp.square(err), axis=-1))
    beta_scores = jnp.mean(beta22_density(out.scores_blhwm), axis=-1)  # (1/m) Σ_i, per anchor
    beta = jnp.mean(beta_scores + beta22_density(out.switches_blhw))
    sparse = jnp.mean(jnp.abs(out.switches_blhw))
    loss = recon + lambda_beta * beta + lambda_sparse * sparse
    metrics = {"loss": loss, "recon": recon, "beta": beta, "sparse": sparse, "mse": mse, "psnr": psnr_from_mse(mse)}
    return loss, metrics
