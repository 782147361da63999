"""`spritejax render --workdir DIR --out DIR`: every picture of a trained model (spritejax.viz) in one folder."""

from __future__ import annotations

import os

from ..errors import UserError
from ..viz import render_workdir


def add_arguments(parser) -> None:
    parser.add_argument("--workdir", required=True, help="a training workdir (spritejax train --workdir)")
    parser.add_argument("--out", required=True, help="folder for the PNGs, the GIF and index.html")
    parser.add_argument("--frames", type=int, default=6, help="evaluation frames to show (default 6)")
    parser.add_argument("--batch-size", type=int, default=16, help="frames per model batch")


def run(args) -> int:
    if args.frames < 1 or args.batch_size < 1:
        raise UserError("--frames and --batch-size must be positive")
    figures = render_workdir(args.workdir, args.out, args.frames, args.batch_size)
    for _, name in figures:
        print(os.path.join(args.out, name))
    print(f"open {os.path.join(args.out, 'index.html')}")
    return 0
