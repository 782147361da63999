import jax
import jax.numpy as jnp
import numpy as np
import pytest

from spritejax.errors import UserError
from spritejax.nn import ConvBody, PartialConv, conv3x3


def _taps_by_hand(h, w, stride):
    """Count in-image taps of each 3×3 window (pad 1) with plain loops."""
    ho, wo = (h - 1) // stride + 1, (w - 1) // stride + 1
    out = np.zeros((ho, wo))
    for i in range(ho):
        for j in range(wo):
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    y, x = i * stride + dy, j * stride + dx
                    out[i, j] += 0 <= y < h and 0 <= x < w
    return out


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("impl", ["xla", "matmul"])
def test_partial_conv_all_ones_mask_is_rescaled_zero_padded_conv(stride, impl):
    x = jax.random.normal(jax.random.key(0), (2, 6, 8, 5))
    mask = jnp.ones((2, 6, 8, 1))
    pc = PartialConv(7, stride, impl)
    params = pc.init(jax.random.key(1), x, mask)
    kern, bias = params["params"]["kernel"], params["params"]["bias"]
    bias = bias + 0.3  # a nonzero bias must stay un-rescaled
    y, new_mask = pc.apply({"params": {"kernel": kern, "bias": bias}}, x, mask)
    ref = jax.lax.conv_general_dilated(x, kern, (stride, stride), ((1, 1), (1, 1)),
                                       dimension_numbers=("NHWC", "HWIO", "NHWC"))
    scale = 9.0 / _taps_by_hand(6, 8, stride)
    np.testing.assert_allclose(y, ref * scale[None, :, :, None] + bias, rtol=1e-5, atol=1e-5)
    assert scale[0, 0] == 9 / 4 and scale[1, 1] == 1.0
    np.testing.assert_array_equal(new_mask, 1.0)


def test_partial_conv_ignores_masked_pixels_and_updates_mask():
    x = jax.random.normal(jax.random.key(0), (1, 6, 6, 3))
    mask = jnp.zeros((1, 6, 6, 1)).at[:, :, :3].set(1.0)  # left half valid
    pc = PartialConv(4, 1, "xla")
    params = pc.init(jax.random.key(1), x, mask)
    garbage = x.at[:, :, 3:].set(1e3)  # whatever lies under the mask must not matter
    y1, m1 = pc.apply(params, x, mask)
    y2, _ = pc.apply(params, garbage, mask)
    np.testing.assert_allclose(y1, y2, atol=1e-4)
    np.testing.assert_array_equal(m1[0, :, :, 0], np.repeat([[1, 1, 1, 1, 0, 0]], 6, 0))
    assert np.all(np.asarray(y1)[:, :, 4:] == 0.0)
    allzero, zmask = pc.apply(params, x, jnp.zeros_like(mask))
    assert np.all(np.asarray(allzero) == 0.0) and np.all(np.asarray(zmask) == 0.0)


@pytest.mark.parametrize("stride", [1, 2])
def test_matmul_impl_equals_xla_impl_values_and_grads(stride):
    x = jax.random.normal(jax.random.key(2), (3, 8, 6, 4))
    mask = (jax.random.uniform(jax.random.key(3), (3, 8, 6, 1)) > 0.3).astype(jnp.float32)
    params = PartialConv(5, stride, "xla").init(jax.random.key(4), x, mask)

    def loss(p, x, impl):
        y, m = PartialConv(5, stride, impl).apply(p, x, mask)
        return jnp.sum(jnp.sin(y)) + jnp.sum(m)

    vx, gx = jax.value_and_grad(loss, argnums=(0, 1))(params, x, "xla")
    vm, gm = jax.value_and_grad(loss, argnums=(0, 1))(params, x, "matmul")
    np.testing.assert_allclose(vx, vm, rtol=1e-5)
    for a, b in zip(jax.tree.leaves(gx), jax.tree.leaves(gm)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_conv3x3_rejects_unknown_impl():
    with pytest.raises(UserError, match="conv_impl"):
        conv3x3(jnp.ones((1, 4, 4, 1)), jnp.ones((3, 3, 1, 1)), 1, "fft")


def test_conv_body_halves_per_block():
    body = ConvBody(16, 2, "auto")
    x, mask = jnp.ones((2, 16, 8, 7)), jnp.ones((2, 16, 8, 1))
    params = jax.jit(body.init)(jax.random.key(0), x, mask)
    y, m = jax.jit(body.apply)(params, x, mask)
    assert y.shape == (2, 4, 2, 16) and m.shape == (2, 4, 2, 1)
    assert np.all(np.isfinite(np.asarray(y)))


def test_mask_none_equals_all_ones_and_mask_broadcasts_over_leading_dims():
    x = jax.random.normal(jax.random.key(5), (2, 3, 6, 6, 4))  # leading dims (2, 3): e.g. frames × anchors
    mask_3hw1 = (jax.random.uniform(jax.random.key(6), (3, 6, 6, 1)) > 0.4).astype(jnp.float32)
    pc = PartialConv(5, 2, "matmul")
    params = pc.init(jax.random.key(7), x)
    y_none, m_none = pc.apply(params, x)
    y_ones, _ = pc.apply(params, x, jnp.ones((6, 6, 1)))
    assert m_none is None
    np.testing.assert_allclose(y_none, y_ones, rtol=1e-5, atol=1e-6)
    y_bcast, m_bcast = pc.apply(params, x, mask_3hw1)
    assert y_bcast.shape == (2, 3, 3, 3, 5) and m_bcast.shape == (3, 3, 3, 1)
    for i in range(2):
        y_i, _ = pc.apply(params, x[i], mask_3hw1)
        np.testing.assert_allclose(y_bcast[i], y_i, rtol=1e-5, atol=1e-6)
