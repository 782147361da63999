"""`bmff validate`: a registry of named checks over a parsed File, and a lenient parse that records damage.

A check is a generator `fn(file) -> Iterable[Finding | str]` registered with `@check("name")`; a plain string
is an error finding of that check. Other modules (the ISO/IEC 14496-15 Amd 1 rules) register their own checks
the same way and are loaded through PLUGINS, so the command line runs them all.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterable, Iterator

from .box import (MAX_DEPTH, Box, BmffError, ContainerBox, Context, Header, Payload, Reader, Source, lookup, parse_box,
                  payload_bytes, read_header)
from .dump import unparsed_version
from .io import File

SEVERITIES = ("error", "warning", "note")  # only errors make `bmff validate` exit 1


@dataclass(frozen=True)
class Finding:
    check: str
    message: str
    path: str = ""
    severity: str = "error"

    def __str__(self) -> str:
        where = f" {self.path}:" if self.path else ""
        return f"{self.severity}: [{self.check}]{where} {self.message}"


Check = Callable[[File], Iterable["Finding | str"]]
CHECKS: dict[str, Check] = {}
PLUGINS: tuple[str, ...] = ()  # modules imported before running, each registering more checks


def check(name: str) -> Callable[[Check], Check]:
    """Register a check under a unique name."""

    def deco(fn: Check) -> Check:
        if name in CHECKS and CHECKS[name] is not fn:
            raise ValueError(f"a check named {name!r} is already registered")
        CHECKS[name] = fn
        return fn

    return deco


def load_plugins() -> None:
    for module in PLUGINS:
        importlib.import_module(module)


def run_checks(f: File, names: Iterable[str] | None = None) -> list[Finding]:
    """Every finding of the named checks (default: all), in registry order.

    A check that meets an unreadable structure reports it as its own error instead of stopping the others.
    """
    load_plugins()
    selected = list(CHECKS) if names is None else list(names)
    unknown = [n for n in selected if n not in CHECKS]
    if unknown:
        raise BmffError(f"unknown check(s): {', '.join(unknown)}")
    findings: list[Finding] = []
    for name in selected:
        try:
            for item in CHECKS[name](f):
                findings.append(item if isinstance(item, Finding) else Finding(name, str(item)))
        except BmffError as e:
            findings.append(Finding(name, f"could not be checked: {e.message}", e.path))
    return findings


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(x.severity == "error" for x in findings)


# --------------------------------------------------------------------------------------------- lenient parse


@dataclass
class DamagedBox(Box):
    """Bytes a lenient parse could not read as a box, kept verbatim (header included) so nothing is lost."""

    box_type: str = "????"
    data: bytes | Payload = b""
    error: str = ""

    @property
    def type(self) -> str:
        return self.box_type

    def to_header(self, body_size: int | None = None) -> bytes:
        return b""  # the header is part of data

    def to_bytes(self) -> bytes:
        return payload_bytes(self.data)


def _pure_container(cls: type[Box]) -> bool:
    return issubclass(cls, ContainerBox) and cls.parse_body.__func__ is ContainerBox.parse_body.__func__


def _lenient_boxes(r: Reader, ctx: Context, damage: list[Finding]) -> list[Box]:
    """Like parse_boxes, but a box that fails becomes a DamagedBox (a container: its readable children are
    kept) and the failure a 'parse' finding."""
    out: list[Box] = []
    while r.remaining() >= 8:
        start = r.pos
        try:
            out.append(parse_box(r, ctx))
            continue
        except BmffError as e:
            error = e
        raw_type = r.source.read_at(start + 4, 4).decode("latin-1")
        try:
            hdr = read_header(r.source, start, r.end, ctx.path_str)
        except BmffError:
            # The header itself is broken (overflow, truncation): everything to the parent's end is damaged.
            damage.append(Finding("parse", error.message, error.path or ctx.path_str))
            out.append(DamagedBox(raw_type, Payload(r.source, start, r.end - start), error.message))
            r.pos = r.end
            break
        cls = lookup(hdr.type, ctx.parent)
        if _pure_container(cls) and len(ctx.path) < MAX_DEPTH:  # the damage is in a child: report that one
            sub = dataclasses.replace(ctx, path=ctx.path + (hdr.type,))
            body = Reader(r.source, hdr.body_offset, hdr.end, sub.path_str)
            box: Box = cls(children=_lenient_boxes(body, sub, damage))
            box.trailing = body.rest()
            box.header = hdr
        else:
            damage.append(Finding("parse", error.message, error.path or ctx.path_str))
            box = DamagedBox(hdr.type, Payload(r.source, start, hdr.size), error.message)
            box.header = Header(hdr.type, start, 0, hdr.size)
        out.append(box)
        r.pos = hdr.end
    return out


def parse_lenient(src: str | os.PathLike | bytes | BinaryIO) -> tuple[File, list[Finding]]:
    """A File whatever the damage, and one 'parse' finding per box that could not be read."""
    if isinstance(src, (str, os.PathLike)):
        try:
            fp = open(src, "rb")
        except OSError as e:
            raise BmffError(f"cannot open {os.fspath(src)}: {e.strerror}") from None
        source = Source(fp)
    else:
        source = Source(src)
    damage: list[Finding] = []
    r = Reader(source, 0, source.size)
    boxes = _lenient_boxes(r, Context(), damage)
    return File(boxes=boxes, trailing=r.rest(), source=source), damage


# --------------------------------------------------------------------------------------------- helpers


def walk_paths(f: File) -> Iterator[tuple[str, Box, str | None]]:
    """(path, box, parent type) of every box, paths like 'moov[0]/trak[1]/tkhd[0]' for unique messages."""

    def rec(boxes: list[Box], prefix: str, parent: str | None) -> Iterator[tuple[str, Box, str | None]]:
        seen: dict[str, int] = {}
        for b in boxes:
            i = seen.get(b.type, 0)
            seen[b.type] = i + 1
            path = f"{prefix}{b.type}[{i}]"
            yield path, b, parent
            yield from rec(b.boxes, path + "/", b.type)

    yield from rec(f.boxes, "", None)


def children_types(box: Box) -> list[str]:
    return [c.type for c in box.boxes]


def is_fragmented(f: File) -> bool:
    return any(b.type in ("moof", "styp", "sidx") for b in f.boxes) or bool(f.find_all("moov/mvex"))


# --------------------------------------------------------------------------------------------- file structure


@check("ftyp-first")
def _ftyp_first(f: File) -> Iterator[Finding]:
    types = [b.type for b in f.boxes]
    if not types:
        yield Finding("ftyp-first", "the file holds no boxes")
        return
    significant = [t for t in types if t not in ("free", "skip")]
    if not significant or significant[0] not in ("ftyp", "styp"):
        first = significant[0] if significant else types[0]
        yield Finding("ftyp-first", f"the first box is '{first}'; 'ftyp' (or 'styp' for a segment) shall come "
                      "first, only 'free'/'skip' may precede it", first)
    if types.count("ftyp") > 1:
        yield Finding("ftyp-first", f"{types.count('ftyp')} 'ftyp' boxes; a file has exactly one")


@check("one-moov")
def _one_moov(f: File) -> Iterator[Finding]:
    n = sum(b.type == "moov" for b in f.boxes)
    if n > 1:
        yield Finding("one-moov", f"{n} top-level 'moov' boxes; a file has at most one")
    elif n == 0 and not any(b.type in ("meta", "styp", "moof") for b in f.boxes):
        yield Finding("one-moov", "no 'moov' (and no top-level 'meta' or movie fragments): nothing to present")


REQUIRED_CHILDREN: dict[str, tuple[tuple[str, ...], ...]] = {
    # parent: groups of alternatives, each group needed exactly once (ISO/IEC 14496-12 Table 1)
    "moov": (("mvhd",),),
    "trak": (("tkhd",), ("mdia",)),
    "mdia": (("mdhd",), ("hdlr",), ("minf",)),
    "minf": (("dinf",), ("stbl",)),
    "stbl": (("stsd",), ("stts",), ("stsc",), ("stsz", "stz2"), ("stco", "co64")),
    "dinf": (("dref",),),
    "moof": (("mfhd",),),
    "traf": (("tfhd",),),
    "meta": (("hdlr",),),
    "iprp": (("ipco",),),
}


@check("required-children")
def _required_children(f: File) -> Iterator[Finding]:
    for path, box, _ in walk_paths(f):
        groups = REQUIRED_CHILDREN.get(box.type)
        if groups is None or isinstance(box, DamagedBox):
            continue
        types = children_types(box)
        for group in groups:
            n = sum(types.count(t) for t in group)
            names = " or ".join(f"'{t}'" for t in group)
            if n == 0:
                yield Finding("required-children", f"'{box.type}' has no {names}", path)
            elif n > 1:
                yield Finding("required-children", f"'{box.type}' has {n} {names} boxes; exactly one is allowed",
                              path)


@check("unknown-version")
def _unknown_version(f: File) -> Iterator[Finding]:
    for path, box, parent in walk_paths(f):
        version = unparsed_version(box, parent)
        if version is not None:
            yield Finding("unknown-version", f"version {version} of '{box.type}' is not known; kept as raw bytes",
                          path, "note")
