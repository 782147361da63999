import dataclasses

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from spritejax.background import kmeans_color
from spritejax.errors import UserError
from spritejax.losses import loss_fn
from spritejax.model import ModelOutput, SpriteModel

B = 2


def small_config(**model_overrides):
    """canvas 32×32, k=8 (8×8 anchor grid), m=6, d=16, ℓ=2."""
    model = dict(k=8, layers=2, num_sprites=6, latent_dim=16, offset_bound=None, background="solid",
                 texture_size=None, bg_color=None, transform_input_at_test="soft", conv_impl="auto")
    model.update(model_overrides)
    return ml_collections.ConfigDict({"canvas": (32, 32), "model": model})


def frames_and_keys(seed=0):
    frames = jax.random.uniform(jax.random.key(seed), (B, 32, 32, 3))
    return frames, jax.random.split(jax.random.key(seed + 1), B)


def count(tree):
    return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


class Small:
    """The small model with its jitted entry points (one compile each for the whole module)."""

    def __init__(self):
        self.model = SpriteModel.from_config(small_config(conv_impl="xla"))  # matmul == xla: test_nn.py
        self.params = self.model.init(jax.random.key(0), frames_and_keys()[0])
        self.apply = jax.jit(self.model.apply, static_argnames="mode")
        self.render_from = jax.jit(self.model.render_from)


@pytest.fixture(scope="module")
def small():
    return Small()


def test_default_config_parameter_count():
    cfg = ml_collections.ConfigDict({"canvas": (128, 128), "model": dict(k=32, layers=2, num_sprites=150,
                                                                          latent_dim=128)})
    model = SpriteModel.from_config(cfg)
    params = jax.eval_shape(model.init, jax.random.key(0))
    m, d, k = 150, 128, 32
    assert count(params["dictionary"]) == m * d + (d * 8 * d + 8 * d) + 2 * 8 * d + (8 * d * 4 * k * k + 4 * k * k)
    total = count(params) - count(params["background"])
    assert abs(total - 7.2e6) / 7.2e6 < 0.03, total
    assert model.offset_bound == 8.0  # k/4 = half a cell by default


def test_output_shapes_soft_and_hard(small):
    frames, keys = frames_and_keys()
    for mode in ("soft", "hard"):
        out = small.apply(small.params, frames, keys, mode=mode)
        assert isinstance(out, ModelOutput)
        assert out.recon_bhw3.shape == (B, 32, 32, 3)
        assert out.scores_blhwm.shape == (B, 2, 8, 8, 6)
        assert out.switches_blhw.shape == (B, 2, 8, 8)
        assert out.offsets_blhw2.shape == (B, 2, 8, 8, 2)
        assert out.sprites_mkk4.shape == (6, 8, 8, 4)
        assert out.placed_blhwkk4.shape == (B, 2, 8, 8, 8, 8, 4)
        assert out.layers_blhw4.shape == (B, 2, 32, 32, 4)
        assert out.visibility_blhwkk.shape == (B, 2, 8, 8, 8, 8)
        assert out.background_bhw3.shape == (B, 32, 32, 3)
        assert out.sprite_ids_blhw.shape == (B, 2, 8, 8) and out.sprite_ids_blhw.dtype == jnp.int32
        assert np.all(np.abs(np.asarray(out.offsets_blhw2)) <= 2.0)  # offset_bound = k/4
        assert np.all(np.isfinite(np.asarray(out.recon_bhw3)))
    np.testing.assert_array_equal(out.sprite_ids_blhw, np.argmax(out.scores_blhwm, -1))


def test_rejects_bad_mode_and_frames(small):
    model, params = small.model, small.params
    frames, keys = frames_and_keys()
    with pytest.raises(UserError, match="mode"):
        model.apply(params, frames, keys, mode="argmax")
    with pytest.raises(UserError, match="frames"):
        model.apply(params, frames[:, :16], keys)
    with pytest.raises(UserError, match="background"):
        SpriteModel.from_config(small_config(background="video"))
    with pytest.raises(UserError, match="conv_impl"):
        SpriteModel.from_config(small_config(conv_impl="fft"))
    with pytest.raises(UserError, match="texture_size"):
        SpriteModel.from_config(small_config(background="texture", texture_size=(40, 16)))


def _sharpen(params, switch_bias):
    """Every anchor picks sprite 0 with score ≈ 0.998 (its projection equals latent 0, the other latents are its
    negation) and every switch is saturated at sigmoid(switch_bias)."""
    p = jax.tree.map(lambda x: x, params)
    latent0 = p["dictionary"]["latents"][0]
    p["dictionary"]["latents"] = jnp.concatenate([latent0[None], -jnp.tile(latent0, (5, 1))])
    proj = dict(p["encoder"]["projection"])
    proj["kernel"], proj["bias"] = jnp.zeros_like(proj["kernel"]), latent0
    p["encoder"]["projection"] = proj
    last = dict(p["encoder"]["switch"]["Dense_1"])
    last["kernel"], last["bias"] = jnp.zeros_like(last["kernel"]), jnp.full_like(last["bias"], switch_bias)
    p["encoder"]["switch"] = {**p["encoder"]["switch"], "Dense_1": last}
    return p


def test_soft_and_hard_agree_for_one_hot_scores_and_saturated_switches(small):
    frames, keys = frames_and_keys()
    sharp = _sharpen(small.params, 30.0)
    soft = small.apply(sharp, frames, keys, mode="soft")
    hard = small.apply(sharp, frames, keys, mode="hard")
    assert np.all(np.asarray(hard.sprite_ids_blhw) == 0)
    assert float(soft.scores_blhwm[..., 0].min()) > 0.99
    np.testing.assert_allclose(soft.offsets_blhw2, hard.offsets_blhw2, atol=1e-5)  # same (soft) predictor input
    np.testing.assert_allclose(soft.recon_bhw3, hard.recon_bhw3, atol=1e-2)
    off = small.apply(_sharpen(small.params, -30.0), frames, keys, mode="hard")
    np.testing.assert_allclose(off.recon_bhw3, off.background_bhw3, atol=1e-6)  # all anchors inactive


def test_render_from_reproduces_hard_and_places_one_sprite(small):
    model, params = small.model, small.params
    frames, keys = frames_and_keys()
    sprites = model.decode_sprites(params)
    hard = small.apply(params, frames, keys, mode="hard")
    again = small.render_from(params, frames, keys, hard.sprite_ids_blhw, hard.switches_blhw, hard.offsets_blhw2,
                              sprites)
    np.testing.assert_allclose(again.recon_bhw3, hard.recon_bhw3, atol=1e-6)

    # One active anchor (layer 1, anchor (3, 4)), sprite 2, no offset: its window shows sprite-over-background.
    ids = jnp.full((B, 2, 8, 8), 2, jnp.int32)
    switches = jnp.zeros((B, 2, 8, 8)).at[:, 1, 3, 4].set(1.0)
    out = small.render_from(params, frames, keys, ids, switches, jnp.zeros((B, 2, 8, 8, 2)), sprites)
    color = params["background"]["color"]
    alpha = sprites[2, ..., 3:]
    expected = sprites[2, ..., :3] * alpha + color * (1 - alpha)
    # window rows [i·cell − k/4, +k) = [10, 18), cols [14, 22)
    np.testing.assert_allclose(out.recon_bhw3[:, 10:18, 14:22], np.broadcast_to(expected, (B, 8, 8, 3)), atol=1e-5)
    rest = np.asarray(out.recon_bhw3).copy()
    rest[:, 10:18, 14:22] = color
    np.testing.assert_allclose(rest, np.broadcast_to(color, rest.shape), atol=1e-6)

    # Edited sprites replace the generator's.
    white = jnp.ones_like(sprites)
    edited = small.render_from(params, frames, keys, ids, switches, jnp.zeros((B, 2, 8, 8, 2)), white)
    np.testing.assert_allclose(edited.recon_bhw3[:, 10:18, 14:22], 1.0, atol=1e-6)


def predictor_inputs_f64(seed):
    """A solid-background model (no k-means) with float64 parameters, frames and sprites: comparisons of the
    predictor's chunked and one-call paths are then exact to ~1e-10, while in float32 GroupNorm over 2-channel
    groups at 1×1 (d=16) amplifies float reordering to ~1e-2."""
    model = SpriteModel.from_config(small_config(conv_impl="xla", bg_color=(0.5, 0.5, 0.5)))
    params = jax.tree.map(lambda x: x.astype(jnp.float64), model.init(jax.random.key(0)))
    frames = jax.random.uniform(jax.random.key(seed), (B, 32, 32, 3), jnp.float64)
    sprites_blhwkk4 = jax.random.uniform(jax.random.key(seed + 1), (B, 2, 8, 8, 8, 8, 4), jnp.float64)
    return model, params, frames, sprites_blhwkk4


def test_skip_inactive_predicts_only_active_anchors():
    with jax.enable_x64(True):
        model, params, frames, sprites_blhwkk4 = predictor_inputs_f64(4)
        few = jnp.zeros((B, 2, 8, 8), bool).at[0, 0, 2, 3].set(True).at[1, 1, 5, 0:3].set(True)  # 1 and 3 on
        many = few.at[:, 0, 7, :].set(True).at[1].set(True)  # frame 1 all active: many chunks
        ref = np.asarray(jax.jit(dataclasses.replace(model, predictor_chunk=None).predict_offsets)(
            params, frames, sprites_blhwkk4))
        for chunk in (None, 5, 16):
            predict = jax.jit(dataclasses.replace(model, predictor_chunk=chunk).predict_offsets)
            for active in (few, many, jnp.zeros_like(few)):
                got = np.asarray(predict(params, frames, sprites_blhwkk4, active))
                on = np.asarray(active)
                np.testing.assert_allclose(got[on], ref[on], rtol=1e-8, atol=1e-8)
                assert np.all(got[~on] == 0), chunk
                assert np.all(np.any(got[on] != 0, axis=-1))  # every active anchor was predicted


def test_chunked_predictor_matches_one_call_with_gradients():
    with jax.enable_x64(True):
        model, params, frames, sprites_blhwkk4 = predictor_inputs_f64(5)

        def value_and_grad(chunk):
            chunked = dataclasses.replace(model, predictor_chunk=chunk)
            fn = lambda p, s: jnp.sum(jnp.sin(chunked.predict_offsets(p, frames, s)))  # noqa: E731
            return jax.jit(jax.value_and_grad(fn, argnums=(0, 1)))(params, sprites_blhwkk4)

        ref = value_and_grad(None)
        for chunk in (7, 64):  # 256 anchors: a padded last chunk, and whole chunks
            for a, b in zip(jax.tree.leaves(value_and_grad(chunk)), jax.tree.leaves(ref)):
                np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-9)


def test_predictor_chunk_validated():
    with pytest.raises(UserError, match="predictor_chunk"):
        SpriteModel.from_config(small_config(predictor_chunk=0))


def test_gradients_finite_and_reach_every_trained_part():
    model = SpriteModel.from_config(small_config(background="texture", texture_size=(40, 36), conv_impl="xla"))
    frames, keys = frames_and_keys(3)
    params = model.init(jax.random.key(1), frames)

    def loss(p):
        return loss_fn(model.apply(p, frames, keys, "soft"), frames, 0.002, 0.005)[0]

    grads = jax.jit(jax.grad(loss))(params)
    for path, g in jax.tree_util.tree_leaves_with_path(grads):
        assert np.all(np.isfinite(np.asarray(g))), path
    for part in ("dictionary", "encoder", "transform", "background"):
        for path, g in jax.tree_util.tree_leaves_with_path(grads[part]):
            assert float(jnp.abs(g).sum()) > 0, (part, path)
    labels = model.param_labels(params)
    assert jax.tree.structure(labels) == jax.tree.structure(params)
    assert set(jax.tree.leaves(labels["background"])) == {"background"}
    assert set(jax.tree.leaves(labels["encoder"])) == {"default"}


def test_solid_background_is_fixed_and_labelled_frozen(small):
    params = small.params

    def bg_sum(color_3):
        return small.model.background_image({"background": {"color": color_3}}, None, B, False).sum()

    grad = jax.grad(bg_sum)(params["background"]["color"])
    assert float(jnp.abs(grad).sum()) == 0  # fixed colour (paper §2.5)
    assert small.model.param_labels(params)["background"] == {"color": "frozen"}


def test_kmeans_picks_largest_cluster():
    rng = np.random.default_rng(0)
    n = 20 * 16 * 16
    colours = np.array([[0.1, 0.2, 0.9], [0.9, 0.9, 0.1], [0.0, 0.0, 0.0], [1.0, 0.5, 0.0], [0.5, 0.0, 0.5]])
    which = rng.choice(5, n, p=[0.4, 0.15, 0.15, 0.15, 0.15])
    pixels = colours[which] + rng.normal(0, 0.01, (n, 3))
    frames = pixels.reshape(20, 16, 16, 3).astype(np.float32)
    color = kmeans_color(frames, 5, jax.random.key(0))
    np.testing.assert_allclose(color, colours[0], atol=0.02)
    with jax.enable_x64(True):  # one-hot assignments follow the pixels' float32, not x64's default float
        np.testing.assert_allclose(kmeans_color(frames, 5, jax.random.key(0)), color, atol=1e-6)
    key = jax.random.key(0)
    model = SpriteModel.from_config(small_config())
    np.testing.assert_allclose(model.init_background(key, frames)["color"], colours[0], atol=0.02)
    assert model.init_background(key)["color"].tolist() == [0.5, 0.5, 0.5]
    red = SpriteModel.from_config(small_config(bg_color=(1.0, 0.0, 0.0)))
    assert red.init_background(key, frames)["color"].tolist() == [1.0, 0.0, 0.0]
