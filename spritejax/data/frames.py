"""Frames from image folders and video files, fitted to the canvas; random crops of large images (§3.4).

Fitting (fit='cover', the default) = scale so the image covers the canvas, then keep the centred canvas-sized
part; fit='stretch' scales each axis on its own instead. Either is one step: a separable resampling matrix
per axis (rows_Hh @ image_hw3 @ cols_Ww^T), so there is no separate crop copy. Methods:
  'area'    each output pixel averages the source area it covers (box filter; the right choice when
            shrinking photos or video, no aliasing),
  'nearest' each output pixel copies the source pixel under its centre (keeps pixel art crisp, exact colours).
Images smaller than the canvas are rejected unless allow_upscale=True.
"""

from __future__ import annotations

import os
import re

import numpy as np

from spritejax.data.dataset import Dataset
from spritejax.errors import UserError
from spritejax.ffmpeg import quiet_fork

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm")
RESIZE_METHODS = ("area", "nearest")
CHUNK_FRAMES = 64  # frames resampled at once: bounds the float32 working set for long videos


# ---------------------------------------------------------------- pixels

def to_float_rgb(image, name: str) -> np.ndarray:
    """Any decoded image (gray, gray+alpha, RGB, RGBA; bool/uint8/uint16/float) as float32 hw3 in [0, 1].

    Alpha is composited over black, so fully transparent pixels do not leak hidden colours.
    """
    image = np.asarray(image)
    if image.dtype == bool:  # 1-bit images
        pixels = image.astype(np.float32)
    elif image.dtype == np.uint8:
        pixels = image.astype(np.float32) / 255.0
    elif image.dtype == np.uint16:
        pixels = image.astype(np.float32) / 65535.0
    elif np.issubdtype(image.dtype, np.floating):
        pixels = np.clip(image.astype(np.float32), 0.0, 1.0)
    else:
        raise UserError(f"{name}: unsupported pixel type {image.dtype}")
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if pixels.ndim != 3 or pixels.shape[-1] not in (1, 2, 3, 4):
        raise UserError(f"{name}: expected a 2-D image, got an array of shape {image.shape}")
    channels = pixels.shape[-1]
    if channels in (2, 4):
        pixels = pixels[..., :-1] * pixels[..., -1:]
    if pixels.shape[-1] == 1:
        pixels = np.repeat(pixels, 3, axis=-1)
    return pixels


def fit_matrix(n_out: int, n_in: int, length: float, method: str) -> np.ndarray:
    """float32[n_out, n_in]: output pixel o samples source interval [s + o*length, s + (o+1)*length),
    centred (s = (n_in - n_out*length) / 2), by area average or nearest pixel."""
    start = (n_in - n_out * length) / 2
    edges = start + np.arange(n_out + 1) * length
    if method == "nearest":
        matrix = np.zeros((n_out, n_in), np.float32)
        centres = np.clip(np.floor((edges[:-1] + edges[1:]) / 2).astype(int), 0, n_in - 1)
        matrix[np.arange(n_out), centres] = 1.0
        return matrix
    if method != "area":
        raise UserError(f"data.resize must be one of {', '.join(RESIZE_METHODS)}; got {method!r}")
    pixel = np.arange(n_in)
    overlap = (np.minimum(edges[1:, None], pixel[None, :] + 1) - np.maximum(edges[:-1, None], pixel[None, :]))
    overlap = np.clip(overlap, 0.0, None)
    return (overlap / overlap.sum(axis=1, keepdims=True)).astype(np.float32)


def fit_to_canvas(images_nhw3: np.ndarray, canvas_hw, method: str = "area", fit: str = "cover") -> np.ndarray:
    """Resample a stack of same-size images to the canvas: float32 nHW3.

    fit='cover': one scale for both axes so the image covers the canvas, centred, the overhang cropped;
    fit='stretch': each axis scaled to the canvas on its own (keeps the whole picture, changes the aspect).
    """
    (h, w), (ch, cw) = images_nhw3.shape[1:3], canvas_hw
    if fit == "cover":
        length_h = length_w = min(h / ch, w / cw)  # source pixels per canvas pixel
    elif fit == "stretch":
        length_h, length_w = h / ch, w / cw
    else:
        raise UserError(f"data.fit must be 'cover' or 'stretch'; got {fit!r}")
    rows_Hh, cols_Ww = fit_matrix(ch, h, length_h, method), fit_matrix(cw, w, length_w, method)
    return np.einsum("Hh,nhwc,Ww->nHWc", rows_Hh, images_nhw3, cols_Ww, optimize=True).astype(np.float32)


def _check_size(hw, canvas_hw, name: str, allow_upscale: bool) -> None:
    if not allow_upscale and (hw[0] < canvas_hw[0] or hw[1] < canvas_hw[1]):
        raise UserError(f"{name} is {hw[1]}x{hw[0]} (WxH), smaller than the {canvas_hw[1]}x{canvas_hw[0]} "
                        f"canvas; use a smaller canvas or set data.allow_upscale=True")


# ---------------------------------------------------------------- image folders

def _natural_key(name: str):
    """frame2.png sorts before frame10.png."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def list_images(path: str) -> list[str]:
    """The image files in a folder (natural sort order), or [path] for a single image file."""
    if not os.path.exists(path):
        raise UserError(f"{path}: no such file or folder")
    if os.path.isfile(path):
        if not path.lower().endswith(IMAGE_EXTENSIONS):
            raise UserError(f"{path}: not an image file ({', '.join(IMAGE_EXTENSIONS)}); "
                            f"for a video use data.source=video")
        return [path]
    names = sorted((n for n in os.listdir(path) if n.lower().endswith(IMAGE_EXTENSIONS)
                    and os.path.isfile(os.path.join(path, n))), key=_natural_key)
    if not names:
        raise UserError(f"{path}: folder holds no images ({', '.join(IMAGE_EXTENSIONS)})")
    return [os.path.join(path, n) for n in names]


def read_image(path: str) -> np.ndarray:
    """One image file as float32 hw3 in [0, 1] (first frame of a multi-frame file)."""
    import imageio.v3 as iio
    try:
        image = iio.imread(path, index=0)
    except Exception as err:  # imageio raises several types for undecodable data
        raise UserError(f"{path}: cannot read image ({type(err).__name__}: {str(err).splitlines()[0]})") from None
    return to_float_rgb(image, path)


def load_folder(path: str, canvas_hw, num_frames: int | None = None, resize: str = "area",
                allow_upscale: bool = False, fit: str = "cover") -> Dataset:
    """The first `num_frames` images of a folder (all when None), all the same size, fitted to the canvas."""
    available = list_images(path)
    files = available[:num_frames or None]
    frames, first_hw = [], None
    for start in range(0, len(files), CHUNK_FRAMES):
        chunk = []
        for name in files[start:start + CHUNK_FRAMES]:
            image = read_image(name)
            if first_hw is None:
                first_hw = image.shape[:2]
                _check_size(first_hw, canvas_hw, name, allow_upscale)
            elif image.shape[:2] != first_hw:
                raise UserError(f"{name} is {image.shape[1]}x{image.shape[0]} but {files[0]} is "
                                f"{first_hw[1]}x{first_hw[0]}; all frames in a folder must share one size")
            chunk.append(image)
        frames.append(fit_to_canvas(np.stack(chunk), canvas_hw, resize, fit))
    truth = load_ground_truth(path, files, first_hw, canvas_hw, fit) if os.path.isdir(path) else {}
    return Dataset(frames_nhw3=np.concatenate(frames), **truth,
                   meta={"source": "folder", "files": files, "source_hw": first_hw,
                         "frames_available": len(available)})


GROUND_TRUTH = {"class_ids_nhw": "classes", "instance_ids_nhw": "instances"}  # sub-folders of a frame folder


def load_ground_truth(folder: str, files: list[str], source_hw, canvas_hw, fit: str) -> dict:
    """Dataset fields from a frame folder's labelled maps, when it has a `classes/` sub-folder: for each frame
    `NAME.ext`, `classes/NAME.png` holds its class id per pixel (a single-channel 8- or 16-bit PNG at the frame's
    size, 0 = background) and optionally `instances/NAME.png` one id per object; `classes.txt` names the classes,
    one per line from id 0 ('background'). The maps are fitted to the canvas as the frames are, by nearest pixel,
    so ids stay ids."""
    import imageio.v3 as iio

    if not os.path.isdir(os.path.join(folder, "classes")):
        return {}
    out = {}
    for field, sub in GROUND_TRUTH.items():
        if not os.path.isdir(os.path.join(folder, sub)):
            continue
        maps = []
        for frame in files:
            name = os.path.join(folder, sub, os.path.splitext(os.path.basename(frame))[0] + ".png")
            if not os.path.isfile(name):
                raise UserError(f"{name}: missing; {sub}/ needs one map per frame (for {os.path.basename(frame)})")
            try:
                ids = np.asarray(iio.imread(name))
            except Exception as err:  # imageio raises several types for undecodable data
                raise UserError(f"{name}: cannot read ({type(err).__name__})") from None
            if ids.ndim == 3 and (ids == ids[..., :1]).all():
                ids = ids[..., 0]
            if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
                raise UserError(f"{name}: a label map must be a single-channel integer PNG (got shape "
                                f"{ids.shape}, {ids.dtype})")
            if ids.shape != tuple(source_hw):
                raise UserError(f"{name} is {ids.shape[1]}x{ids.shape[0]} but its frame is "
                                f"{source_hw[1]}x{source_hw[0]}")
            maps.append(ids.astype(np.float32)[..., None])
        fitted = fit_to_canvas(np.stack(maps), canvas_hw, "nearest", fit)[..., 0]
        out[field] = np.rint(fitted).astype(np.int32)
    names_file = os.path.join(folder, "classes.txt")
    if os.path.isfile(names_file):
        with open(names_file, encoding="utf-8") as fh:
            names = [line.strip() for line in fh if line.strip()]
    else:
        names = ["background"] + [f"class {c}" for c in range(1, int(out["class_ids_nhw"].max()) + 1)]
    if int(out["class_ids_nhw"].max()) >= len(names):
        raise UserError(f"{names_file} names {len(names)} classes but the maps use id {out['class_ids_nhw'].max()}")
    out["class_names"] = names
    return out


# ---------------------------------------------------------------- random crops (natural images, §3.4)

def load_random_crops(path: str, canvas_hw, num_frames: int, seed: int, crop_scale: float = 1.0,
                      resize: str = "area") -> Dataset:
    """`num_frames` random canvas-sized crops of the image(s) at `path`, a fixed set drawn from `seed`.

    crop_scale = source pixels per canvas pixel (1 = native resolution; 2 = crops twice the canvas, shrunk).
    Each crop picks an image uniformly, then a position uniformly. meta['crops'] lists (image, y, x).
    """
    files = list_images(path)
    images = [read_image(name) for name in files]
    region_hw = (max(1, round(canvas_hw[0] * crop_scale)), max(1, round(canvas_hw[1] * crop_scale)))
    for name, image in zip(files, images):
        if image.shape[0] < region_hw[0] or image.shape[1] < region_hw[1]:
            raise UserError(f"{name} is {image.shape[1]}x{image.shape[0]} (WxH), too small for "
                            f"{region_hw[1]}x{region_hw[0]} random crops; use a smaller canvas or crop_scale")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xC409]))
    which_n = rng.integers(len(images), size=num_frames)
    y_n = np.array([rng.integers(images[i].shape[0] - region_hw[0] + 1) for i in which_n], np.int64)
    x_n = np.array([rng.integers(images[i].shape[1] - region_hw[1] + 1) for i in which_n], np.int64)
    rows_nh1 = y_n[:, None, None] + np.arange(region_hw[0])[None, :, None]
    cols_n1w = x_n[:, None, None] + np.arange(region_hw[1])[None, None, :]
    crops_nhw3 = np.empty((num_frames, *region_hw, 3), np.float32)
    for i, image in enumerate(images):
        sel = which_n == i
        crops_nhw3[sel] = image[rows_nh1[sel], cols_n1w[sel]]
    if region_hw != tuple(canvas_hw):
        crops_nhw3 = np.concatenate([fit_to_canvas(crops_nhw3[s:s + CHUNK_FRAMES], canvas_hw, resize)
                                     for s in range(0, num_frames, CHUNK_FRAMES)])
    return Dataset(frames_nhw3=crops_nhw3, meta={"source": "random_crops", "files": files,
                                                 "crops": np.stack([which_n, y_n, x_n], -1)})


# ---------------------------------------------------------------- video files

def load_video(path: str, canvas_hw, num_frames: int | None = None, resize: str = "area", step: int = 1,
               allow_upscale: bool = False, fit: str = "cover") -> Dataset:
    """Every `step`-th frame of a video (imageio's ffmpeg plugin), the first `num_frames` of them."""
    import imageio.v3 as iio
    if os.path.isdir(path):
        raise UserError(f"{path}: is a folder, not a video file; for image frames use data.source=folder")
    if not os.path.isfile(path):
        raise UserError(f"{path}: no such video file")
    if step < 1:
        raise UserError(f"data.video_step must be ≥ 1, got {step}")
    frames, chunk, count = [], [], 0
    try:
        with quiet_fork():
            for index, image in enumerate(iio.imiter(path, plugin="FFMPEG")):
                if index % step:
                    continue
                if count == 0:
                    _check_size(image.shape[:2], canvas_hw, path, allow_upscale)
                chunk.append(to_float_rgb(image, path))
                count += 1
                if len(chunk) == CHUNK_FRAMES:
                    frames.append(fit_to_canvas(np.stack(chunk), canvas_hw, resize, fit))
                    chunk = []
                if num_frames and count >= num_frames:
                    break
    except UserError:
        raise
    except Exception as err:  # ffmpeg reports undecodable input as OSError/RuntimeError/...
        raise UserError(f"{path}: cannot read video ({type(err).__name__}: {str(err).splitlines()[0]})") from None
    if chunk:
        frames.append(fit_to_canvas(np.stack(chunk), canvas_hw, resize, fit))
    if not frames:
        raise UserError(f"{path}: the video has no frames")
    meta = {"source": "video", "file": path, "step": step, "frames_available": count}
    if num_frames and count >= num_frames:  # stopped early: estimate what the rest of the video holds
        meta.update(frames_available=max(count, _estimated_frames(path, step)), frames_available_estimated=True)
    return Dataset(frames_nhw3=np.concatenate(frames), meta=meta)


def _estimated_frames(path: str, step: int) -> int:
    """Frames the video holds (every `step`-th one) from its duration and rate; 0 when ffmpeg does not say."""
    import imageio.v3 as iio
    try:
        with quiet_fork():
            meta = iio.immeta(path, plugin="FFMPEG")
        total = round(float(meta["duration"]) * float(meta["fps"]))
    except Exception:  # no duration / rate in the container: no estimate
        return 0
    return -(-total // step)
