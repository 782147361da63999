"""SpriteModel: the learned parts (dictionary, frame encoder, translation predictor, background) wired to render.

Parameters are one pytree dict {'dictionary', 'encoder', 'transform', 'background'}; the model object holds only
static settings (hashable, so it can be a static jit argument). One forward:

  frames_bhw3 → FrameEncoder → proj_blhwd, switches_blhw       latents_md → Dictionary → sprites_mkk4
  scores_blhwm = render.score_sprites(proj, latents)
  selected sprite per anchor: soft (eq. 2, training) or hard (argmax sprite, switch > 0.5) → sprites_blhwkk4
  crop of the frame around each anchor ⊕ sprite → TranslationPredictor → offsets_blhw2 (pixels, ±offset_bound)
  render.translate → render.composite over the background with a random per-frame z-order inside each layer.

In hard mode the translation predictor sees the soft sprite (the reference code's choice) or the hard one, per
cfg.model.transform_input_at_test. An inactive anchor (switch < 0.5 in hard mode) is fully transparent and its
offset changes nothing in the image: hard mode (cfg.model.skip_inactive, default on) runs the translation
predictor — the bulk of the FLOPs — only on the active anchors and gives the others offset 0 (see predict_offsets).
"""

from __future__ import annotations

import dataclasses
import functools

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from spritejax import align, config, render
from spritejax.background import ShiftHead, kmeans_color
from spritejax.dictionary import Dictionary
from spritejax.encoder import FrameEncoder, num_down_blocks
from spritejax.errors import UserError
from spritejax.nn import CONV_IMPLS
from spritejax.transform import TranslationPredictor

TRANSLATIONS = ("network", "correlation")  # §2.4's predictor, or spritejax.align's search
COMPUTE_DTYPES = ("float32", "bfloat16")  # what the networks compute in; parameters, rendering and loss stay float32
CHUNK_FLOATS = 2 ** 21  # activation floats per translation-predictor chunk on CPU (see SpriteModel.chunk)
ACTIVE_CHUNK_MAX = 256  # anchors per chunk when only active ones are predicted: what skipping can save


@flax.struct.dataclass
class ModelOutput:
    """Everything a loss, a viewer or an editor needs; shapes in the names (l layers, h×w anchor grid).

    scores_blhwm / switches_blhw are the encoder's soft values in both modes (the loss regularises them);
    sprite_ids_blhw = argmax of the scores; placed_blhwkk4 = the sprites actually composited (selected, switch-masked
    alpha, translated); layers_blhw4 premultiplied RGBA per layer; visibility_blhwkk how much of each anchor's
    window pixel shows in recon (0 outside the canvas).
    """

    recon_bhw3: jax.Array
    scores_blhwm: jax.Array
    switches_blhw: jax.Array
    offsets_blhw2: jax.Array
    sprites_mkk4: jax.Array
    placed_blhwkk4: jax.Array
    layers_blhw4: jax.Array
    visibility_blhwkk: jax.Array
    background_bhw3: jax.Array
    background_weight_bhw: jax.Array
    sprite_ids_blhw: jax.Array


def _logit(p):
    p = jnp.clip(p, 1e-3, 1 - 1e-3)
    return jnp.log(p) - jnp.log1p(-p)


@dataclasses.dataclass(frozen=True)
class SpriteModel:
    """Static settings of the model (from_config); parameters are passed to every method as a pytree.

    texture_size None means the canvas size (a single crop position). skip_inactive, predictor_chunk: see
    predict_offsets.
    """

    geom: render.Geometry
    num_sprites: int
    latent_dim: int
    offset_bound: float
    background: str = "solid"
    texture_size: tuple[int, int] | None = None
    bg_color: tuple[float, float, float] | None = None
    transform_input_at_test: str = "soft"
    conv_impl: str = "auto"
    skip_inactive: bool = True
    predictor_chunk: int | str | None = "auto"
    score_scale: float = 1.0
    translation: str = "network"
    align_temperature: float = 0.01
    generator: str = "mlp"
    compute_dtype: str = "float32"

    def __post_init__(self):
        if self.background not in ("solid", "texture"):
            raise UserError(f"model.background must be 'solid' or 'texture' (got {self.background!r})")
        if self.transform_input_at_test not in ("soft", "hard"):
            raise UserError(f"model.transform_input_at_test must be 'soft' or 'hard' "
                            f"(got {self.transform_input_at_test!r})")
        if self.conv_impl not in CONV_IMPLS:
            raise UserError(f"model.conv_impl must be one of {CONV_IMPLS} (got {self.conv_impl!r})")
        if self.predictor_chunk not in ("auto", None) and not (
                isinstance(self.predictor_chunk, int) and self.predictor_chunk >= 1):
            raise UserError(f"model.predictor_chunk must be 'auto', None or a positive count "
                            f"(got {self.predictor_chunk!r})")
        if self.translation not in TRANSLATIONS:
            raise UserError(f"model.translation must be one of {', '.join(TRANSLATIONS)} (got {self.translation!r})")
        if self.compute_dtype not in COMPUTE_DTYPES:
            raise UserError(f"model.compute_dtype must be one of {', '.join(COMPUTE_DTYPES)} "
                            f"(got {self.compute_dtype!r})")
        if self.generator not in ("mlp", "pixels"):
            raise UserError(f"model.generator must be 'mlp' or 'pixels' (got {self.generator!r})")
        if self.latent_dim % 8:
            raise UserError(f"model.latent_dim must be a multiple of 8 for GroupNorm(8) (got {self.latent_dim})")
        k = self.geom.k
        if k & (k - 1):
            raise UserError(f"model.k must be a power of two (got {k})")
        if self.background == "texture":
            th, tw = self.texture_shape
            if th < self.geom.canvas_h or tw < self.geom.canvas_w:
                raise UserError(f"model.texture_size {th}x{tw} must be at least the canvas "
                                f"{self.geom.canvas_h}x{self.geom.canvas_w}")

    @classmethod
    def from_config(cls, cfg) -> "SpriteModel":
        cfg = config.resolved(cfg)
        mc = cfg.model
        texture, color = mc.texture_size, mc.bg_color
        return cls(
            geom=render.Geometry.from_config(cfg),
            num_sprites=int(mc.num_sprites),
            latent_dim=int(mc.latent_dim),
            offset_bound=float(mc.offset_bound),
            background=str(mc.background),
            texture_size=None if texture is None else (int(texture[0]), int(texture[1])),
            bg_color=None if color is None else tuple(float(c) for c in color),
            transform_input_at_test=str(mc.transform_input_at_test),
            conv_impl=str(mc.conv_impl),
            skip_inactive=bool(mc.skip_inactive),
            predictor_chunk=mc.predictor_chunk,
            score_scale=float(mc.score_scale),
            translation=str(mc.translation),
            align_temperature=float(mc.align_temperature),
            generator=str(mc.generator),
            compute_dtype=str(mc.compute_dtype),
        )

    # ---- modules ------------------------------------------------------------------------------------------------

    @property
    def texture_shape(self) -> tuple[int, int]:
        return self.texture_size or (self.geom.canvas_h, self.geom.canvas_w)

    @functools.cached_property
    def dictionary(self) -> Dictionary:
        return Dictionary(self.num_sprites, self.latent_dim, self.geom.k, self.generator)

    @functools.cached_property
    def encoder(self) -> FrameEncoder:
        return FrameEncoder(self.latent_dim, self.geom.layers, num_down_blocks(self.geom.cell, 1), self.conv_impl)

    @functools.cached_property
    def transform(self) -> TranslationPredictor:
        return TranslationPredictor(self.latent_dim, num_down_blocks(self.geom.k, 1), self.offset_bound,
                                    self.conv_impl)

    @functools.cached_property
    def shift_head(self) -> ShiftHead:
        th, tw = self.texture_shape
        return ShiftHead(self.latent_dim, tw - self.geom.canvas_w + 1, th - self.geom.canvas_h + 1)

    # ---- parameters ---------------------------------------------------------------------------------------------

    def init(self, key, frames_bhw3=None) -> dict:
        """Fresh parameters. frames (any number, [0, 1]) only feed the k-means background colour (bg_color unset);
        without frames and bg_color the colour is mid grey."""
        k_net, k_bg = jax.random.split(key)
        # The networks do not depend on the background settings: one init compile serves every background.
        net_spec = dataclasses.replace(self, background="solid", texture_size=None, bg_color=None,
                                       transform_input_at_test="soft", offset_bound=1.0)
        return {**_init_networks(net_spec, k_net), "background": self.init_background(k_bg, frames_bhw3)}

    def init_background(self, key, frames_bhw3=None) -> dict:
        """params['background']: {'color'} (solid) or {'texture_logits', 'shift_head'} (texture)."""
        k_means, k_tex, k_head = jax.random.split(key, 3)
        if self.bg_color is not None:
            color_3 = jnp.asarray(self.bg_color, jnp.float32)
        elif frames_bhw3 is not None:
            color_3 = kmeans_color(frames_bhw3, 5, k_means)
        else:
            color_3 = jnp.full((3,), 0.5, jnp.float32)
        if self.background == "solid":
            return {"color": color_3}
        g = self.geom
        texture_logits = _logit(color_3) + 0.1 * jax.random.normal(k_tex, self.texture_shape + (3,))
        head = self.shift_head.init(k_head, jnp.zeros((1, g.grid_h, g.grid_w, self.latent_dim)))
        return {"texture_logits": texture_logits, "shift_head": head["params"]}

    def param_labels(self, params) -> dict:
        """Optimizer labels, same tree as params: 'default'; 'background' (learned texture + shift head, its own
        lr); 'frozen' (the solid colour, fixed as in the paper — give it optax.set_to_zero so weight decay leaves
        it alone)."""
        bg = "frozen" if self.background == "solid" else "background"
        return {name: jax.tree.map(lambda _: bg if name == "background" else "default", sub)
                for name, sub in params.items()}

    def decode_sprites(self, params):
        """The dictionary's RGBA sprites_mkk4 in [0, 1] (what an editor may change and pass to render_from)."""
        return self._float32(self.dictionary.apply({"params": self._compute(params["dictionary"])}))

    def _compute(self, tree):
        """A network's parameters or inputs in the compute dtype. With bfloat16 the float32 parameters stay the
        master copy (the cast's gradient flows back to them); outputs come back through _float32."""
        return self._cast(tree, self.compute_dtype)

    def _float32(self, tree):
        """A network's outputs back in float32 when it computed in a lower precision (float64 stays float64)."""
        return self._cast(tree, "float32")

    def _cast(self, tree, dtype: str):
        if self.compute_dtype == "float32":  # nothing to cast: also leaves float64 (the gradient tests) alone
            return tree
        return jax.tree.map(lambda x: x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x, tree)

    # ---- forward ------------------------------------------------------------------------------------------------

    def apply(self, params, frames_bhw3, keys_b, mode: str = "soft", hard_mix=None) -> ModelOutput:
        """frames_bhw3 in [0, 1], keys_b one PRNG key per frame (z-order inside layers) -> ModelOutput.

        mode 'soft' (training, eq. 2) or 'hard' (test time: argmax sprite, binarised switch, argmax texture shift).
        hard_mix (soft mode, may be traced): 1 composites the hard sprites with the soft ones' gradients
        (straight-through, render.straight_through), 0 or None is plain eq. 2.
        """
        if mode not in ("soft", "hard"):
            raise UserError(f"mode must be 'soft' or 'hard' (got {mode!r})")
        return self._forward(params, frames_bhw3, keys_b, mode == "hard", hard_mix=hard_mix)

    def render_from(self, params, frames_bhw3, keys_b, sprite_ids_blhw=None, switches_blhw=None,
                    offsets_blhw2=None, sprites_mkk4=None) -> ModelOutput:
        """Hard-mode forward with edits: any of the sprite ids, switches (> 0.5 = on), offsets (pixels) or the
        sprites themselves replace what the networks would give; the rest is inferred from the frames as usual.
        Without an offsets override, offsets are predicted for the edited sprites."""
        return self._forward(params, frames_bhw3, keys_b, True, sprite_ids_blhw, switches_blhw, offsets_blhw2,
                             sprites_mkk4)

    def _forward(self, params, frames_bhw3, keys_b, hard: bool, sprite_ids_blhw=None, switches_blhw=None,
                 offsets_blhw2=None, sprites_mkk4=None, hard_mix=None) -> ModelOutput:
        g = self.geom
        b = frames_bhw3.shape[0]
        if frames_bhw3.shape[1:] != (g.canvas_h, g.canvas_w, 3):
            raise UserError(f"frames must be (batch, {g.canvas_h}, {g.canvas_w}, 3), got {frames_bhw3.shape}")
        sprites_mkk4 = self.decode_sprites(params) if sprites_mkk4 is None else sprites_mkk4
        proj_blhwd, switches, body_bhwd = self._float32(
            self.encoder.apply({"params": self._compute(params["encoder"])}, self._compute(frames_bhw3)))
        scores_blhwm = render.score_sprites(proj_blhwd, params["dictionary"]["latents"], self.score_scale)
        ids_blhw = jnp.argmax(scores_blhwm, axis=-1) if sprite_ids_blhw is None else sprite_ids_blhw
        sel_scores = scores_blhwm if sprite_ids_blhw is None else jax.nn.one_hot(ids_blhw, self.num_sprites)
        switches = switches if switches_blhw is None else switches_blhw

        soft_blhwkk4 = render.select_soft(sel_scores, switches, sprites_mkk4)
        if hard:
            selected = render.select_hard(sel_scores, switches, sprites_mkk4)
            predictor_in = soft_blhwkk4 if self.transform_input_at_test == "soft" else selected
        elif hard_mix is not None:
            selected = render.straight_through(soft_blhwkk4, render.select_hard(sel_scores, switches, sprites_mkk4),
                                               hard_mix)
            predictor_in = soft_blhwkk4
        else:
            selected = predictor_in = soft_blhwkk4
        if offsets_blhw2 is None:
            active = (switches > 0.5) if hard and self.skip_inactive else None
            offsets_blhw2 = self.predict_offsets(params, frames_bhw3, predictor_in, active)

        placed = render.translate(selected, offsets_blhw2)
        background_bhw3 = self.background_image(params, body_bhwd, b, hard)
        out = render.composite(placed, background_bhw3, render.random_ranks(keys_b, g), g)
        return ModelOutput(
            recon_bhw3=out.recon_bhw3, scores_blhwm=scores_blhwm, switches_blhw=switches,
            offsets_blhw2=offsets_blhw2, sprites_mkk4=sprites_mkk4, placed_blhwkk4=placed,
            layers_blhw4=out.layers_blhw4, visibility_blhwkk=out.visibility_blhwkk,
            background_bhw3=background_bhw3, background_weight_bhw=out.background_weight_bhw,
            sprite_ids_blhw=ids_blhw.astype(jnp.int32))

    @property
    def chunk(self) -> int | None:
        """Anchors per translation-predictor call. 'auto' on CPU: as many as keep the first block's activations
        (k²·d floats per anchor) near 8 MiB, so a chunk's forward and backward stay in cache — 16 at the default
        size, where it measured fastest; elsewhere (GPU/TPU) every anchor in one call."""
        if self.predictor_chunk == "auto":
            if jax.default_backend() != "cpu":
                return None
            return max(1, CHUNK_FLOATS // (self.geom.k ** 2 * self.latent_dim))
        return self.predictor_chunk

    def predict_offsets(self, params, frames_bhw3, sprites_blhwkk4, active_blhw=None):
        """Translation predictor on [frame crop ⊕ sprite] for every anchor -> offsets_blhw2 (pixels).

        The crop's validity (inside the canvas) is the partial convs' mask. Anchors go through the predictor in
        chunks of self.chunk (rematerialised, so the backward pass also works chunk by chunk). With active_blhw
        (hard mode with skip_inactive) only the active anchors are predicted — gathered active-first over the
        whole batch, with a loop over just as many chunks (of at most ACTIVE_CHUNK_MAX) as they fill — and the others
        get offset 0 (they are transparent, so it changes nothing in the image). That loop has a data-dependent trip
        count: forward only.
        """
        g, k = self.geom, self.geom.k
        if self.translation == "correlation":  # cheap for every anchor: no skipping, no chunks
            return align.correlation_offsets(frames_bhw3, sprites_blhwkk4, g, int(self.offset_bound),
                                             self.align_temperature)
        b, l, gh, gw = sprites_blhwkk4.shape[:4]
        cells, n = gh * gw, l * gh * gw
        crops_ckk3 = render.extract_windows(frames_bhw3, g).reshape(b * cells, k, k, 3)
        valid_ckk1 = jnp.asarray(window_validity(g).reshape(cells, k, k, 1))
        sprites_akk4 = sprites_blhwkk4.reshape(b * n, k, k, 4)
        predict = functools.partial(self.transform.apply, {"params": self._compute(params["transform"])})

        def predict_anchors(anchor_a):  # flat anchor index (frame, layer, row, col) -> offsets_a2
            cell_a = anchor_a // n * cells + anchor_a % cells
            inputs = self._compute((crops_ckk3[cell_a], valid_ckk1[anchor_a % cells], sprites_akk4[anchor_a]))
            return self._float32(predict(*inputs))

        total = b * n
        if active_blhw is None:
            chunk = self.chunk or total
            if chunk >= total:
                offsets_a2 = predict_anchors(jnp.arange(total))
            else:
                ids_tc = whole_chunks(jnp.arange(total), chunk).reshape(-1, chunk)
                offsets_a2 = jax.lax.map(jax.checkpoint(predict_anchors), ids_tc).reshape(-1, 2)[:total]
            return offsets_a2.reshape(b, l, gh, gw, 2)

        chunk = min(self.chunk or ACTIVE_CHUNK_MAX, ACTIVE_CHUNK_MAX, total)
        active_a = active_blhw.reshape(total)
        count = jnp.sum(active_a)
        order_a = whole_chunks(jnp.argsort(~active_a, stable=True), chunk)  # active anchors first
        num_chunks = -(-count // chunk)

        def one_chunk(i, out_a2):
            ids_c = jax.lax.dynamic_slice_in_dim(order_a, i * chunk, chunk)
            return jax.lax.dynamic_update_slice_in_dim(out_a2, predict_anchors(ids_c), i * chunk, 0)

        dtype = sprites_blhwkk4.dtype
        ordered_a2 = jax.lax.fori_loop(0, num_chunks, one_chunk, jnp.zeros((order_a.shape[0], 2), dtype))[:total]
        ordered_a2 = jnp.where(jnp.arange(total)[:, None] < count, ordered_a2, 0.0)
        return jnp.zeros((total, 2), dtype).at[order_a[:total]].set(ordered_a2).reshape(b, l, gh, gw, 2)

    def background_image(self, params, body_bhwd, batch: int, hard: bool):
        """background_bhw3: the fixed colour, or the texture crop at the shift predicted from encoder features."""
        bg = params["background"]
        if self.background == "solid":
            return render.solid_background(jax.lax.stop_gradient(bg["color"]), batch, self.geom)
        logits_x, logits_y = self.shift_head.apply({"params": bg["shift_head"]}, body_bhwd)
        return render.texture_background(jax.nn.sigmoid(bg["texture_logits"]), logits_x, logits_y, hard)


def whole_chunks(ids_a, chunk: int):
    """ids_a padded with its own first entries to a whole number of chunks (the padding's results are dropped)."""
    return jnp.concatenate([ids_a, ids_a[: -ids_a.shape[0] % chunk]])


def window_validity(geom: render.Geometry) -> np.ndarray:
    """valid_hwkk1: 1 where anchor (i, j)'s k×k window lies inside the canvas (windows stick out k/4)."""
    offs = np.arange(geom.k) - geom.pad
    rows_hk = (np.arange(geom.grid_h)[:, None] * geom.cell + offs >= 0) & (
        np.arange(geom.grid_h)[:, None] * geom.cell + offs < geom.canvas_h)
    cols_wk = (np.arange(geom.grid_w)[:, None] * geom.cell + offs >= 0) & (
        np.arange(geom.grid_w)[:, None] * geom.cell + offs < geom.canvas_w)
    valid = rows_hk[:, None, :, None] & cols_wk[None, :, None, :]
    return valid[..., None].astype(np.float32)


@functools.partial(jax.jit, static_argnums=0)
def _init_networks(model: SpriteModel, key) -> dict:
    """Dictionary, encoder and translation-predictor parameters, one compile per model geometry."""
    kd, ke, kt = jax.random.split(key, 3)
    g, k = model.geom, model.geom.k
    params = {
        "dictionary": model.dictionary.init(kd)["params"],
        "encoder": model.encoder.init(ke, jnp.zeros((1, g.canvas_h, g.canvas_w, 3)))["params"],
    }
    if model.translation == "network":
        params["transform"] = model.transform.init(kt, jnp.zeros((1, k, k, 3)), jnp.ones((1, k, k, 1)),
                                                   jnp.zeros((1, k, k, 4)))["params"]
    return params
