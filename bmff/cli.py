"""`python -m bmff dump|validate FILE`: inspect any ISO base media file, and check its structure.

Exit codes: 0 fine; 1 validate found errors, or dump found no boxes at all (one line on stderr); 2 usage error
or a file that cannot be parsed (one line on stderr with the BmffError's message, offset and box path).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from .box import BmffError
from .dump import file_json, file_json_chunks, file_lines
from .io import parse
from .validate import CHECKS, has_errors, parse_lenient, run_checks


def _dump(args: argparse.Namespace) -> int:
    if args.lenient:
        f, damage = parse_lenient(args.file)
        for finding in damage:
            print(f"bmff dump: {finding}", file=sys.stderr)
    else:
        f = parse(args.file)
    if args.json and args.indent:
        json.dump(file_json(f, args.max_bytes), sys.stdout, indent=1)
        sys.stdout.write("\n")
    elif args.json:  # streamed: a million-record table never exists as JSON objects in memory
        sys.stdout.writelines(file_json_chunks(f, args.max_bytes))
        sys.stdout.write("\n")
    else:
        for line in file_lines(f, args.max_items, args.max_bytes):
            sys.stdout.write(line + "\n")
    if not f.boxes:  # an error to validate as well ('ftyp-first'): say it rather than print nothing
        print(f"bmff dump: error: the file holds no boxes ({f.source.size} bytes)", file=sys.stderr)
        return 1
    return 0


def _validate(args: argparse.Namespace) -> int:
    if args.list:
        sys.stdout.write("".join(f"{name}\n" for name in CHECKS))
        return 0
    if args.file is None:
        raise BmffError("validate needs a FILE (or --list)")
    if args.lenient:
        f, findings = parse_lenient(args.file)
    else:
        f, findings = parse(args.file), []
    findings += run_checks(f, args.check or None)
    if args.json:
        json.dump({"file": args.file, "errors": sum(x.severity == "error" for x in findings),
                   "findings": [dataclasses.asdict(x) for x in findings]}, sys.stdout)
        sys.stdout.write("\n")
    else:
        for finding in findings:
            sys.stdout.write(f"{finding}\n")
    return 1 if has_errors(findings) else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bmff", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("dump", help="every field of every box, as a tree or as JSON")
    d.add_argument("file")
    d.add_argument("--json", action="store_true", help="one nested JSON document instead of the text tree")
    d.add_argument("--indent", action="store_true", help="indent the JSON")
    d.add_argument("--max-items", type=int, default=16, help="list items shown per field in text (0: all)")
    d.add_argument("--max-bytes", type=int, default=32, help="bytes shown as hex per field (0: all)")
    d.add_argument("--lenient", action="store_true",
                   help="dump what can be read; broken boxes show as DamagedBox (reported on stderr)")
    d.set_defaults(_run=_dump)
    v = sub.add_parser("validate", help="structure rules; exit 1 when any finding is an error")
    v.add_argument("file", nargs="?")
    v.add_argument("--check", action="append", metavar="NAME", help="run only this check (repeatable)")
    v.add_argument("--lenient", action="store_true",
                   help="record boxes that cannot be parsed as findings instead of stopping")
    v.add_argument("--list", action="store_true", help="print the names of all checks")
    v.add_argument("--json", action="store_true", help="findings as one JSON document")
    v.set_defaults(_run=_validate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args._run(args)
    except BmffError as e:
        print(f"bmff {args.command}: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `bmff dump big.mp4 | head`
        sys.stderr.close()
        return 0
