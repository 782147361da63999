"""The pure rendering core: anchor features + dictionary -> sprites per anchor -> composited frame.

Everything here is a pure jax function without parameters (MarioNette §2.3–2.5). Shapes are in the names:
b frames, l layers, h×w anchor grid, k sprite size, m dictionary entries, d latent size.

Geometry. cell = k/2, the anchor grid is canvas/cell per side, and anchor (i, j)'s k×k window is centred on the
cell centre ((i+.5)·cell, (j+.5)·cell): it covers canvas rows [i·cell − k/4, i·cell − k/4 + k), so windows stick out
k/4 = pad past the canvas edge. On the canvas padded by `pad` ("padded canvas") window (i, j) starts at
(i·cell, j·cell).

Compositing without scatters. Windows are two cells wide on a one-cell stride, so anchors with equal
(row % 2, col % 2) never overlap: each of the 4 parity groups of a layer tiles the padded canvas and is placed by a
pure reshape + pad. At a pixel at most one anchor per group is present; with R_g the rank of group g's anchor
there, "over" in rank order (higher rank in front) is exact: group g shows through
T_g = Π_{h≠g} (1 − a_h·[R_h > R_g]). Layers then go back to front over the background: layer 0 first, never
shuffled with each other.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

from spritejax.errors import UserError


@dataclasses.dataclass(frozen=True)
class Geometry:
    """Static frame/anchor geometry; hashable so it can be a static jit argument."""

    canvas_h: int
    canvas_w: int
    k: int
    layers: int

    def __post_init__(self):
        if self.k < 4 or self.k % 4:
            raise UserError(f"sprite size k must be a multiple of 4 (got {self.k})")
        if self.canvas_h % self.cell or self.canvas_w % self.cell:
            raise UserError(
                f"canvas {self.canvas_h}x{self.canvas_w} must be a multiple of the cell size k/2={self.cell}")
        if self.layers < 1:
            raise UserError(f"need at least one layer (got {self.layers})")

    @property
    def cell(self) -> int:
        return self.k // 2

    @property
    def pad(self) -> int:
        return self.k // 4

    @property
    def grid_h(self) -> int:
        return self.canvas_h // self.cell

    @property
    def grid_w(self) -> int:
        return self.canvas_w // self.cell

    @property
    def num_anchors(self) -> int:
        return self.grid_h * self.grid_w

    @classmethod
    def from_config(cls, cfg) -> "Geometry":
        h, w = cfg.canvas
        return cls(int(h), int(w), int(cfg.model.k), int(cfg.model.layers))


class RenderOut(NamedTuple):
    """What compositing returns.

    recon_bhw3: the rendered frame.
    layers_blhw4: each layer alone on a transparent canvas, PREMULTIPLIED RGBA (rgb·alpha, alpha).
    visibility_blhwkk: how much of each anchor's sprite pixel shows in the final image (its alpha × everything in
      front of it; 0 for window pixels outside the canvas). Per pixel, visibilities + background weight sum to 1.
    background_weight_bhw: how much of the background shows.
    """

    recon_bhw3: jax.Array
    layers_blhw4: jax.Array
    visibility_blhwkk: jax.Array
    background_weight_bhw: jax.Array


# ---------------------------------------------------------------------------------------------------------------
# Scoring and selection (§2.3)


def layer_norm(x, eps: float = 1e-5):
    """Zero-mean unit-variance over the last axis, no affine (keeps anchors and latents on a compact sphere)."""
    mean = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.mean(jnp.square(x - mean), axis=-1, keepdims=True)
    return (x - mean) * jax.lax.rsqrt(var + eps)


def score_sprites(anchor_proj_xd, latents_md, scale: float = 1.0):
    """Eq. 1: softmax over the dictionary of scale·LN(anchor)·LN(latent)/√d -> scores_xm.

    LN(a)·LN(z)/√d is √d times a cosine, so without `scale` no logit exceeds √d: at d=16 a sprite whose rivals
    are orthogonal to the anchor gets at most e⁴/(e⁴+m−1) (0.78 for m=16) and the soft sprite stays a blend.
    """
    d = latents_md.shape[-1]
    chex.assert_equal(anchor_proj_xd.shape[-1], d)
    logits = jnp.einsum("...d,md->...m", layer_norm(anchor_proj_xd), layer_norm(latents_md)) * (scale / np.sqrt(d))
    return jax.nn.softmax(logits, axis=-1)


def _mask_alpha(sprites_xkk4, switches_x):
    """Multiply only the alpha channel by the switch: an inactive anchor is transparent, its colour is kept."""
    alpha = sprites_xkk4[..., 3:] * switches_x[..., None, None, None]
    return jnp.concatenate([sprites_xkk4[..., :3], alpha], axis=-1)


def select_soft(scores_xm, switches_x, sprites_mkk4):
    """Eq. 2 (training): score-weighted sum of dictionary sprites as one matmul, alpha masked by the switch.

    The product is contracted over m directly, never materialising a [..., m, k, k, 4] tensor.
    """
    m, k = sprites_mkk4.shape[0], sprites_mkk4.shape[1]
    chex.assert_shape(sprites_mkk4, (m, k, k, 4))
    chex.assert_shape(scores_xm, (*switches_x.shape, m))
    flat_xn = scores_xm @ sprites_mkk4.reshape(m, k * k * 4)
    return _mask_alpha(flat_xn.reshape(*scores_xm.shape[:-1], k, k, 4), switches_x)


def straight_through(soft_x, hard_x, mix):
    """`hard_x` forward, the gradient of `soft_x` backward (mix=1); mix=0 is `soft_x`. `mix` may be traced, so
    one compiled train step serves a soft phase and a straight-through phase (the test-time decision, trained)."""
    return soft_x + mix * jax.lax.stop_gradient(hard_x - soft_x)


def select_hard(scores_xm, switches_x, sprites_mkk4):
    """Test time: the highest-scoring sprite, switch binarised at 0.5 (one pass, no soft recomputation)."""
    m = sprites_mkk4.shape[0]
    chex.assert_shape(scores_xm, (*switches_x.shape, m))
    ids_x = jnp.argmax(scores_xm, axis=-1)
    on_x = (switches_x > 0.5).astype(sprites_mkk4.dtype)
    return _mask_alpha(jnp.take(sprites_mkk4, ids_x, axis=0), on_x)


# ---------------------------------------------------------------------------------------------------------------
# Local translation (§2.4)


def _tent_matrix(shift_x, k: int, clamp: bool):
    """Bilinear resampling as a matrix: out[o] = Σ_i M[o, i]·in[i] samples `in` at o − shift.

    M[o, i] = max(0, 1 − |o − shift − i|); with clamp the sample position is held inside [0, k−1] (border
    padding), without it weight falls off the edge (zero padding). Returns [..., k(out), k(in)].
    """
    pos = jnp.arange(k, dtype=shift_x.dtype)
    src_xo = pos - shift_x[..., None]
    if clamp:
        src_xo = jnp.clip(src_xo, 0.0, k - 1.0)
    return jnp.maximum(0.0, 1.0 - jnp.abs(src_xo[..., :, None] - pos))


def translate(sprites_xkk4, offsets_x2):
    """Move each sprite by (dx, dy) pixels (positive = right, down), bilinear, differentiable in the offset.

    Separable: two small batched matmuls with tent matrices per sprite. RGB uses border padding, alpha zero
    padding (so a sprite never drags opaque pixels in from outside its window).
    """
    k = sprites_xkk4.shape[-2]
    chex.assert_shape(sprites_xkk4, (*offsets_x2.shape[:-1], k, k, 4))
    chex.assert_shape(offsets_x2, (*sprites_xkk4.shape[:-3], 2))
    dx, dy = offsets_x2[..., 0], offsets_x2[..., 1]
    outs = []
    for channels, clamp in ((slice(0, 3), True), (slice(3, 4), False)):
        rows = _tent_matrix(dy, k, clamp)
        cols = _tent_matrix(dx, k, clamp)
        tmp = jnp.einsum("...oi,...ijc->...ojc", rows, sprites_xkk4[..., channels])
        outs.append(jnp.einsum("...pj,...ojc->...opc", cols, tmp))
    return jnp.concatenate(outs, axis=-1)


# ---------------------------------------------------------------------------------------------------------------
# Placement by parity groups: reshape + pad, no scatter


def _even(n: int) -> int:
    return n + (n % 2)


def _place(x_blhwkkc, cell: int):
    """Place every anchor window on the canvas, one canvas per parity group -> 4 × x_blHWc.

    The grid is zero-padded to even size; group (pi, pj) holds anchors (2r+pi, 2c+pj), whose windows tile the
    extended padded canvas of (grid_even + 1)·cell pixels per side after a shift of (pi·cell, pj·cell).
    """
    b, l, gh, gw, kk, _, c = x_blhwkkc.shape
    eh, ew = _even(gh), _even(gw)
    x = jnp.pad(x_blhwkkc, ((0, 0), (0, 0), (0, eh - gh), (0, ew - gw), (0, 0), (0, 0), (0, 0)))
    x = x.reshape(b, l, eh // 2, 2, ew // 2, 2, kk, kk, c)
    groups = []
    for pi in (0, 1):
        for pj in (0, 1):
            g = x[:, :, :, pi, :, pj].transpose(0, 1, 2, 4, 3, 5, 6).reshape(b, l, eh // 2 * kk, ew // 2 * kk, c)
            pads = ((0, 0), (0, 0), (pi * cell, (1 - pi) * cell), (pj * cell, (1 - pj) * cell), (0, 0))
            groups.append(jnp.pad(g, pads))
    return tuple(groups)


def place_windows(x_blhwkkc, geom: Geometry):
    """Every anchor window on the canvas, one canvas per layer and parity group -> x_b(l·4)HWc, zeros where a
    group has no window. Anchors of one group never overlap, so this is what finding a pixel's owner needs
    (metrics.sprite_id_maps_from_output); compositing places the same way (_fold_groups)."""
    b, l = x_blhwkkc.shape[:2]
    p, h, w = geom.pad, geom.canvas_h, geom.canvas_w
    groups = [g[:, :, p:p + h, p:p + w] for g in _place(jnp.asarray(x_blhwkkc), geom.cell)]
    return jnp.stack(groups, axis=2).reshape(b, l * 4, h, w, x_blhwkkc.shape[-1])


def _cut(groups, gh: int, gw: int, kk: int):
    """Cut the 4 group canvases (each y_blHWc) back into anchor windows -> y_blhwkkc; the adjoint of _place.

    Groups stay separate arrays throughout: slicing them out of one stacked array would cost a full-size pad per
    slice in the backward pass.
    """
    b, l, c = groups[0].shape[0], groups[0].shape[1], groups[0].shape[-1]
    cell = kk // 2
    eh, ew = _even(gh), _even(gw)
    rows = []
    for pi in (0, 1):
        cols = []
        for pj in (0, 1):
            g = groups[2 * pi + pj][:, :, pi * cell:pi * cell + eh // 2 * kk, pj * cell:pj * cell + ew // 2 * kk]
            cols.append(g.reshape(b, l, eh // 2, kk, ew // 2, kk, c).transpose(0, 1, 2, 4, 3, 5, 6))
        rows.append(jnp.stack(cols, axis=4))
    windows = jnp.stack(rows, axis=3).reshape(b, l, eh, ew, kk, kk, c)
    return windows[:, :, :gh, :gw]


# _place is a zero-padded permutation, so its adjoint is _cut and vice versa. Stating that explicitly keeps the
# backward pass to one cheap cut instead of XLA's four full-size pads of the strided group slices.
@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _fold_groups(x_blhwkkc, cell: int):
    return _place(x_blhwkkc, cell)


def _fold_fwd(x_blhwkkc, cell):
    return _place(x_blhwkkc, cell), x_blhwkkc.shape[2:5]


def _fold_bwd(cell, shape, g_groups):
    gh, gw, kk = shape
    return (_cut(g_groups, gh, gw, kk),)


_fold_groups.defvjp(_fold_fwd, _fold_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3))
def _unfold_groups(groups, gh: int, gw: int, kk: int):
    return _cut(groups, gh, gw, kk)


def _unfold_fwd(groups, gh, gw, kk):
    return _cut(groups, gh, gw, kk), None


def _unfold_bwd(gh, gw, kk, _, g_blhwkkc):
    return (_place(g_blhwkkc, kk // 2),)


_unfold_groups.defvjp(_unfold_fwd, _unfold_bwd)


def extract_windows(frames_bhwc, geom: Geometry):
    """Each anchor's k×k crop of the frame, zero-padded by k/4 -> crops_bhwkkc (h, w = anchor grid).

    Windows are two cells on a one-cell stride: four shifted cell slices interleaved by reshape.
    """
    b, c = frames_bhwc.shape[0], frames_bhwc.shape[-1]
    chex.assert_shape(frames_bhwc, (b, geom.canvas_h, geom.canvas_w, c))
    p, cell, gh, gw = geom.pad, geom.cell, geom.grid_h, geom.grid_w
    padded = jnp.pad(frames_bhwc, ((0, 0), (p, p), (p, p), (0, 0)))
    cells = padded.reshape(b, gh + 1, cell, gw + 1, cell, c).transpose(0, 1, 3, 2, 4, 5)
    rows = []
    for di in (0, 1):
        rows.append(jnp.stack([cells[:, di:di + gh, dj:dj + gw] for dj in (0, 1)], axis=4))
    return jnp.stack(rows, axis=3).reshape(b, gh, gw, geom.k, geom.k, c)


def random_ranks(keys_b, geom: Geometry):
    """A random z-order of the anchors inside each layer, per frame -> ranks_blhw (a permutation of 0..h·w−1).

    Higher rank = in front. Only anchors of one layer are ordered against each other; layers keep their order.
    """
    n = geom.num_anchors

    def one_frame(key):
        return jax.vmap(lambda kl: jax.random.permutation(kl, n))(jax.random.split(key, geom.layers))

    ranks_bln = jax.vmap(one_frame)(keys_b)
    return ranks_bln.reshape(-1, geom.layers, geom.grid_h, geom.grid_w).astype(jnp.int32)


# ---------------------------------------------------------------------------------------------------------------
# Compositing (§2.5)


def _rank_maps(ranks_blhw, geom: Geometry):
    """Per parity group, the rank of the anchor covering each pixel of the extended padded canvas -> 4 × r_blHW.

    Placed at cell resolution, then upsampled by a 0/1 float32 matmul (exact for ranks below 2²⁴), so the
    maps are materialised once, where a fused broadcast would redo index arithmetic in each of 12 comparisons.
    """
    b, l, gh, gw = ranks_blhw.shape
    dtype = np.float32
    per_cell = jnp.broadcast_to(ranks_blhw[..., None, None, None], (b, l, gh, gw, 2, 2, 1)).astype(dtype)
    maps = []
    for r_blhw1 in _place(per_cell, 1):
        up_h = np.repeat(np.eye(r_blhw1.shape[2], dtype=dtype), geom.cell, axis=0)
        up_w = np.repeat(np.eye(r_blhw1.shape[3], dtype=dtype), geom.cell, axis=0)
        maps.append(jnp.einsum("Hh,blhw,Ww->blHW", up_h, r_blhw1[..., 0], up_w,
                               precision=jax.lax.Precision.HIGHEST))  # no TF32/bf16 rounding of ranks
    return maps


def _in_layer_transmittance(alphas, ranks):
    """T_g = Π_{h≠g} (1 − a_h·[R_h > R_g]): how much of group g shows through its own layer's other groups."""
    trans = []
    for g in range(4):
        t = jnp.ones_like(alphas[g])
        for h in range(4):
            if h != g:
                t = t * (1.0 - jnp.where(ranks[h] > ranks[g], alphas[h], 0.0))
        trans.append(t)
    return trans


@functools.partial(jax.jit, static_argnames="geom")
def composite(placed_blhwkk4, background_bhw3, ranks_blhw, geom: Geometry) -> RenderOut:
    """Render placed (already translated, straight-alpha) sprites over the background.

    Back to front: background, layer 0, layer 1, …; inside a layer anchors in rank order (higher rank in
    front), "over" operator, exact for any alphas.
    """
    b, l, gh, gw = placed_blhwkk4.shape[0], geom.layers, geom.grid_h, geom.grid_w
    k, p, cell = geom.k, geom.pad, geom.cell
    H, W = geom.canvas_h, geom.canvas_w
    chex.assert_shape(placed_blhwkk4, (b, l, gh, gw, k, k, 4))
    chex.assert_shape(background_bhw3, (b, H, W, 3))
    chex.assert_shape(ranks_blhw, (b, l, gh, gw))

    alpha = placed_blhwkk4[..., 3:]
    alphas = [a[..., 0] for a in _fold_groups(alpha, cell)]           # 4 × blHW
    colours = _fold_groups(placed_blhwkk4[..., :3] * alpha, cell)     # 4 × blHW3, premultiplied
    trans = _in_layer_transmittance(alphas, _rank_maps(ranks_blhw, geom))

    inside = (slice(None), slice(None), slice(p, p + H), slice(p, p + W))
    layer_rgb_blhw3 = sum(c * t[..., None] for c, t in zip(colours, trans))[inside]
    layer_a_blhw = 1.0 - functools.reduce(jnp.multiply, [1.0 - a for a in alphas])[inside]

    # front_l = Π_{l' > l} (1 − A_l'): what the layers in front let through.
    fronts, through = [], jnp.ones((b, H, W), placed_blhwkk4.dtype)
    for li in reversed(range(l)):
        fronts.append(through)
        through = through * (1.0 - layer_a_blhw[:, li])
    front_blhw = jnp.stack(fronts[::-1], axis=1)
    recon = background_bhw3 * through[..., None] + sum(layer_rgb_blhw3[:, li] * front_blhw[:, li, ..., None]
                                                       for li in range(l))

    ext_h, ext_w = alphas[0].shape[-2:]
    front_ext = jnp.pad(front_blhw, ((0, 0), (0, 0), (p, ext_h - p - H), (p, ext_w - p - W)))
    seen = tuple((a * t * front_ext)[..., None] for a, t in zip(alphas, trans))
    visibility = _unfold_groups(seen, gh, gw, k)[..., 0]
    layers = jnp.concatenate([layer_rgb_blhw3, layer_a_blhw[..., None]], axis=-1)
    return RenderOut(recon, layers, visibility, through)


# ---------------------------------------------------------------------------------------------------------------
# Backgrounds (§2.5)


def solid_background(color_3, batch: int, geom: Geometry):
    """A fixed colour (k-means of the data, chosen before training) -> background_bhw3."""
    chex.assert_shape(color_3, (3,))
    return jnp.broadcast_to(color_3, (batch, geom.canvas_h, geom.canvas_w, 3))


def _crop_matrix(probs_bs, in_size: int):
    """Soft crop as a matrix: M[b, o, i] = probs[b, i − o] (0 outside), so M @ x = Σ_s probs_s · x[s:s+out]."""
    shifts = probs_bs.shape[-1]
    out_size = in_size - shifts + 1
    idx_oi = np.arange(in_size)[None, :] - np.arange(out_size)[:, None]
    valid_oi = (idx_oi >= 0) & (idx_oi < shifts)
    picked = jnp.take(probs_bs, np.clip(idx_oi, 0, shifts - 1), axis=1)
    return jnp.where(valid_oi, picked, 0.0)


@functools.partial(jax.jit, static_argnames="hard")
def texture_background(texture_HtWt3, shift_logits_x_bX, shift_logits_y_bY, hard: bool = False):
    """Crop of a learned texture at a discrete shift classified by a softmax per axis -> background_bhw3.

    The crop size is Ht − Y + 1 by Wt − X + 1 (Y, X = number of shift classes). Soft in training (a probability
    mixture of all crops, so every shift gets gradient), argmax when hard (exactly one crop).
    """
    ht, wt = texture_HtWt3.shape[:2]
    chex.assert_shape(texture_HtWt3, (ht, wt, 3))
    chex.assert_equal(shift_logits_x_bX.shape[0], shift_logits_y_bY.shape[0])

    def probs(logits):
        if hard:
            return jax.nn.one_hot(jnp.argmax(logits, axis=-1), logits.shape[-1], dtype=texture_HtWt3.dtype)
        return jax.nn.softmax(logits, axis=-1)

    rows_boi = _crop_matrix(probs(shift_logits_y_bY), ht)
    cols_bpj = _crop_matrix(probs(shift_logits_x_bX), wt)
    # Full precision: a hard crop must be the texture's exact values on GPUs/TPUs too (no TF32/bf16 passes).
    exact = jax.lax.Precision.HIGHEST
    tmp = jnp.einsum("boi,ijc->bojc", rows_boi, texture_HtWt3, precision=exact)
    return jnp.einsum("bpj,bojc->bopc", cols_bpj, tmp, precision=exact)
