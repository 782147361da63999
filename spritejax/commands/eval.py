"""`spritejax eval --workdir DIR`: the evaluation report of a trained model (spritejax.evaluate) as JSON."""

from __future__ import annotations

import os
import sys

from ..errors import UserError
from ..evaluate import evaluate_workdir
from ..inference import NOTHING_LEARNED
from ..reports import write_json


def add_arguments(parser) -> None:
    parser.add_argument("--workdir", required=True, help="a training workdir (spritejax train --workdir)")
    parser.add_argument("--out", default=None, help="report path (default: WORKDIR/eval.json)")
    parser.add_argument("--batch-size", type=int, default=16, help="frames per evaluation batch")
    parser.add_argument("--data", default=None, help="evaluate on every frame of this folder, image or video "
                        "instead of the training data's held-out frames (read with the training data options)")
    parser.add_argument("--frames", default=None, metavar="A:B,N,...", help="evaluate on these frame indices (of "
                        "--data, or of the training data), e.g. 0:40 or 3,8,10:20")


def run(args) -> int:
    if args.batch_size < 1:
        raise UserError(f"--batch-size must be positive, got {args.batch_size}")
    report = evaluate_workdir(args.workdir, args.batch_size, args.data, args.frames)
    path = write_json(args.out or os.path.join(args.workdir, "eval.json"), report)
    keys = ("psnr_soft", "psnr_hard", "psnr_background_only", "iou_multiclass", "iou_binary", "sprites_used")
    print(" ".join(f"{k}={report[k]:.4g}" for k in keys if isinstance(report.get(k), (int, float))))
    print(f"report: {path}")
    if report.get("active_anchors_per_frame") == 0:
        print(f"spritejax eval: warning: no anchor is active in hard mode: {NOTHING_LEARNED}", file=sys.stderr)
    return 0
