"""Neural-network building blocks shared by the encoder and the translation predictor.

PartialConv is a 3×3 partial convolution (Liu et al. 2018): the kernel sees only valid pixels (mask = 1), the sum
is renormalised by 9 / (number of valid taps) and the mask is updated to "any valid tap". With an all-ones mask it is
a zero-padded conv whose border outputs are rescaled, so image borders do not read as dark edges.

The convolution itself has two implementations with identical parameters and outputs:
  'xla'    lax.conv_general_dilated
  'matmul' the 9 shifted (strided) slices concatenated along channels and one matmul — on XLA CPU the weight
           gradient of a conv runs ~4× slower than a matmul of the same FLOPs, so this wins there.
  'auto'   'matmul' on the CPU backend, 'xla' elsewhere (chosen when the function is traced).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from .errors import UserError

CONV_IMPLS = ("xla", "matmul", "auto")
GN_EPS = 1e-5  # PyTorch GroupNorm default (flax's is 1e-6)

# PyTorch's default Linear/Conv weight init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
torch_kernel_init = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")


def resolve_conv_impl(conv_impl: str) -> str:
    if conv_impl not in CONV_IMPLS:
        raise UserError(f"conv_impl must be one of {CONV_IMPLS}, got {conv_impl!r}")
    if conv_impl == "auto":
        return "matmul" if jax.default_backend() == "cpu" else "xla"
    return conv_impl


def _out_size(n: int, stride: int) -> int:
    return (n + 2 - 3) // stride + 1  # kernel 3, padding 1


def conv3x3(x_nhwc, kernel_33io, stride: int, conv_impl: str):
    """Zero-padded (pad 1) 3×3 convolution; kernel layout (3, 3, Cin, Cout)."""
    impl = resolve_conv_impl(conv_impl)
    if impl == "xla":
        return jax.lax.conv_general_dilated(
            x_nhwc, kernel_33io, (stride, stride), ((1, 1), (1, 1)),
            dimension_numbers=("NHWC", "HWIO", "NHWC"))
    n, h, w, c = x_nhwc.shape
    ho, wo = _out_size(h, stride), _out_size(w, stride)
    xp = jnp.pad(x_nhwc, ((0, 0), (1, 1), (1, 1), (0, 0)))
    taps = [xp[:, dy:dy + stride * (ho - 1) + 1:stride, dx:dx + stride * (wo - 1) + 1:stride, :]
            for dy in range(3) for dx in range(3)]
    patches_nhw9c = jnp.concatenate(taps, axis=-1)
    return patches_nhw9c @ kernel_33io.reshape(9 * c, -1)


def valid_taps(mask_nhw1, stride: int):
    """Number of valid pixels under each 3×3 window (zero padding counts as invalid)."""
    return jax.lax.reduce_window(mask_nhw1, 0.0, jax.lax.add, (1, 3, 3, 1), (1, stride, stride, 1),
                                 ((0, 0), (1, 1), (1, 1), (0, 0)))


def border_taps(h: int, w: int, stride: int) -> np.ndarray:
    """valid_taps of an all-ones h×w mask, computed statically (separable: in-image rows × in-image cols)."""
    def per_axis(n):
        centre = np.arange(_out_size(n, stride)) * stride
        return 1 + (centre > 0) + (centre < n - 1)
    return (per_axis(h)[:, None] * per_axis(w)[None, :])[..., None].astype(np.float32)


def _flat_apply(fn, x_shwc):
    """Apply fn, which wants (N, H, W, C), to (..., H, W, C)."""
    y = fn(x_shwc.reshape(-1, *x_shwc.shape[-3:]))
    return y.reshape(*x_shwc.shape[:-3], *y.shape[1:])


class PartialConv(nn.Module):
    """3×3 partial conv: (x_...hwc, mask_...hw1) -> (y_...h'w'c', mask_...h'w'1).

    The one-channel mask is shared by all features and need only broadcast against x's leading dims (e.g. one
    mask per anchor position for every frame's crops), which keeps the mask arithmetic small. mask=None means all
    pixels valid: the border rescaling is then a static table and the returned mask is None too.
    """

    features: int
    stride: int = 1
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x_shwc, mask_shw1=None):
        h, w, c = x_shwc.shape[-3:]
        kernel = self.param("kernel", torch_kernel_init, (3, 3, c, self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        masked = x_shwc if mask_shw1 is None else x_shwc * mask_shw1
        raw = _flat_apply(lambda x: conv3x3(x, kernel, self.stride, self.conv_impl), masked)
        if mask_shw1 is None:
            return raw * (9.0 / border_taps(h, w, self.stride)) + bias, None
        taps = _flat_apply(lambda m: valid_taps(m, self.stride), mask_shw1)
        new_mask = (taps > 0).astype(x_shwc.dtype)
        ratio = new_mask * 9.0 / jnp.maximum(taps, 1.0)
        return (raw * ratio + bias) * new_mask, new_mask


class ConvBody(nn.Module):
    """num_blocks × [pconv 3×3 → GN(8) → LeakyReLU, pconv 3×3 stride 2 → GN(8) → LeakyReLU]; halves H, W per block.

    x_...hwc with any leading dims (GroupNorm statistics per image); mask as in PartialConv."""

    features: int
    num_blocks: int
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x_shwc, mask_shw1=None):
        for _ in range(self.num_blocks):
            for stride in (1, 2):
                x_shwc, mask_shw1 = PartialConv(self.features, stride, self.conv_impl)(x_shwc, mask_shw1)
                x_shwc = nn.leaky_relu(_flat_apply(nn.GroupNorm(num_groups=8, epsilon=GN_EPS), x_shwc))
        return x_shwc, mask_shw1


class MLPHead(nn.Module):
    """Dense hidden → GN(8) → activation → Dense out, on the last axis (statistics per vector, any leading dims)."""

    hidden: int
    out: int
    activation: str = "leaky_relu"

    @nn.compact
    def __call__(self, x_nc):
        lead = x_nc.shape[:-1]
        h = nn.Dense(self.hidden, kernel_init=torch_kernel_init)(x_nc.reshape(-1, x_nc.shape[-1]))
        h = getattr(nn, self.activation)(nn.GroupNorm(num_groups=8, epsilon=GN_EPS)(h))
        return nn.Dense(self.out, kernel_init=torch_kernel_init)(h).reshape(*lead, self.out)
