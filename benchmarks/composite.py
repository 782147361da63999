"""Frames/s of the rendering hot path (soft selection + translation + compositing) against a straightforward baseline.

Reference size: 128² frames, ℓ=2 layers, 8×8 anchors, k=32, m=150. The baseline, measured in the same run, is
what one writes first: bilinear translation by a 4-tap gather, then every anchor placed on a full canvas with
dynamic_update_slice and composited one after another (lax.scan over anchors in rank order). Its backward keeps a
canvas per anchor, so a second, vectorised baseline is timed too (`composite_only` stage): all anchors placed at
once (a vmapped dynamic_update_slice), sorted front to back by rank, "over" as a sum weighted by the cumulative
transmittance. All are checked to render the same frame before timing. Prints one JSON line.

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


def vectorised_composite(placed_blhwkk4, background_bhw3, ranks_blhw, geom):
    """Per frame, per layer: every anchor on its own full canvas at once, then front-to-back transmittance."""
    p, cell, k, n = geom.pad, geom.cell, geom.k, geom.num_anchors
    hp, wp = geom.canvas_h + 2 * p, geom.canvas_w + 2 * p
    corners = jnp.stack(jnp.divmod(jnp.arange(n), geom.grid_w), -1) * cell

    def place(s_kk4, ij):
        return jax.lax.dynamic_update_slice(jnp.zeros((hp, wp, 4)), s_kk4, (ij[0], ij[1], 0))

    def frame(placed_lhwkk4, bg_hw3, ranks_lhw):
        out = jnp.pad(bg_hw3, ((p, p), (p, p), (0, 0)))
        for l in range(geom.layers):
            full_nhw4 = jax.vmap(place)(placed_lhwkk4[l].reshape(n, k, k, 4), corners)
            front_first = full_nhw4[jnp.argsort(-ranks_lhw[l].ravel())]
            a_nhw1 = front_first[..., 3:]
            t_nhw1 = jnp.concatenate([jnp.ones_like(a_nhw1[:1]), jnp.cumprod(1 - a_nhw1, axis=0)[:-1]], 0)
            col = jnp.sum(t_nhw1 * a_nhw1 * front_first[..., :3], 0)
            out = col + jnp.prod(1 - a_nhw1, 0) * out
        return out[p:p + geom.canvas_h, p:p + geom.canvas_w]

    return jax.vmap(frame)(placed_blhwkk4, background_bhw3, ranks_blhw)


def vectorised_composite_only(x, geom):
    return vectorised_composite(x["placed"], x["background"], x["ranks"], geom)


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


# name -> (fast, {baseline name: baseline}, differentiated inputs)
STAGES = {
    "render": (fast_render, {"baseline": baseline_render}, ("sprites", "scores", "switches", "offsets")),
    "composite_only": (fast_composite_only, {"baseline": baseline_composite_only,
                                             "vectorised_baseline": vectorised_composite_only}, ("placed",)),
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


def interleaved_frames_per_s(fns, x, batch, min_time, max_reps):
    """Median frames/s of each function, timed in turn after a warm-up call each (compile excluded).

    Alternating keeps all exposed to the same machine load, which matters on a shared CPU.
    """
    for fn in fns:
        jax.block_until_ready(fn(x))
    times = [[] for _ in fns]
    while len(times[0]) < max_reps and (len(times[0]) < 3 or sum(times[-1]) < min_time):
        for fn, ts in zip(fns, times):
            t = time.perf_counter()
            jax.block_until_ready(fn(x))
            ts.append(time.perf_counter() - t)
    return [batch / statistics.median(ts) for ts in times]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="batch sizes 1 and 8, fewer repetitions")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=None)
    args = parser.parse_args(argv)
    batches = args.batch_sizes or ([1, 8] if args.quick else [1, 8, 32])
    min_time, max_reps = (0.3, 3) if args.quick else (0.5, 5)

    geom = R.Geometry(H, W, K, LAYERS)
    steps = {name: (make_steps(fast, diff, geom), {b: make_steps(fn, diff, geom) for b, fn in bases.items()})
             for name, (fast, bases, diff) in STAGES.items()}
    check = make_inputs(2, geom, seed=1)
    max_diff = max(float(jnp.max(jnp.abs(fast[0](check) - base[0](check))))
                   for fast, bases in steps.values() for base in bases.values())
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
        for stage, (fast_steps, bases) in steps.items():
            for i, name in enumerate(("forward", "forward_backward")):
                f, *gs = interleaved_frames_per_s([fast_steps[i], *(s[i] for s in bases.values())], x, b,
                                                  min_time, max_reps)
                cell = {"frames_per_s": round(f, 1)}
                for base_name, g in zip(bases, gs):
                    prefix = "" if base_name == "baseline" else base_name.removesuffix("_baseline") + "_"
                    cell.update({f"{base_name}_frames_per_s": round(g, 1), f"{prefix}ratio": round(f / g, 2)})
                row[f"{stage}_{name}"] = cell
        result["batches"].append(row)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
