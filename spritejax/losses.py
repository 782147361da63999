"""Training loss, eq. 3 of the paper, with its normalisation:

  L = 1/(wh)·‖O − I‖²  +  k²/(4ℓwh) Σ_l Σ_j [ λBeta·( (1/m) Σ_i Beta(s_lij) + Beta(p_lj) ) + λsparse·|p_lj| ]

‖O − I‖² sums over pixels and RGB channels and is divided by the pixel count wh, i.e. the per-pixel squared RGB
distance averaged over pixels (3× the element-wise MSE). There are 4wh/k² anchors per layer, so k²/(4ℓwh) Σ_l Σ_j
is the mean over all ℓ·(2w/k)·(2h/k) anchors. Beta(2,2)(x) = 6x(1 − x) on x clamped to [1e-5, 1 − 1e-5]:
minimising it pushes scores and switches towards 0 or 1. Everything is averaged over the batch.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from spritejax import render
from spritejax.align import match_gains

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


def decomposition_stats(out) -> dict:
    """How binary and how varied the decomposition is (what hard mode shows only when it is binary): the active
    fraction of anchors (switch > 0.5), switches within 0.1 of 0 or 1, the mean top score of active anchors and
    the fraction of those ≥ 0.9, dictionary entries that are the top choice of some active anchor, and the mean
    |offset| in pixels."""
    p = out.switches_blhw
    active = (p > 0.5).astype(p.dtype)
    count = jnp.maximum(jnp.sum(active), 1.0)
    top = jnp.max(out.scores_blhwm, axis=-1)
    chosen_m = jnp.max(active[..., None] * jax.nn.one_hot(out.sprite_ids_blhw, out.scores_blhwm.shape[-1]),
                       axis=(0, 1, 2, 3))
    return {"active_fraction": jnp.mean(active),
            "switches_binary": jnp.mean((jnp.minimum(p, 1.0 - p) <= 0.1).astype(p.dtype)),
            "top_score_active": jnp.sum(top * active) / count,
            "top_score_ge_0.9_active": jnp.sum((top >= 0.9) * active) / count,
            "entries_used": jnp.sum(chosen_m),
            "offset_px": jnp.mean(jnp.linalg.norm(out.offsets_blhw2, axis=-1))}


def match_teacher(frames_bhw3, background_bhw3, sprites_mkk4, geom, radius: int, rounds: int = 4):
    """(entry_blhw, on_blhw): the dictionary's own explanation of each frame by `rounds` rounds of matching
    pursuit, up to one pick per layer at each anchor (slot l: the anchor's (l+1)-th object).

    Each round takes every anchor with a free slot whose best entry beats the picture so far
    (spritejax.align.match_gains) and beats its 8 neighbouring anchors (an object near the border of two windows
    is reachable from both; taking both drew it twice), and paints its picks into the picture. Later rounds take
    what earlier picks hid: an object next to a stronger one, a second object in a window already taken."""
    gh, gw = geom.grid_h, geom.grid_w
    order_hw = 1e-6 * jnp.arange(gh * gw, dtype=frames_bhw3.dtype).reshape(gh, gw)  # ties: the first anchor wins
    frames_bhw3, picture_bhw3, sprites_mkk4 = jax.lax.stop_gradient((frames_bhw3, background_bhw3, sprites_mkk4))
    b, layers = frames_bhw3.shape[0], geom.layers
    one_layer = dataclasses.replace(geom, layers=1)
    order_b1hw = jnp.broadcast_to(jnp.arange(gh * gw, dtype=jnp.int32).reshape(1, 1, gh, gw), (b, 1, gh, gw))
    entry_blhw = jnp.zeros((b, layers, gh, gw), jnp.int32)
    on_blhw = jnp.zeros((b, layers, gh, gw), bool)
    for _ in range(rounds):
        gains_bhwm, offsets_bhwm2 = match_gains(frames_bhw3, picture_bhw3, sprites_mkk4, geom, radius)
        entry_bhw = jnp.argmax(gains_bhwm, axis=-1).astype(jnp.int32)
        gain_bhw = jnp.max(gains_bhwm, axis=-1)
        used_bhw = jnp.sum(on_blhw, axis=1)
        ranked = jnp.where(used_bhw >= layers, -jnp.inf, gain_bhw - order_hw)
        peak = jax.lax.reduce_window(ranked, -jnp.inf, jax.lax.max, (1, 3, 3), (1, 1, 1), "SAME")
        on_bhw = (gain_bhw > 0) & (ranked >= peak) & (used_bhw < layers)
        slot_blhw = on_bhw[:, None] & (jnp.arange(layers)[None, :, None, None] == used_bhw[:, None])
        entry_blhw = jnp.where(slot_blhw, entry_bhw[:, None], entry_blhw)
        on_blhw = on_blhw | slot_blhw
        offset_bhw2 = jnp.take_along_axis(offsets_bhwm2, entry_bhw[..., None, None], axis=-2)[..., 0, :]
        placed = render.translate((sprites_mkk4[entry_bhw] * on_bhw[..., None, None, None])[:, None],
                                  offset_bhw2[:, None])
        picture_bhw3 = render.composite(placed, picture_bhw3, order_b1hw, one_layer).recon_bhw3
    return entry_blhw, on_blhw.astype(frames_bhw3.dtype)


def match_loss(out, frames_bhw3, geom, radius: int):
    """The teacher's explanation (match_teacher) as targets: its first pick at an anchor goes to the anchor's most
    active layer, its second pick to the next one; at each pick cross-entropy pulls that layer's scores towards
    the pick's entry and binary cross-entropy pulls its switch to 1; every other switch is pulled to 0. So scores
    and switches need not wait for each other: the reconstruction alone leaves both in a faint blend."""
    entry_bshw, on_bshw = match_teacher(frames_bhw3, out.background_bhw3, out.sprites_mkk4, geom, radius)
    p = jnp.clip(out.switches_blhw, 1e-6, 1 - 1e-6)
    rank_blhw = jnp.argsort(jnp.argsort(-p, axis=1), axis=1)  # 0: the anchor's most active layer
    entry_blhw = jnp.take_along_axis(entry_bshw, rank_blhw, axis=1)
    on_blhw = jnp.take_along_axis(on_bshw, rank_blhw, axis=1)
    log_p = jnp.log(jnp.take_along_axis(out.scores_blhwm, entry_blhw[..., None], axis=-1)[..., 0] + 1e-9)
    scores = -jnp.sum(on_blhw * log_p) / jnp.maximum(jnp.sum(on_blhw), 1.0)
    switch_on = -jnp.sum(on_blhw * jnp.log(p), axis=1)
    switch_off = -(1.0 - on_blhw) * jnp.log1p(-p)
    switches = jnp.mean(switch_on) + jnp.mean(switch_off)
    return scores + switches
