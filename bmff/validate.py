"""`bmff validate`: a registry of named checks over a parsed File, and a lenient parse that records damage.

A check is a generator `fn(ctx: CheckContext) -> Iterable[Finding | str]` registered with `@check("name")`;
ctx.file is the parsed File. A plain string is an error finding of that check. Other modules (the ISO/IEC
14496-15 Amd 1 rules) register their own checks the same way; `bmff/__init__` imports them, so `import bmff`
(and the command line) has every check.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import os
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterable, Iterator

from . import tracks
from .box import (
    MAX_DEPTH,
    BmffError,
    Box,
    ContainerBox,
    Context,
    Header,
    Payload,
    Reader,
    UnknownBox,
    lookup,
    parse_box,
    payload_bytes,
    printable,
    read_header,
)
from .dump import unparsed_version
from .io import File, open_source

SEVERITIES = ("error", "warning", "note")  # only errors make `bmff validate` exit 1


@dataclass(frozen=True)
class Finding:
    check: str
    message: str
    path: str = ""
    severity: str = "error"

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity {self.severity!r} is not one of {SEVERITIES}")

    def __str__(self) -> str:
        where = f" {self.path}:" if self.path else ""
        return printable(f"{self.severity}: [{self.check}]{where} {self.message}")


@dataclass
class CheckContext:
    """What the checks of one `run_checks` call read: the file, and its box walk and MetaBoxes found once
    (checks only read, so the tree stays the same through the run)."""

    file: File

    @functools.cached_property
    def walk(self) -> list[tuple[str, Box, str | None]]:
        return walk_paths(self.file)

    @functools.cached_property
    def metas(self) -> list[tuple[str, Box]]:
        return list(_metas_in(self.walk))


Check = Callable[[CheckContext], Iterable["Finding | str"]]
CHECKS: dict[str, Check] = {}


def check(name: str) -> Callable[[Check], Check]:
    """Register a check under a unique name."""

    def deco(fn: Check) -> Check:
        if name in CHECKS and CHECKS[name] is not fn:
            raise ValueError(f"a check named {name!r} is already registered")
        CHECKS[name] = fn
        return fn

    return deco


MAX_FINDINGS_PER_CHECK = 1000


def run_checks(f: File, names: Iterable[str] | None = None) -> list[Finding]:
    """Every finding of the named checks (default: all), in registry order; past MAX_FINDINGS_PER_CHECK of one
    check, one last finding counts the rest.

    A check that meets an unreadable structure reports it as its own error instead of stopping the others.
    """
    selected = list(CHECKS) if names is None else list(names)
    unknown = [n for n in selected if n not in CHECKS]
    if unknown:
        raise BmffError(f"unknown check(s): {', '.join(unknown)}")
    findings: list[Finding] = []
    ctx = CheckContext(f)
    for name in selected:
        kept, more, worst = len(findings), 0, SEVERITIES[-1]
        try:
            for item in CHECKS[name](ctx):
                item = item if isinstance(item, Finding) else Finding(name, str(item))
                if len(findings) - kept < MAX_FINDINGS_PER_CHECK:
                    findings.append(item)
                else:  # counted, not kept: a hostile file can repeat one mistake a million times
                    more += 1
                    worst = min(worst, item.severity, key=SEVERITIES.index)
        except BmffError as e:
            findings.append(Finding(name, f"could not be checked: {e.message}", e.path))
        if more:
            findings.append(Finding(name, f"… and {more} more finding(s) of this check, not listed", "", worst))
    return findings


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(x.severity == "error" for x in findings)


# --------------------------------------------------------------------------------------------- lenient parse


@dataclass
class DamagedBox(UnknownBox):
    """Bytes a lenient parse could not read as a box, kept verbatim (header included) so nothing is lost."""

    error: str = ""

    def to_header(self, body_size: int | None = None) -> bytes:
        return b""  # the header is part of data

    def to_bytes(self) -> bytes:
        return payload_bytes(self.data)


def _lenient_boxes(r: Reader, ctx: Context, damage: list[Finding]) -> list[Box]:
    """Like parse_boxes, but a box that fails becomes a DamagedBox (a container: its readable children are
    kept) and the failure a 'parse' finding. Like 'mdia', a container's 'hdlr' tells later siblings the
    handler type."""
    out: list[Box] = []
    while r.remaining() >= 8:
        start = r.pos
        try:
            box = parse_box(r, ctx)
            out.append(box)
            if box.type == "hdlr" and hasattr(box, "handler_type"):
                ctx = dataclasses.replace(ctx, handler_type=box.handler_type)
            continue
        except BmffError as e:
            error = e
        where = f" (offset {error.offset})" if error.offset is not None else ""
        raw_type = r.source.read_at(start + 4, 4).decode("latin-1")
        try:
            hdr = read_header(r.source, start, r.end, ctx.path_str)
        except BmffError:
            # The header itself is broken (overflow, truncation): everything to the parent's end is damaged.
            damage.append(Finding("parse", error.message + where, error.path or ctx.path_str))
            box = DamagedBox(box_type=raw_type, data=Payload(r.source, start, r.end - start), error=error.message)
            box.header = Header(raw_type, start, 0, r.end - start)  # so a dump shows where, without reading it
            out.append(box)
            r.pos = r.end
            break
        cls = lookup(hdr.type, ctx.parent)
        if issubclass(cls, ContainerBox) and len(ctx.path) < MAX_DEPTH:  # the damage is in a child: report it
            sub = dataclasses.replace(ctx, path=ctx.path + (hdr.type,))
            body = Reader(r.source, hdr.body_offset, hdr.end, sub.path_str)
            box: Box = cls(children=_lenient_boxes(body, sub, damage))
            box.trailing = body.rest()
            box.header = hdr
        else:
            damage.append(Finding("parse", error.message + where, error.path or ctx.path_str))
            box = DamagedBox(box_type=hdr.type, data=Payload(r.source, start, hdr.size), error=error.message)
            box.header = Header(hdr.type, start, 0, hdr.size)
        out.append(box)
        r.pos = hdr.end
    return out


def parse_lenient(src: str | os.PathLike | bytes | BinaryIO) -> tuple[File, list[Finding]]:
    """A File whatever the damage, and one 'parse' finding per box that could not be read."""
    source = open_source(src)
    damage: list[Finding] = []
    r = Reader(source, 0, source.size)
    boxes = _lenient_boxes(r, Context(), damage)
    return File(boxes=boxes, trailing=r.rest(), source=source), damage


# --------------------------------------------------------------------------------------------- helpers


def walk_paths(f: File) -> list[tuple[str, Box, str | None]]:
    """(path, box, parent type) of every box, depth first, paths like 'moov[0]/trak[1]/tkhd[0]'."""
    out: list[tuple[str, Box, str | None]] = []

    def visit(boxes: list[Box], prefix: str, parent: str | None) -> None:
        seen: dict[str, int] = {}
        for b in boxes:
            i = seen.get(b.type, 0)
            seen[b.type] = i + 1
            path = f"{prefix}{b.type}[{i}]"
            out.append((path, b, parent))
            if b.boxes:
                visit(b.boxes, path + "/", b.type)

    visit(f.boxes, "", None)
    return out


def children_types(box: Box) -> list[str]:
    return [c.type for c in box.boxes]


# --------------------------------------------------------------------------------------------- file structure


@check("ftyp-first")
def _ftyp_first(ctx: CheckContext) -> Iterator[Finding]:
    types = [b.type for b in ctx.file.boxes]
    if not types:
        yield Finding("ftyp-first", "the file holds no boxes")
        return
    significant = [t for t in types if t not in ("free", "skip")]
    first = significant[0] if significant else types[0]
    if "ftyp" not in types and "styp" not in types:
        yield Finding("ftyp-first", f"no 'ftyp' box (the file starts with '{first}'); files of ISO/IEC 14496-12 "
                      "have one, legacy QuickTime files may not", first, "warning")
    elif first not in ("ftyp", "styp"):
        yield Finding("ftyp-first", f"the first box is '{first}'; 'ftyp' (or 'styp' for a segment) shall come "
                      "first, only 'free'/'skip' may precede it", first)
    if types.count("ftyp") > 1:
        yield Finding("ftyp-first", f"{types.count('ftyp')} 'ftyp' boxes; a file has exactly one")


@check("one-moov")
def _one_moov(ctx: CheckContext) -> Iterator[Finding]:
    n = sum(b.type == "moov" for b in ctx.file.boxes)
    if n > 1:
        yield Finding("one-moov", f"{n} top-level 'moov' boxes; a file has at most one")
    elif n == 0 and not any(b.type in ("meta", "styp", "moof") for b in ctx.file.boxes):
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
def _required_children(ctx: CheckContext) -> Iterator[Finding]:
    for path, box, _ in ctx.walk:
        groups = REQUIRED_CHILDREN.get(box.type)
        if groups is None or isinstance(box, UnknownBox):
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
def _unknown_version(ctx: CheckContext) -> Iterator[Finding]:
    for path, box, parent in ctx.walk:
        version = unparsed_version(box, parent)
        if version is not None:
            yield Finding("unknown-version", f"version {version} of '{box.type}' is not known; kept as raw bytes",
                          path, "note")


# --------------------------------------------------------------------------------------------- items


def parsed(box: Box | None, *attrs: str) -> bool:
    """Whether a box was read by its own parser (not kept as raw bytes), so its fields can be checked."""
    return box is not None and not isinstance(box, UnknownBox) and all(hasattr(box, a) for a in attrs)


def metas(f: File) -> Iterator[tuple[str, Box]]:
    """(path, meta) of every MetaBox: file level, movie level, track level."""
    return _metas_in(walk_paths(f))


def _metas_in(walk: list[tuple[str, Box, str | None]]) -> Iterator[tuple[str, Box]]:
    for path, box, _ in walk:
        if box.type == "meta" and parsed(box, "children"):
            yield path, box


def meta_child(meta: Box, box_type: str, *attrs: str) -> Box | None:
    box = next((c for c in meta.boxes if c.type == box_type), None)
    return box if parsed(box, *attrs) else None


def item_ids(meta: Box) -> list[int] | None:
    """IDs declared in 'iinf' (None when the meta has no readable iinf)."""
    iinf = meta_child(meta, "iinf", "children")
    if iinf is None:
        return None
    return [e.item_ID for e in iinf.boxes if parsed(e, "item_ID")]


def declared_items(meta: Box) -> set[int] | None:
    ids = item_ids(meta)
    return None if ids is None else set(ids)


@check("item-ids")
def _item_ids(ctx: CheckContext) -> Iterator[Finding]:
    for path, meta in ctx.metas:
        ids = item_ids(meta)
        if ids is None:
            continue
        dupes = sorted(i for i, n in collections.Counter(ids).items() if n > 1)
        ids = set(ids)
        if dupes:
            yield Finding("item-ids", f"item_ID(s) {dupes} declared more than once in 'iinf'", path)
        pitm = meta_child(meta, "pitm", "item_ID")
        if pitm is not None and pitm.item_ID not in ids:
            yield Finding("item-ids", f"'pitm' names item {pitm.item_ID}, which 'iinf' does not declare", path)
        iref = meta_child(meta, "iref", "children")
        for ref in iref.boxes if iref else []:
            if not parsed(ref, "from_item_ID", "to_item_ID"):
                continue
            missing = [i for i in [ref.from_item_ID, *ref.to_item_ID] if i not in ids]
            if missing:
                yield Finding("item-ids", f"'iref' '{ref.type}' reference from item {ref.from_item_ID} names "
                              f"undeclared item(s) {sorted(set(missing))}", path)


def _outside(loc, total: int) -> list[tuple[int, int]]:
    """(start, length) of every extent of loc that runs past `total` bytes, read by column, not per extent."""
    ext, base = loc.extents, loc.base_offset
    return [(base + o, n) for o, n in zip(ext.column("extent_offset"), ext.column("extent_length"))
            if base + o > total or base + o + n > total]


def _first_and_count(bad: list, what: str) -> str:
    """One finding per item however many of its extents are wrong (an iloc holds a million in 1 MB)."""
    return what if len(bad) == 1 else f"{what} (and {len(bad) - 1} more extents)"


@check("iloc-extents")
def _iloc_extents(ctx: CheckContext) -> Iterator[Finding]:
    file_size = ctx.file.source.size if ctx.file.source is not None else len(ctx.file.to_bytes())
    for path, meta in ctx.metas:
        iloc = meta_child(meta, "iloc", "items")
        if iloc is None:
            continue
        ids = declared_items(meta)
        idat = meta_child(meta, "idat", "data")
        references = iloc_references(meta_child(meta, "iref", "children"))
        for loc in iloc.items:
            where = f"item {loc.item_ID}"
            if ids is not None and loc.item_ID not in ids:
                yield Finding("iloc-extents", f"'iloc' locates {where}, which 'iinf' does not declare", path)
            if loc.data_reference_index != 0:
                continue  # in another file: nothing to check here
            if loc.construction_method in (0, 1):
                what, total = ("the file", file_size) if loc.construction_method == 0 else \
                    ("'idat'", len(idat.data) if idat is not None else None)
                if total is None:
                    yield Finding("iloc-extents", f"{where} is stored in 'idat' but the meta has none", path)
                    continue
                bad = _outside(loc, total)
                if bad:
                    start, length = bad[0]
                    yield Finding("iloc-extents", _first_and_count(bad, f"{where} extent [{start}, {start + length}) "
                                                                        f"runs past {what} ({total} bytes)"), path)
            elif loc.construction_method == 2:
                refs = references.get(loc.item_ID, [])
                bad = [k for k in loc.extents.column("extent_index") if max(k, 1) > len(refs)]
                if bad:
                    yield Finding("iloc-extents", _first_and_count(bad, f"{where} extent_index {bad[0]} has no 'iloc' "
                                                                        f"item reference ({len(refs)} present)"), path)
            else:
                yield Finding("iloc-extents", f"{where} has construction_method {loc.construction_method}; "
                              "0 (file), 1 (idat) and 2 (item) are defined", path)


def iloc_references(iref: Box | None) -> dict[int, list[int]]:
    """item -> the items it is built from (construction_method 2), in 'iloc' reference order."""
    out: dict[int, list[int]] = {}
    for c in iref.boxes if iref else []:
        if c.type == "iloc" and parsed(c, "from_item_ID", "to_item_ID"):
            out.setdefault(c.from_item_ID, []).extend(c.to_item_ID)
    return out


@check("iloc-cycles")
def _iloc_cycles(ctx: CheckContext) -> Iterator[Finding]:
    """No item is built, through construction_method 2, from itself (a reader would never finish it)."""
    for path, meta in ctx.metas:
        iloc, iref = meta_child(meta, "iloc", "items"), meta_child(meta, "iref", "children")
        if iloc is None or iref is None:
            continue
        references = iloc_references(iref)
        built = {loc.item_ID: references.get(loc.item_ID, []) for loc in iloc.items if loc.construction_method == 2}
        state: dict[int, int] = {}  # 1 on the current path, 2 done
        for root in sorted(built):
            stack = [(root, iter(built[root]))]
            state[root] = state.get(root) or 1
            while stack and state[root] != 2:
                item, todo = stack[-1]
                nxt = next(todo, None)
                if nxt is None:
                    state[item] = 2
                    stack.pop()
                elif state.get(nxt) == 1:
                    on_path = [i for i, _ in stack]
                    cycle = on_path[on_path.index(nxt):] + [nxt]
                    shown = " -> ".join(map(str, cycle if len(cycle) <= 9 else cycle[:8] + ["…", nxt]))
                    yield Finding("iloc-cycles", f"items {shown} ({len(cycle) - 1} items) are built from each "
                                  "other (construction_method 2)", path)
                    for i, _ in stack:
                        state[i] = 2
                    break
                elif nxt in built and not state.get(nxt):
                    state[nxt] = 1
                    stack.append((nxt, iter(built[nxt])))


@check("ipma-properties")
def _ipma(ctx: CheckContext) -> Iterator[Finding]:
    for path, meta in ctx.metas:
        iprp = meta_child(meta, "iprp", "children")
        if iprp is None:
            continue
        ipco = next((c for c in iprp.boxes if c.type == "ipco" and parsed(c, "children")), None)
        n_props = len(ipco.boxes) if ipco is not None else 0
        ids = declared_items(meta)
        seen: set[int] = set()
        for ipma in (c for c in iprp.boxes if c.type == "ipma" and parsed(c, "entries")):
            for e in ipma.entries:
                where = f"'ipma' item {e.item_ID}"
                if e.item_ID in seen:
                    yield Finding("ipma-properties", f"{where} is associated more than once; an item_ID occurs "
                                  "at most once in all 'ipma' boxes", path)
                seen.add(e.item_ID)
                if ids is not None and e.item_ID not in ids:
                    yield Finding("ipma-properties", f"{where}: no such item in 'iinf'", path)
                bad = [a.property_index for a in e.associations if a.property_index > n_props]
                if bad:
                    yield Finding("ipma-properties", f"{where} refers to property index(es) {bad}; 'ipco' holds "
                                  f"{n_props} properties (1-based)", path)


# --------------------------------------------------------------------------------------------- tracks


def _track_paths(f: File) -> Iterator[tuple[str, tracks.Track]]:
    for i, t in enumerate(tracks.tracks(f)):
        yield f"moov[0]/trak[{i}]", t


@check("track-ids")
def _track_ids(ctx: CheckContext) -> Iterator[Finding]:
    ids = [t.track_ID for t in tracks.tracks(ctx.file) if t.track_ID is not None]
    for tid, n in sorted(collections.Counter(ids).items()):
        if n > 1:
            yield Finding("track-ids", f"track_ID {tid} is used by {n} tracks; track_IDs are unique")
    if 0 in ids:
        yield Finding("track-ids", "a track has track_ID 0; track_IDs start at 1")
    mvhd = ctx.file.find("moov/mvhd")
    if ids and parsed(mvhd, "next_track_ID") and mvhd.next_track_ID <= max(ids):
        # A warning: players never use it (only a writer adding a track does), and ffmpeg 5.1 writes it one
        # too small in fragmented files with several tracks.
        yield Finding("track-ids", f"mvhd next_track_ID {mvhd.next_track_ID} is not larger than the largest "
                      f"track_ID in use ({max(ids)})", "moov[0]/mvhd[0]", "warning")
    known = set(ids)
    for path, box, _ in ctx.walk:
        if box.type in ("tfhd", "trex") and parsed(box, "track_ID") and box.track_ID not in known:
            yield Finding("track-ids", f"'{box.type}' names track_ID {box.track_ID}, which no 'trak' has", path)


@check("sample-tables")
def _sample_tables(ctx: CheckContext) -> Iterator[Finding]:
    """The tables agree with each other: counts in stts/ctts/stsz, stsc over stco, stss numbers, stsd indices."""
    for path, t in _track_paths(ctx.file):
        stbl = t.trak.find("mdia/minf/stbl")
        types = children_types(stbl) if parsed(stbl, "children") else []
        if (not types or any(not set(group) & set(types) for group in REQUIRED_CHILDREN["stbl"])
                or any(not parsed(c) for c in stbl.boxes if c.type in tracks.TABLES)):
            continue  # missing or unreadable tables are reported by required-children / unknown-version
        path += "/mdia[0]/minf[0]/stbl[0]"
        st = tracks.sample_table(t.trak)
        try:
            chunks = st.chunks()
            st.decode_time_iter()  # the coverage checks run on the call; no value per sample is made
            st.composition_offset_iter()
            st.sync_bytes()
        except BmffError as e:
            yield Finding("sample-tables", f"{t.name}: {e.message}", path)
            continue
        stss = stbl.find("stss")
        if stss is not None and any(b <= a for a, b in zip(stss.sample_number, stss.sample_number[1:])):
            yield Finding("sample-tables", f"{t.name}: 'stss' sample numbers are not strictly increasing", path)
        n_entries = len(tracks.sample_entries(t.trak))
        bad = sorted({c.sample_description_index for c in chunks if not 1 <= c.sample_description_index <= n_entries})
        if bad:
            yield Finding("sample-tables", f"{t.name}: sample_description_index {bad} but 'stsd' has {n_entries} "
                          "entries", path)


def mdat_ranges(f: File) -> list[tuple[int, int]]:
    """[start, end) of every top-level 'mdat' payload."""
    return [(b.header.body_offset, b.header.end) for b in f.boxes if b.type == "mdat" and b.header is not None]


def _placement(start: int, size: int, file_size: int, mdats: list[tuple[int, int]]) -> str | None:
    """What is wrong with media bytes [start, start+size), or None."""
    if start + size > file_size:
        return f"[{start}, {start + size}) runs past the end of the file ({file_size} bytes)"
    if size and not any(a <= start and start + size <= b for a, b in mdats):
        return f"[{start}, {start + size}) is not inside one 'mdat'"
    return None


def _self_contained(trak: Box, sdi: int) -> bool:
    """Whether a sample entry's data reference is this file (url/urn with flags & 1, or no usable dref)."""
    entries = tracks.sample_entries(trak)
    dref = trak.find("mdia/minf/dinf/dref")
    if not 1 <= sdi <= len(entries) or not parsed(dref, "children"):
        return True
    index = getattr(entries[sdi - 1], "data_reference_index", 1)
    if not 1 <= index <= len(dref.boxes):
        return True
    return bool(getattr(dref.boxes[index - 1], "flags", 1) & 1)


@check("media-in-mdat")
def _media_in_mdat(ctx: CheckContext) -> Iterator[Finding]:
    """Every chunk and every track run lies inside the file and inside an 'mdat'."""
    file_size = ctx.file.source.size if ctx.file.source is not None else len(ctx.file.to_bytes())
    mdats = mdat_ranges(ctx.file)
    for path, t in _track_paths(ctx.file):
        try:
            st = tracks.sample_table(t.trak)
            offsets, firsts, counts, descriptions = st.chunk_columns()
            sizes = st.chunk_sizes(firsts, counts)
        except BmffError:
            continue  # reported by sample-tables
        for offset, size, sdi in zip(offsets, sizes, descriptions):
            if not _self_contained(t.trak, sdi):
                continue
            problem = _placement(offset, size, file_size, mdats)
            if problem:
                yield Finding("media-in-mdat", f"{t.name}: chunk at {problem}", path)
                break  # one per track: a shifted table would otherwise report every chunk
    reported: set[int] = set()
    for run in tracks.runs(ctx.file):
        problem = _placement(run.data_start, run.data_size, file_size, mdats)
        if problem and run.track_ID not in reported:
            reported.add(run.track_ID)
            yield Finding("media-in-mdat", f"track {run.track_ID}: fragment run at {problem}",
                          f"moof@{run.moof_offset}")


@check("fragment-sequence")
def _fragment_sequence(ctx: CheckContext) -> Iterator[Finding]:
    numbers = [m.find("mfhd").sequence_number for m in ctx.file.boxes
               if m.type == "moof" and parsed(m.find("mfhd"), "sequence_number")]
    if any(b <= a for a, b in zip(numbers, numbers[1:])):
        yield Finding("fragment-sequence", f"'mfhd' sequence numbers {numbers[:8]} do not increase in file order",
                      severity="warning")
    if numbers and not ctx.file.find_all("moov/mvex"):
        yield Finding("fragment-sequence", "movie fragments without 'mvex' in 'moov'")


FRAGMENT_LOCAL_INDEX = 0x10000  # sbgp indices above this refer to the 'sgpd' of the same 'traf' (8.9.4)


def _sgpd_sizes(container: Box) -> dict[str, int]:
    """grouping_type -> entry count of the container's parsed 'sgpd' boxes."""
    return {b.grouping_type: len(b.entries) for b in container.boxes if b.type == "sgpd" and parsed(b, "entries")}


def _sbgp_findings(sbgp: Box, where: str, path: str, samples: int | None, here: dict[str, int],
                   local: dict[str, int] | None) -> Iterator[Finding]:
    """An sbgp against its descriptions: in 'stbl' (local None) or in a 'traf' (local = the traf's own)."""
    gt = sbgp.grouping_type
    if gt not in here and (local is None or gt not in local):
        yield Finding("sample-groups", f"{where}: 'sbgp' of grouping_type '{gt}' has no 'sgpd' of that type", path)
        return
    total = sum(sbgp.sample_count)
    if samples is not None and total > samples:
        yield Finding("sample-groups", f"{where}: 'sbgp' '{gt}' maps {total} samples; there are {samples}", path)
    for index in sorted(set(sbgp.group_description_index)):
        if index > FRAGMENT_LOCAL_INDEX and local is not None:
            count, what, shown = local.get(gt, 0), "this 'traf'", index - FRAGMENT_LOCAL_INDEX
        elif index > FRAGMENT_LOCAL_INDEX:
            yield Finding("sample-groups", f"{where}: 'sbgp' '{gt}' uses fragment-local index {index} outside a "
                          "movie fragment", path)
            continue
        else:
            count, what, shown = here.get(gt, 0), "the track's 'stbl'", index
        if shown > count:
            yield Finding("sample-groups", f"{where}: 'sbgp' '{gt}' refers to description {shown}; the 'sgpd' "
                          f"of {what} has {count}", path)


@check("sample-groups")
def _sample_groups(ctx: CheckContext) -> Iterator[Finding]:
    """Every sbgp has an sgpd of its grouping type, maps no more samples than exist, and refers to existing
    descriptions (fragment-local ones in its own 'traf')."""
    stbl_sgpds: dict[int | None, dict[str, int]] = {}
    for path, t in _track_paths(ctx.file):
        stbl = t.trak.find("mdia/minf/stbl")
        if not parsed(stbl, "children"):
            continue
        stbl_sgpds[t.track_ID] = here = _sgpd_sizes(stbl)
        try:
            samples = tracks.sample_count(t.trak)
        except BmffError:
            samples = None
        for sbgp in (b for b in stbl.boxes if b.type == "sbgp" and parsed(b, "sample_count")):
            yield from _sbgp_findings(sbgp, t.name, path, samples, here, None)
    for path, traf, _ in ctx.walk:
        tfhd = traf.find("tfhd") if traf.type == "traf" else None
        if not parsed(tfhd, "track_ID"):
            continue
        samples = sum(b.sample_count for b in traf.boxes if b.type == "trun" and parsed(b, "sample_count"))
        for sbgp in (b for b in traf.boxes if b.type == "sbgp" and parsed(b, "sample_count")):
            yield from _sbgp_findings(sbgp, f"track {tfhd.track_ID}", path, samples,
                                      stbl_sgpds.get(tfhd.track_ID, {}), _sgpd_sizes(traf))
