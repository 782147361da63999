"""Backgrounds (paper §2.5): a fixed solid colour found by k-means, or a learned texture cropped at a discrete shift.

Solid: sample ≤ 100 random frames, cluster their pixels into 5 colours with k-means, take the largest cluster's
centre. Texture: a texture larger than the frame (stored as logits, sigmoid keeps it in [0, 1]); a head on the
encoder's pooled features predicts one logit per horizontal and per vertical crop position, and render's
texture_background takes the softmax-weighted crop (argmax when hard). Classifying the shift lets the gradient reach
every position, unlike a bilinear spatial transformer.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from flax import linen as nn

from spritejax.nn import MLPHead


def kmeans_color(frames_nhw3, k: int = 5, key=None, max_frames: int = 100, max_pixels: int = 200_000,
                 iters: int = 20):
    """Centre of the largest of k pixel clusters over ≤ max_frames random frames -> color_3 (float32).

    At most max_pixels pixels (a random subset of the sampled frames) enter Lloyd's iterations.
    """
    key = jax.random.key(0) if key is None else key
    k_frames, k_pix, k_init = jax.random.split(key, 3)
    frames = jnp.asarray(frames_nhw3, jnp.float32)
    n = frames.shape[0]
    idx = jax.random.permutation(k_frames, n)[:min(n, max_frames)]
    pixels_p3 = frames[idx].reshape(-1, 3)
    if pixels_p3.shape[0] > max_pixels:
        pixels_p3 = pixels_p3[jax.random.permutation(k_pix, pixels_p3.shape[0])[:max_pixels]]
    return _largest_cluster(pixels_p3, k_init, k, iters)


@functools.partial(jax.jit, static_argnums=(2, 3))
def _largest_cluster(pixels_p3, key, k, iters):
    """Lloyd's iterations from a k-means++ start (spread-out seeds avoid two seeds in one big cluster)."""
    def d2_to(centres_k3):
        return jnp.sum((pixels_p3[:, None, :] - centres_k3[None]) ** 2, axis=-1)

    keys = jax.random.split(key, k)
    centres = [pixels_p3[jax.random.randint(keys[0], (), 0, pixels_p3.shape[0])]]
    for i in range(1, k):
        nearest_p = jnp.min(d2_to(jnp.stack(centres)), axis=1)
        centres.append(pixels_p3[jax.random.categorical(keys[i], jnp.log(nearest_p + 1e-12))])

    def assign(centres_k3):
        return jax.nn.one_hot(jnp.argmin(d2_to(centres_k3), axis=1), k, dtype=pixels_p3.dtype)

    def step(centres_k3, _):
        onehot_pk = assign(centres_k3)
        counts_k = onehot_pk.sum(0)
        means_k3 = onehot_pk.T @ pixels_p3 / jnp.maximum(counts_k, 1.0)[:, None]
        return jnp.where(counts_k[:, None] > 0, means_k3, centres_k3), None  # empty cluster keeps its centre

    centres_k3, _ = jax.lax.scan(step, jnp.stack(centres), None, length=iters)
    return centres_k3[jnp.argmax(assign(centres_k3).sum(0))]


class ShiftHead(nn.Module):
    """body_bhwd (encoder features) -> (logits_x_bX, logits_y_bY) over the texture's crop positions."""

    hidden: int
    num_x: int
    num_y: int

    @nn.compact
    def __call__(self, body_bhwd):
        pooled_bd = body_bhwd.mean(axis=(1, 2))
        logits = MLPHead(self.hidden, self.num_x + self.num_y, name="mlp")(pooled_bd)
        return logits[:, :self.num_x], logits[:, self.num_x:]
