"""NNR export of a model over a sweep of qp: size, encode/decode seconds and MB/s, PSNR loss (hard and soft).

Prints one JSON line: the model (config, parameters), the lossless NNR size and timings, and per qp the NNR
bytes, the ratio to lossless, encode and decode seconds and MB/s (float32 parameter megabytes per second), and
the hard- and soft-mode PSNR loss on the held-out frames. Needs NNCodec (docs/amd1.md).

  python benchmarks/nnr.py --workdir demo_out/workdir                # a trained model: the size/quality curve
  python benchmarks/nnr.py --config synthetic --qps -38              # the default config, initial weights: speed
  python benchmarks/nnr.py --config tiny --qps -38 --frames 2        # a seconds-long correctness run

Timings are only meaningful on idle cores. Without --workdir the weights are the config's initialisation
(jittered so no tensor is constant) and the PSNR losses are of an untrained model on its own data.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

DEFAULT_QPS = (-50, -46, -42, -38, -34, -30, -26)


def model_and_params(args):
    import jax

    from spritejax import config
    from spritejax.checkpoint import load_workdir
    from spritejax.model import SpriteModel

    if args.workdir:
        return load_workdir(args.workdir)
    cfg = config.load(args.config)
    model = SpriteModel.from_config(cfg)
    params = model.init(jax.random.key(0))
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.key(1), len(leaves))
    return cfg, model, jax.tree.unflatten(tree, [x + 0.01 * jax.random.normal(k, x.shape)
                                                 for x, k in zip(leaves, keys)])


def timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--workdir", help="a training workdir (its latest checkpoint)")
    source.add_argument("--config", help="a config name or path: its initial weights")
    parser.add_argument("--qps", type=int, nargs="+", default=list(DEFAULT_QPS))
    parser.add_argument("--no-dq", dest="dq", action="store_false", help="uniform instead of dependent quantisation")
    parser.add_argument("--frames", type=int, default=16, help="held-out frames rendered for the PSNR (default 16)")
    args = parser.parse_args(argv)

    import jax

    from bmff.nnr_units import units_to_bytes
    from spritejax import export, nnr
    from spritejax.data import load_dataset

    cfg, model, params = model_and_params(args)
    tensors = export._tensors(model, params)
    n_params = sum(int(v.size) for k, v in tensors.items() if k != export.SHEET)
    megabytes = 4 * sum(int(v.size) for v in tensors.values()) / 1e6
    dataset = load_dataset(cfg.data, cfg.canvas)
    template = jax.tree.map(np.asarray, params)

    def run(qp):
        data, enc_s = timed(lambda: units_to_bytes(nnr.encode(tensors, qp, args.dq)))
        flat, dec_s = timed(nnr.decode_bytes, data)
        return data, flat, enc_s, dec_s

    lossless, _, enc_s, dec_s = run(None)
    rows = []
    for qp in args.qps:
        data, flat, q_enc_s, q_dec_s = run(qp)
        flat.pop(export.SHEET)
        params_q = jax.tree.map(jax.numpy.asarray, nnr.unflatten(flat, template))
        change = export.psnr_change(model, params, params_q, dataset, args.frames, ("hard", "soft"))
        rows.append({"qp": qp, "bytes": len(data), "ratio": round(len(data) / len(lossless), 4),
                     "encode_s": round(q_enc_s, 3), "decode_s": round(q_dec_s, 3),
                     "encode_MBps": round(megabytes / q_enc_s, 2), "decode_MBps": round(megabytes / q_dec_s, 2),
                     "psnr_loss_hard_db": round(change["psnr_loss_db"], 4),
                     "psnr_loss_soft_db": round(change["psnr_loss_db_soft"], 4),
                     "psnr_hard_db": round(change["psnr_lossless"], 3), "psnr_soft_db":
                     round(change["psnr_lossless_soft"], 3)})
    print(json.dumps({"source": args.workdir or args.config, "parameters": n_params, "dq": args.dq,
                      "frames": min(args.frames, len(dataset.test_idx) or len(dataset.train_idx)),
                      "lossless_bytes": len(lossless), "lossless_encode_s": round(enc_s, 3),
                      "lossless_decode_s": round(dec_s, 3), "sweep": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
