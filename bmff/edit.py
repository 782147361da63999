"""Editing a parsed file: add or remove boxes, and write it back with every file offset fixed.

Chunk offsets (stco/co64), iloc extents stored at file offsets (construction_method 0), tfhd base_data_offset
and tfra moof_offset point at absolute byte positions; trun data_offset and the sidx sizes are distances
between positions. When a box grows, shrinks or moves (a bigger 'moov', a new 'meta', a sample group added
to a 'traf', 'moov' moved before 'mdat'), each must follow the top-level box its position lies in.

Offsets anywhere in the tree are read in the coordinates of the top-level boxes' headers: the file as parsed
(or as last fixed). `fix_offsets` moves every one to the new layout, widening fields that no longer fit
(stco → co64, iloc offset sizes, tfra/sidx version 1), then re-bases the top-level headers so a second call
is a no-op. Positions are resolved per top-level box: an offset into a nested box that itself moves inside
its parent (e.g. into an 'idat' behind a grown 'iinf') follows its top-level box, not the nested one.
"""

from __future__ import annotations

import bisect
import dataclasses
import os
import secrets
import stat
from dataclasses import dataclass
from typing import Iterator

from .box import BmffError, Box, Payload, UnknownBox, lookup
from .boxes.fragments import (
    MovieFragmentRandomAccessBox,
    MovieFragmentRandomAccessOffsetBox,
    SegmentIndexBox,
    TrackFragmentHeaderBox,
    TrackFragmentRandomAccessBox,
    TrackRunBox,
)
from .boxes.meta import ItemLocationBox
from .io import File

_U32 = 1 << 32


# --------------------------------------------------------------------------------------------- add / remove


def children_of(parent: Box | File) -> list[Box]:
    """The live list of child boxes of a container box or of a File (its top-level boxes)."""
    if isinstance(parent, File):
        return parent.boxes
    kids = getattr(parent, "children", None)
    if not isinstance(kids, list):
        raise BmffError(f"box '{parent.type}' cannot hold child boxes")
    return kids


def add_box(parent: Box | File, box: Box, index: int | None = None) -> Box:
    """Insert `box` into parent's children (at the end by default); returns it for chaining."""
    kids = children_of(parent)
    kids.insert(len(kids) if index is None else index, box)
    return box


def remove_box(parent: Box | File, box: Box) -> None:
    """Remove this very box (by identity, not equality: two equal 'free' boxes are different boxes)."""
    kids = children_of(parent)
    for i, kid in enumerate(kids):
        if kid is box:
            del kids[i]
            return
    raise BmffError(f"box '{box.type}' is not a child of '{getattr(parent, 'type', 'file')}'")


# --------------------------------------------------------------------------------------------- layout


def box_size(box: Box) -> int:
    """Serialized size of a box; lazy payloads are measured, never read."""
    data = getattr(box, "data", None)
    if isinstance(data, Payload) and not box.trailing:
        return len(box.to_header()) + data.size
    return len(box.to_bytes())


@dataclass(frozen=True)
class Layout:
    """Where each top-level box that has a header was ([start, end) as its header says, sorted by start) and
    how far it moves; boxes may be reordered (moov moved before mdat) as well as resized."""

    moves: tuple[tuple[int, int, int], ...]

    @classmethod
    def of(cls, file: File) -> "Layout":
        pos, moves = 0, []
        for b in file.boxes:
            if b.header is not None:
                moves.append((b.header.offset, b.header.end, pos - b.header.offset))
            pos += box_size(b)
        return cls(tuple(sorted(moves)))

    def map(self, offset: int, what: str) -> int:
        """The new position of an old absolute offset; the end of a box counts as inside it (empty extents)."""
        k = bisect.bisect_right(self.moves, (offset, float("inf"))) - 1  # the last box starting at or before
        if k >= 0 and offset <= self.moves[k][1]:  # at its end only when no box starts there
            return offset + self.moves[k][2]
        raise BmffError(f"{what} points at byte {offset}, which is in no box still in the file")


# --------------------------------------------------------------------------------------------- pointers


def _walk(boxes: list[Box], parent_type: str | None = None) -> Iterator[tuple[Box, list[Box], str | None]]:
    """Every box with the live list that holds it (so a box can be replaced in place) and its parent's type."""
    for b in boxes:
        yield b, boxes, parent_type
        kids = getattr(b, "children", None)
        if isinstance(kids, list):
            yield from _walk(kids, b.type)


def _width(value: int, size: int) -> int:
    """A field size (bytes) able to hold value: the current one if it fits, else 4 or 8."""
    if value < 1 << (8 * size):
        return size
    return 4 if value < _U32 else 8


class _ChunkOffsets:
    def __init__(self, box: Box, siblings: list[Box], parent_type: str | None):
        self.box, self.siblings, self.parent_type = box, siblings, parent_type
        self.original = list(box.chunk_offset)

    def apply(self, layout: Layout) -> None:
        new = [layout.map(o, f"'{self.box.type}' chunk offset") for o in self.original]
        if self.box.type == "stco" and new and max(new) >= _U32:
            self._widen()
        self.box.chunk_offset = new

    def _widen(self) -> None:
        """stco holds u32 offsets: past 4 GiB the table becomes a co64 in the same place."""
        cls = lookup("co64", self.parent_type)
        if cls is UnknownBox:
            raise BmffError("no 'co64' box class is registered to widen 'stco'")
        co64 = cls(chunk_offset=[], version=self.box.version, flags=self.box.flags)
        index = next(i for i, b in enumerate(self.siblings) if b is self.box)
        self.siblings[index] = self.box = co64


class _ItemLocations:
    """Items at file offsets in this file (construction_method 0, data_reference_index 0)."""

    def __init__(self, box: ItemLocationBox):
        self.box = box
        self.original = [(item, item.base_offset, [e.extent_offset for e in item.extents]) for item in box.items
                         if item.construction_method == 0 and item.data_reference_index == 0 and item.extents]

    def apply(self, layout: Layout) -> None:
        iloc = self.box
        for item, base, offsets in self.original:
            new_abs = [layout.map(base + o, f"iloc item {item.item_ID}") for o in offsets]
            deltas = {n - (base + o) for n, o in zip(new_abs, offsets)}
            if iloc.base_offset_size and len(deltas) == 1 and base + min(deltas) >= 0:
                item.base_offset = base + deltas.pop()  # one shift: move the base, keep relative extents
                for e, o in zip(item.extents, offsets):
                    e.extent_offset = o
            else:
                item.base_offset = 0
                for e, n in zip(item.extents, new_abs):
                    e.extent_offset = n
            iloc.base_offset_size = _width(item.base_offset, iloc.base_offset_size)
            for e in item.extents:
                iloc.offset_size = _width(e.extent_offset, iloc.offset_size)


class _BaseDataOffset:
    def __init__(self, box: TrackFragmentHeaderBox):
        self.box, self.original = box, box.base_data_offset

    def apply(self, layout: Layout) -> None:
        self.box.base_data_offset = layout.map(self.original, "tfhd base_data_offset")


class _MoofOffsets:
    def __init__(self, box: TrackFragmentRandomAccessBox):
        self.box, self.original = box, [e.moof_offset for e in box.entries]

    def apply(self, layout: Layout) -> None:
        for e, o in zip(self.box.entries, self.original):
            e.moof_offset = layout.map(o, "tfra moof_offset")
            if e.moof_offset >= _U32:
                self.box.version = 1


class _RunDataOffsets:
    """trun data_offset counts from a base (tfhd base_data_offset, or the start of the moof): when the bytes
    between base and data change size (a grown 'moof'), the distance changes too."""

    def __init__(self, base: int, truns: list[TrackRunBox]):
        self.base, self.truns = base, truns
        self.original = [t.data_offset for t in truns]

    def apply(self, layout: Layout) -> None:
        new_base = layout.map(self.base, "trun base offset")
        for trun, offset in zip(self.truns, self.original):
            trun.data_offset = layout.map(self.base + offset, "trun data_offset") - new_base


class _SegmentIndex:
    """sidx sizes and first_offset are distances between top-level boxes: recomputed from the mapped ends of each
    referenced range, so growing a 'moof' it indexes keeps the index true."""

    def __init__(self, sidx: SegmentIndexBox):
        self.sidx, self.anchor = sidx, sidx.header.end
        start = self.anchor + sidx.first_offset
        self.bounds = [start]
        for ref in sidx.references:
            self.bounds.append(self.bounds[-1] + ref.referenced_size)

    def apply(self, layout: Layout) -> None:
        try:
            new = [layout.map(b, "sidx reference") for b in self.bounds]
        except BmffError:
            return  # an index that already pointed past the file is left as it was: players can do without it
        self.sidx.first_offset = new[0] - layout.map(self.anchor, "sidx")
        for ref, a, b in zip(self.sidx.references, new, new[1:]):
            ref.referenced_size = b - a
        if self.sidx.first_offset >= _U32:
            self.sidx.version = 1


class _MfraSize:
    """mfro repeats the size of its mfra, which widened tfra tables change."""

    def __init__(self, mfra: MovieFragmentRandomAccessBox, mfro: MovieFragmentRandomAccessOffsetBox):
        self.mfra, self.mfro = mfra, mfro

    def apply(self, layout: Layout) -> None:
        self.mfro.size = len(self.mfra.to_bytes())


def _pointers(file: File) -> list:
    """Every absolute offset in the tree, with its value as it is now (the old coordinates)."""
    out = []
    for box, siblings, parent_type in _walk(file.boxes):
        if box.type in ("stco", "co64") and hasattr(box, "chunk_offset"):
            out.append(_ChunkOffsets(box, siblings, parent_type))
        elif isinstance(box, ItemLocationBox):
            out.append(_ItemLocations(box))
        elif isinstance(box, TrackFragmentHeaderBox) and box.base_data_offset is not None:
            out.append(_BaseDataOffset(box))
        elif isinstance(box, TrackFragmentRandomAccessBox):
            out.append(_MoofOffsets(box))
    for box in file.boxes:
        if box.type == "moof" and box.header is not None:
            out += [_RunDataOffsets(base, truns) for base, truns in _runs_with_known_base(box)]
        elif isinstance(box, SegmentIndexBox) and box.header is not None:
            out.append(_SegmentIndex(box))
    for box, _, _ in _walk(file.boxes):  # after the tfra tables, whose widening changes mfra's size
        if isinstance(box, MovieFragmentRandomAccessBox):
            out += [_MfraSize(box, c) for c in box.children if isinstance(c, MovieFragmentRandomAccessOffsetBox)]
    return out


def _runs_with_known_base(moof: Box) -> Iterator[tuple[int, list[TrackRunBox]]]:
    """Per traf: its base offset and its truns that carry a data_offset. A traf with no base_data_offset that
    is neither default-base-is-moof nor the first continues after the previous traf's data: skipped, as its
    runs move with that data."""
    for k, traf in enumerate(c for c in moof.children if c.type == "traf"):
        tfhd = next((c for c in traf.children if isinstance(c, TrackFragmentHeaderBox)), None)
        if tfhd is None:
            continue
        if tfhd.base_data_offset is not None:
            base = tfhd.base_data_offset
        elif tfhd.flags & 0x020000 or k == 0:
            base = moof.header.offset
        else:
            continue
        yield base, [t for t in traf.children if isinstance(t, TrackRunBox) and t.data_offset is not None]


# --------------------------------------------------------------------------------------------- fixing


MAX_ROUNDS = 8  # widening a field grows its box, which can move later boxes again; this settles in 2-3 rounds


class _Unmoved:
    """The layout in which nothing moved: applying it puts every offset back to its value as read."""

    @staticmethod
    def map(offset: int, what: str) -> int:
        return offset


def fix_offsets(file: File) -> File:
    """Move every absolute offset in `file` to the layout it will be written in (in place; returns file).

    On a BmffError every offset is put back as it was read (a table already widened to co64 stays widened).
    """
    pointers = _pointers(file)
    layout = Layout.of(file)
    try:
        for _ in range(MAX_ROUNDS):
            for p in pointers:
                p.apply(layout)
            settled = Layout.of(file)
            if settled == layout:
                break
            layout = settled
        else:
            raise BmffError(f"offsets did not settle after {MAX_ROUNDS} rounds")
    except BmffError:
        for p in pointers:
            p.apply(_Unmoved)
        raise
    _rebase(file)
    return file


def _rebase(file: File) -> None:
    """Make the top-level headers describe the new layout, so offsets are now read in new coordinates."""
    pos = 0
    for b in file.boxes:
        size = box_size(b)
        if b.header is not None:
            b.header = dataclasses.replace(b.header, offset=pos, size=size,
                                           header_size=len(b.to_header(size - b.header.header_size)))
        pos += size


def write_with_fixed_offsets(file: File, path: str | os.PathLike) -> None:
    """Fix every offset, then write atomically (a temporary file renamed over `path`, which may be the file
    being read: its payloads stay readable from the old inode until the rename). The result has the mode of
    the file it replaces, or for a new file what open() gives (0666 less the umask)."""
    fix_offsets(file)
    fd, tmp = _temporary_beside(path)
    try:
        with os.fdopen(fd, "wb") as fp:
            try:
                os.fchmod(fp.fileno(), stat.S_IMODE(os.stat(path).st_mode))
            except FileNotFoundError:
                pass  # a new file: the umask default it was created with
            for chunk in file.chunks():
                fp.write(chunk)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _temporary_beside(path: str | os.PathLike) -> tuple[int, str]:
    """A new file in path's folder, created 0666 so the umask applies as to any new file (mkstemp makes 0600)."""
    folder = os.path.dirname(os.path.abspath(path))
    while True:
        tmp = os.path.join(folder, f".bmff-{secrets.token_hex(8)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:
            continue
