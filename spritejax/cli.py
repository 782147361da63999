"""`spritejax <command>`: each command is a module of spritejax.commands, imported only when used.

A command module provides `add_arguments(parser)` and `run(args) -> int` (`add_<name>_arguments` / `run_<name>`
where one module serves two commands). User mistakes (bad paths, bad
configs) surface as `spritejax.errors.UserError` and print one line, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .errors import UserError

COMMANDS = {
    "demo": ("demo", "generate a synthetic game, train, evaluate and write a report"),
    "train": ("train", "train a model from a config into a workdir (resumes if it has a checkpoint)"),
    "eval": ("eval", "PSNR and IoU of a trained model, as a JSON report"),
    "render": ("render", "sprite sheet, reconstructions, layers and segmentation of a trained model"),
    "export": ("export", "write a trained model as NNR items into an MP4 / ISOBMFF file"),
    "import": ("export", "read a model back from an MP4 / ISOBMFF file"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="spritejax", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    argv = sys.argv[1:] if argv is None else argv
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        if name == chosen:  # import only the module of the command being run
            mod = importlib.import_module(f"spritejax.commands.{module}")
            (getattr(mod, f"add_{name}_arguments", None) or mod.add_arguments)(p)
            p.set_defaults(_run=getattr(mod, f"run_{name}", None) or mod.run)
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except UserError as e:
        print(f"spritejax {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"spritejax {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
