import jax.numpy as jnp
import numpy as np
import pytest

from spritejax.losses import beta22_density, loss_fn, psnr_from_mse
from spritejax.model import ModelOutput


def _out(recon, scores, switches):
    """A ModelOutput carrying only what the loss reads."""
    none = jnp.zeros(())
    return ModelOutput(recon_bhw3=recon, scores_blhwm=scores, switches_blhw=switches, offsets_blhw2=none,
                       sprites_mkk4=none, placed_blhwkk4=none, layers_blhw4=none, visibility_blhwkk=none,
                       background_bhw3=none, background_weight_bhw=none, sprite_ids_blhw=none)


def test_beta_density_values_and_clamp():
    np.testing.assert_allclose(beta22_density(jnp.array([0.5, 0.25, 1.0, 0.0, -3.0])),
                               [1.5, 6 * 0.25 * 0.75, 6e-5 * (1 - 1e-5), 6e-5 * (1 - 1e-5), 6e-5 * (1 - 1e-5)],
                               rtol=2e-3)  # 1 − 1e-5 in float32 is inexact


def test_loss_matches_eq3_by_hand():
    # 1 frame 2×2, ℓ=1 layer of 2 anchors, m=2 sprites.
    frames = jnp.zeros((1, 2, 2, 3))
    recon = frames.at[0, 0, 0].set(jnp.array([0.5, 0.0, 0.0])).at[0, 1, 1].set(jnp.array([0.1, 0.2, 0.2]))
    scores = jnp.array([[[[0.5, 0.5], [1.0, 0.0]]]])  # (1, 1, 1, 2 anchors, 2)
    switches = jnp.array([[[[0.5, 1.0]]]])
    lam_beta, lam_sparse = 0.1, 0.01
    loss, metrics = loss_fn(_out(recon, scores, switches), frames, lam_beta, lam_sparse)

    recon_term = (0.25 + 0.01 + 0.04 + 0.04) / 4  # ‖O−I‖² / (wh)
    tiny = 6e-5 * (1 - 1e-5)
    anchor0 = lam_beta * ((1.5 + 1.5) / 2 + 1.5) + lam_sparse * 0.5
    anchor1 = lam_beta * ((tiny + tiny) / 2 + tiny) + lam_sparse * 1.0
    expected = recon_term + (anchor0 + anchor1) / 2  # k²/(4ℓwh) Σ = mean over the ℓ·anchors
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    np.testing.assert_allclose(metrics["recon"], recon_term, rtol=1e-6)
    np.testing.assert_allclose(metrics["mse"], recon_term / 3, rtol=1e-6)
    np.testing.assert_allclose(metrics["sparse"], 0.75, rtol=1e-6)
    np.testing.assert_allclose(metrics["psnr"], 10 * np.log10(3 / recon_term), rtol=1e-5)


def test_perfect_binary_decomposition_costs_nothing_but_sparsity():
    frames = jnp.full((2, 4, 4, 3), 0.3)
    scores = jnp.zeros((2, 2, 2, 2, 5)).at[..., 1].set(1.0)
    switches = jnp.zeros((2, 2, 2, 2)).at[:, 0, 0, 0].set(1.0)
    loss, metrics = loss_fn(_out(frames, scores, switches), frames, 0.0, 0.005)
    np.testing.assert_allclose(loss, 0.005 * 2 / 16, rtol=1e-6)
    assert float(metrics["mse"]) == 0.0
    assert float(metrics["psnr"]) == pytest.approx(120.0)  # capped by the 1e-12 floor


def test_psnr_from_mse():
    np.testing.assert_allclose(psnr_from_mse(jnp.array(0.01)), 20.0, rtol=1e-6)
