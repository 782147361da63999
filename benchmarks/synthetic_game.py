"""Synthetic game generation speed: the vectorised generator against a per-frame, per-object slicing loop.

Both render the same scene (the loop replays the generator's own object tracks, poses and draw order) and
the outputs are checked equal. Prints one JSON line: frames/s of each, and the ratio.
Usage: python benchmarks/synthetic_game.py [--frames 1000] [--size 128] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from timing import median_seconds

from spritejax.data import synthetic


def loop_render(ds) -> tuple[np.ndarray, np.ndarray]:
    """The straightforward renderer: for each frame, for each object back to front, paste the clipped sprite."""
    meta = ds.meta
    n, h, w = ds.instance_ids_nhw.shape
    frames = np.empty((n, h, w, 3), np.float32)
    instances = np.zeros((n, h, w), np.int32)
    for t in range(n):
        if meta["background"] == "solid":
            frames[t] = meta["bg_color"]
        else:
            tex = meta["texture_hw3"]
            frames[t] = tex[:, (meta["scroll_n"][t] + np.arange(w)) % tex.shape[1]]
        for obj in meta["draw_order"]:
            sprite = meta["sprites"][synthetic.CLASSES[meta["object_class"][obj] - 1]][meta["pose_no"][t, obj]]
            y0, x0 = meta["top_left_no2"][t, obj]
            y1, x1 = max(y0, 0), max(x0, 0)
            y2, x2 = min(y0 + sprite.shape[0], h), min(x0 + sprite.shape[1], w)
            if y1 >= y2 or x1 >= x2:
                continue
            part = sprite[y1 - y0:y2 - y0, x1 - x0:x2 - x0]
            opaque = part[..., 3] > 0.5
            frames[t, y1:y2, x1:x2][opaque] = part[..., :3][opaque]
            instances[t, y1:y2, x1:x2][opaque] = obj + 1
    return frames, instances


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--background", default="solid", choices=("solid", "texture"))
    args = parser.parse_args()
    canvas = (args.size, args.size)

    def vectorised():
        return synthetic.generate(args.frames, canvas, 0, background=args.background)

    ds = vectorised()
    frames, instances = loop_render(ds)
    assert np.array_equal(frames, ds.frames_nhw3) and np.array_equal(instances, ds.instance_ids_nhw)
    t_vec = median_seconds(vectorised, args.repeats)
    t_loop = median_seconds(lambda: loop_render(ds), args.repeats)  # excludes the loop's scene setup: favours it
    print(json.dumps({
        "benchmark": "synthetic_game", "frames": args.frames, "canvas": args.size, "background": args.background,
        "objects": int(len(ds.meta["object_class"])),
        "vectorised_s": round(t_vec, 4), "vectorised_frames_per_s": round(args.frames / t_vec, 1),
        "baseline_loop_s": round(t_loop, 4), "baseline_loop_frames_per_s": round(args.frames / t_loop, 1),
        "speedup": round(t_loop / t_vec, 2),
    }))


if __name__ == "__main__":
    main()
