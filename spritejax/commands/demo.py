"""`spritejax demo --out DIR`: generate the synthetic game, train, evaluate, draw (spritejax.demo)."""

from __future__ import annotations

import os

from ..demo import make_demo
from ..errors import UserError


def add_arguments(parser) -> None:
    parser.add_argument("--out", required=True, help="output folder (index.html, metrics.json, images, workdir/)")
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: the demo's tuned count)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run on a 16x16 canvas (~2 min, mostly compilation)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    if args.steps is not None and args.steps < 1:
        raise UserError(f"--steps must be positive, got {args.steps}")
    report = make_demo(args.out, args.steps, args.quick, progress=not args.no_progress)
    ious = ", ".join(f"{k} {report[k]:.3f}" for k in ("iou_multiclass", "iou_binary") if report.get(k) is not None)
    print(f"PSNR hard {report['psnr_hard']:.2f} dB (soft {report['psnr_soft']:.2f}, background only "
          f"{report['psnr_background_only']:.2f}); {ious}; {report['demo']['wall_seconds']} s")
    print(f"results: {os.path.abspath(os.path.join(args.out, 'index.html'))} "
          f"(metrics.json, sprite_sheet.png, dictionary.png, reconstructions.png, layers.png, segmentation.png "
          f"beside it)")
    return 0
