"""`spritejax train --config NAME|PATH --workdir DIR [--set key=value ...]`: train or resume (spritejax.train)."""

from __future__ import annotations

import json
import sys

import jax

from .. import config
from ..checkpoint import load_config
from ..inference import NOTHING_LEARNED
from ..train import train


def add_arguments(parser) -> None:
    parser.add_argument("--config", help=f"config name ({', '.join(config.NAMES)}) or a .py path; "
                        "default: the workdir's config.json when resuming")
    parser.add_argument("--workdir", required=True, help="output folder; resumes when it holds a checkpoint")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="config override, e.g. --set train.batch_size=4 (repeatable)")
    parser.add_argument("--steps", type=int, default=None,
                        help="stop after this global step (the schedule still follows train.num_steps)")
    parser.add_argument("--distributed", action="store_true",
                        help="multi-host: call jax.distributed.initialize() (cluster settings from the environment "
                        "unless given below)")
    parser.add_argument("--coordinator", default=None, help="with --distributed: coordinator host:port")
    parser.add_argument("--num-processes", type=int, default=None, help="with --distributed: process count")
    parser.add_argument("--process-id", type=int, default=None, help="with --distributed: this process's index")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    if args.distributed:
        jax.distributed.initialize(args.coordinator, args.num_processes, args.process_id)
    if args.config is not None:
        cfg = config.load(args.config, args.overrides)
    else:
        cfg = load_config(args.workdir)
        for item in args.overrides:
            config.apply_override(cfg, item)
    result = train(cfg, args.workdir, progress=not args.no_progress, stop_at=args.steps)
    if jax.process_index() == 0:
        print(json.dumps(result))
        if result.get("active_fraction") == 0 and not result["interrupted"]:
            print(f"spritejax train: warning: no anchor is active at the last step: {NOTHING_LEARNED}",
                  file=sys.stderr)
    return 143 if result["interrupted"] else 0
