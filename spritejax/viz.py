"""Pictures of a trained decomposition: sprite sheet, reconstructions, layers, segmentation, animation.

The image helpers are pure numpy on float images in [0, 1] (hw3 / hw4, straight — not premultiplied —
alpha, as the dictionary produces them); `render_outputs` draws a model's outputs (running it through
spritejax.inference when not given them) and `render_workdir` loads one. `spritejax render
--workdir DIR --out DIR` writes every picture of a workdir into a folder.
"""

from __future__ import annotations

import colorsys
import functools
import html
import os
import sys
from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np

from . import metrics
from .checkpoint import load_workdir
from .data import load_dataset
from .errors import UserError
from .ffmpeg import quiet_fork
from .inference import eval_indices, hard_outputs, used_sprites
from .render import layer_norm

# ----------------------------------------------------------------------------------------------- images


def to_uint8(img: np.ndarray) -> np.ndarray:
    """Float image in [0, 1] -> uint8 (rounded, clipped)."""
    return np.clip(np.rint(np.asarray(img, np.float64) * 255.0), 0, 255).astype(np.uint8)


def upscale_nearest(img_hwc: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscaling, so pixel art stays crisp."""
    return np.repeat(np.repeat(np.asarray(img_hwc), factor, axis=0), factor, axis=1)


def checkerboard(h: int, w: int, cell: int = 4, light: float = 0.85, dark: float = 0.6) -> np.ndarray:
    """The usual transparency backdrop: hw3 grey squares of `cell` pixels, light at the top-left."""
    rows = (np.arange(h) // cell)[:, None]
    cols = (np.arange(w) // cell)[None, :]
    board_hw = np.where((rows + cols) % 2 == 0, light, dark).astype(np.float32)
    return np.repeat(board_hw[..., None], 3, axis=-1)


def over_checkerboard(rgba_hw4: np.ndarray, cell: int = 4, premultiplied: bool = False) -> np.ndarray:
    """RGBA composited over a checkerboard -> hw3, so transparency is visible. Dictionary sprites carry
    straight alpha; render's per-layer canvases are premultiplied (rgb·alpha, alpha)."""
    rgba_hw4 = np.asarray(rgba_hw4, np.float32)
    alpha_hw1 = rgba_hw4[..., 3:4]
    colour_hw3 = rgba_hw4[..., :3] if premultiplied else alpha_hw1 * rgba_hw4[..., :3]
    return colour_hw3 + (1.0 - alpha_hw1) * checkerboard(rgba_hw4.shape[0], rgba_hw4.shape[1], cell)


def tile(images: Sequence[np.ndarray], cols: int, gap: int = 2, fill: float = 1.0) -> np.ndarray:
    """Images of one size (hw3) in a grid of `cols` columns, separated by `gap` pixels of `fill`."""
    if not images:
        return np.full((1, 1, 3), fill, np.float32)
    h, w = images[0].shape[:2]
    rows = -(-len(images) // cols)
    cols = min(cols, len(images))
    out = np.full((rows * h + (rows + 1) * gap, cols * w + (cols + 1) * gap, 3), fill, np.float32)
    for n, img in enumerate(images):
        r, c = divmod(n, cols)
        y, x = gap + r * (h + gap), gap + c * (w + gap)
        out[y : y + h, x : x + w] = img[..., :3]
    return out


def palette(n: int) -> np.ndarray:
    """n well-separated colours (n×3 float): hues stepped by the golden ratio, so neighbours differ."""
    hues = (np.arange(n) * 0.618033988749895) % 1.0
    vals = 0.95 - 0.25 * ((np.arange(n) // 7) % 2)
    return np.array([colorsys.hsv_to_rgb(h, 0.85, v) for h, v in zip(hues, vals)], np.float32).reshape(n, 3)


def label_overlay(frame_hw3: np.ndarray, labels_hw: np.ndarray, num_labels: int, background: int = -1,
                  opacity: float = 0.6) -> np.ndarray:
    """Frame tinted by a per-pixel label colour; pixels labelled `background` keep the (dimmed) frame."""
    frame_hw3 = np.asarray(frame_hw3, np.float32)
    labels_hw = np.asarray(labels_hw)
    colours_hw3 = palette(max(num_labels, 1))[np.clip(labels_hw, 0, max(num_labels - 1, 0))]
    fg_hw1 = (labels_hw != background)[..., None]
    tinted = (1.0 - opacity) * frame_hw3 + opacity * colours_hw3
    return np.where(fg_hw1, tinted, 0.5 * frame_hw3)


def save_png(path: str, img: np.ndarray) -> str:
    """Write a float [0, 1] (or uint8) image as PNG; returns the path."""
    import imageio.v3 as iio

    img = img if np.asarray(img).dtype == np.uint8 else to_uint8(img)
    iio.imwrite(path, img)
    return path


def write_animation(path: str, frames_thw3: np.ndarray, fps: int = 8) -> str:
    """Animated GIF (pillow) or MP4 (imageio-ffmpeg, H.264), chosen by the file extension."""
    import imageio.v2 as imageio

    frames = [to_uint8(f) if f.dtype != np.uint8 else f for f in np.asarray(frames_thw3)]
    ext = os.path.splitext(path)[1].lower()
    if ext == ".gif":
        imageio.mimsave(path, frames, duration=1000.0 / fps, loop=0)
    elif ext == ".mp4":
        # yuv420p needs even sizes; pad the bottom/right edge by one pixel when odd
        h, w = frames[0].shape[:2]
        frames = [np.pad(f, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge") for f in frames]
        with quiet_fork():
            imageio.mimsave(path, frames, fps=fps, codec="libx264", macro_block_size=1, pixelformat="yuv420p")
    else:
        raise UserError(f"animation must be .gif or .mp4, not {path!r}")
    return path


# ------------------------------------------------------------------------------------------ sprite sheet


def _conditional_probs(dist2_nn: np.ndarray, perplexity: float, tol: float = 1e-5) -> np.ndarray:
    """Row-wise Gaussian affinities p(j|i) whose entropy is log(perplexity), by bisection on precision."""
    n = dist2_nn.shape[0]
    target = np.log(perplexity)
    probs = np.zeros((n, n))
    for i in range(n):
        d = np.delete(dist2_nn[i], i)
        d = d - d.min()
        lo, hi, beta = 0.0, np.inf, 1.0
        for _ in range(100):
            p = np.exp(-d * beta)
            s = p.sum()
            entropy = np.log(s) + beta * (d * p).sum() / s
            if abs(entropy - target) < tol:
                break
            if entropy > target:  # too flat: sharpen
                lo, beta = beta, beta * 2.0 if hi == np.inf else (beta + hi) / 2.0
            else:
                hi, beta = beta, (beta + lo) / 2.0
        probs[i, np.arange(n) != i] = p / s
    return probs


def tsne_1d(x_nd: np.ndarray, perplexity: float = 30.0, num_iters: int = 600, seed: int = 0) -> np.ndarray:
    """Exact 1-D t-SNE (van der Maaten & Hinton 2008) of n ≤ a few hundred points -> y (n,).

    Deterministic: PCA initialisation, fixed schedule (early exaggeration 4 for 200 steps, momentum 0.5
    then 0.8, per-parameter gains); `seed` only breaks ties of a degenerate PCA. The step size is small
    (2) because in 1-D points cannot pass one another: a large step (the 2-D default of ~50) strands
    points outside their cluster.
    """
    x_nd = np.asarray(x_nd, np.float64)
    n = x_nd.shape[0]
    if n <= 2:
        return np.arange(n, dtype=np.float64)
    centred = x_nd - x_nd.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    y = centred @ vt[0]
    if np.std(y) < 1e-12:
        y = np.random.default_rng(seed).normal(size=n)
    y = 1e-4 * (y - y.mean()) / np.std(y)
    sq = (centred**2).sum(1)
    dist2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * centred @ centred.T, 0.0)
    p_cond = _conditional_probs(dist2, min(perplexity, (n - 1) / 3.0))
    p = np.maximum((p_cond + p_cond.T) / (2.0 * n), 1e-12)
    lr = 2.0
    update, gains = np.zeros(n), np.ones(n)
    for it in range(num_iters):
        exaggeration, momentum = (4.0, 0.5) if it < 200 else (1.0, 0.8)
        diff = y[:, None] - y[None, :]
        num = 1.0 / (1.0 + diff**2)
        np.fill_diagonal(num, 0.0)
        q = np.maximum(num / num.sum(), 1e-12)
        grad = 4.0 * ((exaggeration * p - q) * num * diff).sum(1)
        gains = np.where(np.sign(grad) != np.sign(update), gains + 0.2, gains * 0.8).clip(0.01)
        update = momentum * update - lr * gains * grad
        y = y + update
    return y - y.mean()


def sprite_order(latents_md: np.ndarray, used_m: np.ndarray) -> np.ndarray:
    """Indices of the used sprites sorted along a 1-D t-SNE of their latent codes (similar ones adjacent); every
    sprite when none is used, so a model that learned nothing still shows what its dictionary holds."""
    idx = np.flatnonzero(np.asarray(used_m) > 0)
    if idx.size == 0:
        idx = np.arange(len(latents_md))
    y = tsne_1d(np.asarray(latents_md)[idx])
    return idx[np.argsort(y, kind="stable")]


def sprite_sheet(sprites_mkk4: np.ndarray, order: Sequence[int], scale: int = 4, cols: int | None = None,
                 cell: int = 4) -> np.ndarray:
    """The sprites at `order`, upscaled (nearest) by `scale`, each over a checkerboard, in a grid -> hw3."""
    sprites_mkk4 = np.asarray(sprites_mkk4, np.float32)
    tiles = [over_checkerboard(upscale_nearest(sprites_mkk4[i], scale), cell) for i in order]
    cols = cols or max(1, int(np.ceil(np.sqrt(len(tiles)))))
    return tile(tiles, cols, gap=2)


# ------------------------------------------------------------------------------------------------ report


def _format_value(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, dict):
        return "<br>".join(f"{html.escape(str(k))}: {_format_value(x)}" for k, x in v.items())
    if isinstance(v, (list, tuple)) and len(v) > 12:
        return html.escape(f"[{len(v)} values]")
    return html.escape(str(v))


def write_index_html(path: str, title: str, figures: Sequence[tuple[str, str]], metrics: dict | None = None,
                     notes: Sequence[str] = (), meanings: dict | None = None) -> str:
    """A self-contained index page: a metrics table (with a column saying what each figure means, when `meanings`
    names it), then each (caption, relative image path) figure.

    Images are shown pixelated (no smoothing) so sprite pixels stay visible when the browser scales them.
    """
    meanings = meanings or {}
    head = "<tr><th>figure</th><th>value</th><th>meaning</th></tr>" if meanings else ""
    rows = head + "".join(f"<tr><th>{html.escape(str(k))}</th><td>{_format_value(v)}</td>"
                          + (f"<td>{html.escape(meanings.get(k, ''))}</td>" if meanings else "") + "</tr>"
                          for k, v in (metrics or {}).items())
    figs = "".join(f'<figure><img src="{html.escape(src)}" alt="{html.escape(cap)}">'
                   f"<figcaption>{html.escape(cap)}</figcaption></figure>" for cap, src in figures)
    paras = "".join(f"<p>{html.escape(n)}</p>" for n in notes)
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; max-width: 1100px; }}
img {{ image-rendering: pixelated; max-width: 100%; border: 1px solid #ccc; }}
figure {{ margin: 1.5em 0; }} figcaption {{ color: #444; }}
table {{ border-collapse: collapse; }} th, td {{ border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }}
</style></head><body>
<h1>{html.escape(title)}</h1>{paras}
<table>{rows}</table>
{figs}
</body></html>
"""
    with open(path, "w", encoding="utf-8") as f:
        f.write(page)
    return path


# ------------------------------------------------------------------------------------ a trained model


def latent_codes(params) -> np.ndarray:
    """The dictionary's codes as the generator and the scores see them (layer-normalised), (m, d)."""
    return np.asarray(layer_norm(jnp.asarray(params["dictionary"]["latents"], jnp.float32)), np.float64)


def _display_scale(h: int, w: int, target: int = 192) -> int:
    return max(1, target // max(h, w))


def render_outputs(model, params, dataset, out_dir: str, num_show: int = 6, batch_size: int = 16, seed: int = 0,
                   hard=None, max_animation_frames: int = 64) -> list[tuple[str, str]]:
    """Every picture of a trained model on its evaluation frames into out_dir -> [(caption, file name)].

    hard: inference.hard_outputs(..., keep_layers=num_show) when the caller already ran the model.
    """
    os.makedirs(out_dir, exist_ok=True)
    indices, split = eval_indices(dataset)
    if hard is None:
        hard = hard_outputs(model, params, dataset, indices, batch_size, seed, keep_layers=num_show)
    frames_nhw3 = dataset.frames_nhw3[indices]
    if "layers_blhw4" not in hard:
        raise ValueError("render_outputs needs hard_outputs(..., keep_layers=num_show)")
    n_show = min(num_show, len(indices), len(hard["layers_blhw4"]))
    h, w = frames_nhw3.shape[1:3]
    up = functools.partial(upscale_nearest, factor=_display_scale(h, w))
    figures = []

    def save(name, img, caption):
        save_png(os.path.join(out_dir, name), img)
        figures.append((caption, name))

    used_m = used_sprites(hard["sprite_ids_blhw"], hard["switches_blhw"], model.num_sprites)
    order = sprite_order(latent_codes(params), used_m)
    sprites_mkk4 = np.asarray(model.decode_sprites(params))
    if used_m.any():
        shown = f"the {len(order)} of {model.num_sprites} dictionary sprites used on the {split} frames"
    else:
        shown = f"no sprite is used on the {split} frames (the background explains every frame), so all " \
                f"{model.num_sprites} dictionary sprites"
        print(f"spritejax: note: {shown} are drawn in sprite_sheet.png", file=sys.stderr)
    scale = max(2, 64 // model.geom.k)
    save("sprite_sheet.png", sprite_sheet(sprites_mkk4, order, scale=scale),
         f"Sprite sheet: {shown}, in 1-D t-SNE order of their latent codes (checkerboard = transparent)")
    faded = sprites_mkk4 * np.where(used_m > 0, 1.0, 0.3)[:, None, None, None] ** np.array([0, 0, 0, 1.0])
    counts = ", ".join(f"{i}: {int(c)}" for i, c in enumerate(used_m))
    save("dictionary.png", sprite_sheet(faded, range(model.num_sprites), scale=scale),
         f"The whole dictionary, entries 0 to {model.num_sprites - 1} in index order (row by row), unused ones "
         f"faded; how many active anchors draw each on the {split} frames: {counts}")

    rows = [[up(frames_nhw3[i]), up(hard["recon_bhw3"][i])] for i in range(n_show)]
    save("reconstructions.png", tile([x for r in rows for x in r], cols=2),
         "Input (left) and hard-mode reconstruction (right)")

    layers = [up(over_checkerboard(hard["layers_blhw4"][i, l], cell=4, premultiplied=True))
              for i in range(n_show) for l in range(model.geom.layers)]
    save("layers.png", tile(layers, cols=model.geom.layers),
         "Each sprite layer alone, back (left) to front (right), on a checkerboard")

    ids_nhw = hard["sprite_id_maps_bhw"]
    seg = [[up(label_overlay(frames_nhw3[i], ids_nhw[i], model.num_sprites))] for i in range(n_show)]
    caption = "Segmentation: each pixel coloured by the dictionary sprite that shows there"
    if dataset.has_ground_truth:
        truth_nhw = dataset.class_ids_nhw[indices]
        num_classes = len(dataset.class_names) or int(truth_nhw.max()) + 1
        assignment = metrics.match_sprites(ids_nhw, truth_nhw, model.num_sprites, num_classes)
        predicted_nhw = metrics.labels_from_sprites(ids_nhw, assignment)
        for i in range(n_show):
            seg[i] += [up(label_overlay(frames_nhw3[i], predicted_nhw[i], num_classes, background=0)),
                       up(label_overlay(frames_nhw3[i], truth_nhw[i], num_classes, background=0))]
        caption += "; its class through the sprite→class matching (middle); the ground-truth classes (right)"
    save("segmentation.png", tile([x for r in seg for x in r], cols=len(seg[0]) if seg else 1), caption)

    count = min(len(indices), max_animation_frames)
    pairs = np.stack([tile([up(frames_nhw3[i]), up(hard["recon_bhw3"][i])], cols=2) for i in range(count)])
    write_animation(os.path.join(out_dir, "input_vs_reconstruction.gif"), pairs, fps=4)
    figures.append((f"Animation of the {split} frames: input (left), reconstruction (right)",
                    "input_vs_reconstruction.gif"))
    return figures


def render_workdir(workdir: str, out_dir: str, num_show: int = 6, batch_size: int = 16) -> list[tuple[str, str]]:
    """The pictures of a training workdir's latest checkpoint, plus an index.html showing them."""
    cfg, model, params = load_workdir(workdir)
    dataset = load_dataset(cfg.data, cfg.canvas)
    figures = render_outputs(model, params, dataset, out_dir, num_show, batch_size, seed=int(cfg.train.seed))
    write_index_html(os.path.join(out_dir, "index.html"), f"spritejax: {os.path.abspath(workdir)}", figures)
    return figures
