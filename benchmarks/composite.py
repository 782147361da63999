"""Frames/s of the rendering hot path (soft selection + translation + compositing) against a straightforward baseline.

Reference size: 128² frames, ℓ=2 layers, 8×8 anchors, k=32, m=150. The baseline, measured in the same run, is
what one writes first: bilinear translation by a 4-tap gather, then every anchor placed on a full canvas with
dynamic_update_slice and composited one after another (lax.scan over anchors in rank order). Both are checked to
render the same frame before timing. Prints one JSON line.

    python benchmarks/composite.py [--quick] [--batch-sizes 1 8 32]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from spritejax import render as R

H = W = 128
K, LAYERS, M = 32, 2, 150


def baseline_translate(sprites_xkk4, offsets_x2):
    """Bilinear sampling at (y − dy, x − dx) with a 4-tap gather; RGB border padding, alpha zero padding."""
    k = sprites_xkk4.shape[-2]
    flat = sprites_xkk4.reshape(-1, k, k, 4)
    offs = offsets_x2.reshape(-1, 2)

    def one(sprite, off):
        pos = jnp.arange(k, dtype=sprite.dtype)
        sy = jnp.broadcast_to(pos[:, None] - off[1], (k, k))
        sx = jnp.broadcast_to(pos[None, :] - off[0], (k, k))

        def sample(img, y, x):
            y0, x0 = jnp.floor(y), jnp.floor(x)
            out = 0.0
            for yy, wy in ((y0, 1 - (y - y0)), (y0 + 1, y - y0)):
                for xx, wx in ((x0, 1 - (x - x0)), (x0 + 1, x - x0)):
                    ok = (yy >= 0) & (yy <= k - 1) & (xx >= 0) & (xx <= k - 1)
                    v = img[jnp.clip(yy, 0, k - 1).astype(jnp.int32), jnp.clip(xx, 0, k - 1).astype(jnp.int32)]
                    out = out + jnp.where(ok[..., None], (wy * wx)[..., None] * v, 0.0)
            return out

        rgb = sample(sprite[..., :3], jnp.clip(sy, 0, k - 1), jnp.clip(sx, 0, k - 1))
        alpha = sample(sprite[..., 3:], sy, sx)
        return jnp.concatenate([rgb, alpha], axis=-1)

    return jax.vmap(one)(flat, offs).reshape(sprites_xkk4.shape)


def baseline_composite(placed_blhwkk4, background_bhw3, ranks_blhw, geom):
    """Per frame, per layer: scan over anchors in rank order, each placed on a full padded canvas, "over"."""
    p, cell, k, n = geom.pad, geom.cell, geom.k, geom.num_anchors
    hp, wp = geom.canvas_h + 2 * p, geom.canvas_w + 2 * p

    def frame(placed_lhwkk4, bg_hw3, ranks_lhw):
        out = jnp.pad(bg_hw3, ((p, p), (p, p), (0, 0)))
        for l in range(geom.layers):
            sprites_nkk4 = placed_lhwkk4[l].reshape(n, k, k, 4)

            def paint(carry, a):
                col, alp = carry
                s = sprites_nkk4[a]
                i, j = a // geom.grid_w * cell, a % geom.grid_w * cell
                full_a = jax.lax.dynamic_update_slice(jnp.zeros((hp, wp)), s[..., 3], (i, j))
                full_c = jax.lax.dynamic_update_slice(jnp.zeros((hp, wp, 3)), s[..., :3] * s[..., 3:], (i, j, 0))
                return (full_c + (1 - full_a)[..., None] * col, full_a + (1 - full_a) * alp), None

            init = (jnp.zeros((hp, wp, 3)), jnp.zeros((hp, wp)))
            (col, alp), _ = jax.lax.scan(paint, init, jnp.argsort(ranks_lhw[l].ravel()))
            out = col + (1 - alp)[..., None] * out
        return out[p:p + geom.canvas_h, p:p + geom.canvas_w]

    return jax.vmap(frame)(placed_blhwkk4, background_bhw3, ranks_blhw)


def fast_render(x, geom):
    placed = R.translate(R.select_soft(x["scores"], x["switches"], x["sprites"]), x["offsets"])
    return R.composite(placed, x["background"], x["ranks"], geom).recon_bhw3


def baseline_render(x, geom):
    placed = baseline_translate(R.select_soft(x["scores"], x["switches"], x["sprites"]), x["offsets"])
    return baseline_composite(placed, x["background"], x["ranks"], geom)


def fast_composite_only(x, geom):
    return R.composite(x["placed"], x["background"], x["ranks"], geom).recon_bhw3


def baseline_composite_only(x, geom):
    return baseline_composite(x["placed"], x["background"], x["ranks"], geom)


# name -> (fast, baseline, differentiated inputs)
STAGES = {
    "render": (fast_render, baseline_render, ("sprites", "scores", "switches", "offsets")),
    "composite_only": (fast_composite_only, baseline_composite_only, ("placed",)),
}


def make_inputs(batch, geom, seed=0):
    rng = np.random.default_rng(seed)
    grid = (batch, geom.layers, geom.grid_h, geom.grid_w)
    logits = rng.normal(size=grid + (M,)) * 3
    scores = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    ranks = np.stack([rng.permutation(geom.num_anchors) for _ in range(batch * geom.layers)]).reshape(grid)
    arrays = dict(sprites=rng.uniform(size=(M, K, K, 4)), scores=scores, switches=rng.uniform(size=grid),
                  offsets=rng.uniform(-geom.pad, geom.pad, size=grid + (2,)),
                  background=rng.uniform(size=(batch, H, W, 3)))
    out = {n: jnp.asarray(a, jnp.float32) for n, a in arrays.items()}
    out["ranks"] = jnp.asarray(ranks, jnp.int32)
    out["placed"] = jax.jit(R.translate)(R.select_soft(out["scores"], out["switches"], out["sprites"]), out["offsets"])
    return out


def make_steps(render, diff_names, geom):
    """jit-compiled forward and forward+backward (gradients for the inputs named in diff_names)."""

    def forward(x):
        return render(x, geom)

    def loss(diff, rest):
        return jnp.mean(jnp.square(forward({**rest, **diff}) - rest["background"][:, ::-1]))

    def backward(x):
        return jax.grad(loss)({n: x[n] for n in diff_names}, x)

    return jax.jit(forward), jax.jit(backward)


def paired_frames_per_s(fast, base, x, batch, min_time, max_reps):
    """Median frames/s of both, timed alternately after a warm-up call each (compile excluded).

    Alternating keeps both exposed to the same machine load, which matters on a shared CPU.
    """
    jax.block_until_ready(fast(x))
    jax.block_until_ready(base(x))
    times = {fast: [], base: []}
    while len(times[fast]) < max_reps and (len(times[fast]) < 3 or sum(times[base]) < min_time):
        for fn in (fast, base):
            t = time.perf_counter()
            jax.block_until_ready(fn(x))
            times[fn].append(time.perf_counter() - t)
    return batch / statistics.median(times[fast]), batch / statistics.median(times[base])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="batch sizes 1 and 8, fewer repetitions")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=None)
    args = parser.parse_args(argv)
    batches = args.batch_sizes or ([1, 8] if args.quick else [1, 8, 32])
    min_time, max_reps = (0.3, 3) if args.quick else (0.5, 5)

    geom = R.Geometry(H, W, K, LAYERS)
    steps = {name: (make_steps(fast, diff, geom), make_steps(base, diff, geom))
             for name, (fast, base, diff) in STAGES.items()}
    check = make_inputs(2, geom, seed=1)
    max_diff = max(float(jnp.max(jnp.abs(fast[0](check) - base[0](check)))) for fast, base in steps.values())
    if max_diff > 1e-4:
        raise SystemExit(f"fast and baseline renders differ by {max_diff}")

    result = {"benchmark": "composite", "backend": jax.default_backend(), "device": jax.devices()[0].device_kind,
              "size": {"canvas": [H, W], "layers": LAYERS, "grid": [geom.grid_h, geom.grid_w], "k": K, "m": M},
              "stages": {"render": "select_soft + translate + composite",
                         "composite_only": "placement + compositing of already translated sprites"},
              "max_abs_diff_vs_baseline": max_diff, "batches": []}
    for b in batches:
        x = make_inputs(b, geom)
        row = {"batch": b}
        for stage, ((fast_fwd, fast_bwd), (base_fwd, base_bwd)) in steps.items():
            for name, fast, base in (("forward", fast_fwd, base_fwd), ("forward_backward", fast_bwd, base_bwd)):
                f, g = paired_frames_per_s(fast, base, x, b, min_time, max_reps)
                row[f"{stage}_{name}"] = {"frames_per_s": round(f, 1), "baseline_frames_per_s": round(g, 1),
                                          "ratio": round(f / g, 2)}
        result["batches"].append(row)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
