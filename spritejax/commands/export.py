"""`spritejax export` / `spritejax import`: a trained model as NNR items in an MP4, and back (spritejax.export)."""

from __future__ import annotations

import argparse
import json

import numpy as np

from .. import nnr
from ..errors import UserError
from ..export import RECOMMENDED_QP, export_workdir, load
from ..viz import save_png, sprite_sheet


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workdir", required=True, help="training workdir (its latest checkpoint is exported)")
    parser.add_argument("--out", required=True, help="the MP4 / ISOBMFF file to write")
    parser.add_argument("--video", help="footage MP4 to embed the model in (its video track gets an NNPFC group)")
    parser.add_argument("--base", help="an exported file: write this model as an incremental update of its model")
    quant = parser.add_mutually_exclusive_group()
    quant.add_argument("--qp", type=int, help="quantise at NNR quantisation parameter qp, relative to each tensor's "
                       "RMS (step ≈ RMS·2^(qp/4); vectors a quarter of it), and DeepCABAC-code the levels; needs "
                       f"NNCodec (docs/amd1.md). {RECOMMENDED_QP} is ~1/10 of the lossless size at < 0.1 dB on the "
                       "demo model. Default: lossless float32")
    quant.add_argument("--psnr-loss", type=float, metavar="DB", help="the coarsest qp (from -10 down in steps of 2) "
                       "whose hard- and soft-mode PSNR loss on held-out frames is at most DB, e.g. 0.1")
    parser.add_argument("--no-dq", dest="dq", action="store_false", help="with --qp / --psnr-loss: uniform scalar "
                        "quantisation instead of dependent (trellis-coded) quantisation")
    parser.add_argument("--bits", type=int, help=argparse.SUPPRESS)  # replaced by --qp: refused with a pointer
    parser.add_argument("--frames", type=int, default=16, help="held-out frames re-rendered to measure the PSNR "
                        "loss (default 16)")


def run_export(args) -> int:
    if args.bits is not None:
        raise UserError("--bits is gone: NNR quantises by qp, use --qp N (e.g. --qp -38, smaller is finer; "
                        "docs/amd1.md)")
    if args.qp is not None:  # before the workdir, whose loading takes a while
        nnr.check_qp(args.qp, "--qp")
    if args.psnr_loss is not None and not args.psnr_loss >= 0:
        raise UserError(f"--psnr-loss {args.psnr_loss} must be a loss in dB, 0 or more")
    report = export_workdir(args.workdir, args.out, args.video, args.qp, args.psnr_loss, args.base, args.dq,
                            args.frames)
    print(json.dumps(report))
    return 0


def add_import_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="an MP4 / ISOBMFF file written by `spritejax export`")
    parser.add_argument("--sheet", help="also write the model's sprite sheet PNG here")


def run_import(args) -> int:
    cfg, model, params = load(args.file)
    sizes = {k: int(np.prod(v.shape)) for k, v in nnr.flatten(params).items()}
    print(json.dumps({"file": args.file, "canvas": list(cfg.canvas), "k": cfg.model.k,
                      "num_sprites": cfg.model.num_sprites, "tensors": len(sizes), "parameters": sum(sizes.values())}))
    if args.sheet:
        sprites = np.asarray(model.decode_sprites(params))
        save_png(args.sheet, sprite_sheet(sprites, range(len(sprites))))
    return 0
