"""Movie and track structure (ISO/IEC 14496-12 §8.2–8.7, 8.10): mvhd, trak, tkhd, tref, edts, elst, mdia, mdhd,
hdlr, minf, vmhd, smhd, nmhd, sthd, dinf, dref, 'url ', 'urn ', udta.

Reserved and pre_defined runs are kept as read: QuickTime files store preview/poster times and component
fields there, and a file must write back the bytes it was read from. ('uuid' boxes need no class: the generic
UnknownBox keeps their usertype and body.)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..box import BmffError, Box, ContainerBox, Context, FullBox, Reader, Writer, parse_box, register
from ..fields import I16, I32, LONG, U16, U32, FieldList, array, verbatim
from .tables import fixed_bytes, read_columns, read_long, write_columns, write_long

UNITY_MATRIX = (0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000)


def _unity() -> list[int]:
    return list(UNITY_MATRIX)


def _write_matrix(w: Writer, matrix: list[int]) -> None:
    if len(matrix) != 9:
        raise BmffError(f"a transformation matrix has 9 values, got {len(matrix)}")
    w.array("i", list(matrix))


def _optional_cstring(r: Reader) -> str | None:
    """A NUL-terminated string, or None (bytes left for `trailing`) when the rest of the box holds no NUL."""
    return r.cstring() if b"\0" in r.source.read_at(r.pos, r.remaining()) else None


@register()
@dataclass
class MovieHeaderBox(FieldList, FullBox):
    """'mvhd'. rate is 16.16 and volume 8.8 fixed point, kept as the integers."""

    TYPE = "mvhd"
    VERSIONS = (0, 1)
    creation_time: int = 0
    modification_time: int = 0
    timescale: int = 1000
    duration: int = 0
    rate: int = 0x00010000
    volume: int = 0x0100
    reserved: bytes = bytes(10)  # bit(16) + unsigned int(32)[2]
    matrix: list[int] = field(default_factory=_unity)
    pre_defined: bytes = bytes(24)  # bit(32)[6]
    next_track_ID: int = 1
    FIELDS = (("creation_time", LONG), ("modification_time", LONG), ("timescale", U32), ("duration", LONG),
              ("rate", I32), ("volume", I16), ("reserved", verbatim(10)), ("matrix", array(I32, 9)),
              ("pre_defined", verbatim(24)), ("next_track_ID", U32))


@register()
@dataclass
class TrackBox(ContainerBox):
    TYPE = "trak"


@register()
@dataclass
class TrackHeaderBox(FieldList, FullBox):
    """'tkhd'. flags: 1 track_enabled, 2 track_in_movie, 4 track_in_preview, 8 track_size_is_aspect_ratio.
    width and height are 16.16 fixed point, kept as the integers."""

    TYPE = "tkhd"
    VERSIONS = (0, 1)
    creation_time: int = 0
    modification_time: int = 0
    track_ID: int = 1
    reserved1: int = 0  # unsigned int(32) after track_ID
    duration: int = 0
    reserved2: bytes = bytes(8)  # unsigned int(32)[2] after duration
    layer: int = 0
    alternate_group: int = 0
    volume: int = 0
    reserved3: int = 0  # unsigned int(16) after volume
    matrix: list[int] = field(default_factory=_unity)
    width: int = 0
    height: int = 0
    flags: int = field(default=3, kw_only=True)
    FIELDS = (("creation_time", LONG), ("modification_time", LONG), ("track_ID", U32), ("reserved1", U32),
              ("duration", LONG), ("reserved2", verbatim(8)), ("layer", I16), ("alternate_group", I16),
              ("volume", I16), ("reserved3", U16), ("matrix", array(I32, 9)), ("width", U32), ("height", U32))


@register()
@dataclass
class TrackReferenceBox(ContainerBox):
    """'tref': one TrackReferenceTypeBox per reference type ('hint', 'cdsc', 'chap', 'font', ...)."""

    TYPE = "tref"


@register("tref", default_in=("tref",))
@dataclass
class TrackReferenceTypeBox(Box):
    """A child of 'tref': its box type is the reference_type; track_IDs are the referenced tracks."""

    reference_type: str = "cdsc"
    track_IDs: list[int] = field(default_factory=list)

    @property
    def type(self) -> str:
        return self.reference_type

    @classmethod
    def parse_body(cls, r: Reader, ctx: Context) -> "TrackReferenceTypeBox":
        return cls(ctx.path[-1], r.array("I", r.remaining() // 4))

    def build_body(self, w: Writer) -> None:
        write_columns(w, "I", [self.track_IDs], self.reference_type)


@register()
@dataclass
class EditBox(ContainerBox):
    TYPE = "edts"


@register()
@dataclass
class EditListBox(FullBox):
    """'elst': one column per entry field; media_time -1 is an empty edit."""

    TYPE = "elst"
    VERSIONS = (0, 1)
    segment_duration: list[int] = field(default_factory=list)
    media_time: list[int] = field(default_factory=list)
    media_rate_integer: list[int] = field(default_factory=list)
    media_rate_fraction: list[int] = field(default_factory=list)

    @property
    def entry_count(self) -> int:
        return len(self.segment_duration)

    @staticmethod
    def _fmt(version: int) -> str:
        return "Qqhh" if version == 1 else "Iihh"

    @classmethod
    def parse_body(cls, r: Reader, ctx: Context) -> "EditListBox":
        return cls(*read_columns(r, cls._fmt(ctx.version), r.u32()))

    def build_body(self, w: Writer) -> None:
        w.u32(self.entry_count)
        write_columns(w, self._fmt(self.version), [self.segment_duration, self.media_time,
                                                    self.media_rate_integer, self.media_rate_fraction], "elst")


@register()
@dataclass
class MediaBox(ContainerBox):
    """'mdia': parsed child by child so that the 'hdlr' handler_type reaches the sample entries in 'minf'."""

    TYPE = "mdia"

    @classmethod
    def parse_body(cls, r: Reader, ctx: Context) -> "MediaBox":
        children: list[Box] = []
        while r.remaining() >= 8:
            child = parse_box(r, ctx)
            if isinstance(child, HandlerBox):
                ctx = dataclasses.replace(ctx, handler_type=child.handler_type)
            children.append(child)
        return cls(children=children)


def _pack_language(language: str, pad: int) -> int:
    codes = [ord(c) - 0x60 for c in language]
    if len(codes) != 3 or not all(0 <= c < 32 for c in codes) or pad not in (0, 1):
        raise BmffError(f"language {language!r} is not three characters in '`'..DEL (ISO 639-2/T packing)")
    return pad << 15 | codes[0] << 10 | codes[1] << 5 | codes[2]


def _unpack_language(packed: int) -> tuple[int, str]:
    return packed >> 15, "".join(chr(((packed >> s) & 31) + 0x60) for s in (10, 5, 0))


@register()
@dataclass
class MediaHeaderBox(FullBox):
    """'mdhd'. language is the ISO 639-2/T code; each 5-bit value maps to one character, so any 16 bits
    (QuickTime's Macintosh language codes included) come back unchanged."""

    TYPE = "mdhd"
    VERSIONS = (0, 1)
    creation_time: int = 0
    modification_time: int = 0
    timescale: int = 1000
    duration: int = 0
    pad: int = 0
    language: str = "und"
    pre_defined: int = 0

    @classmethod
    def parse_body(cls, r: Reader, ctx: Context) -> "MediaHeaderBox":
        v = ctx.version
        times = read_long(r, v), read_long(r, v), r.u32(), read_long(r, v)
        pad, language = _unpack_language(r.u16())
        return cls(*times, pad, language, r.u16())

    def build_body(self, w: Writer) -> None:
        v = self.version
        write_long(w, v, self.creation_time)
        write_long(w, v, self.modification_time)
        w.u32(self.timescale)
        write_long(w, v, self.duration)
        w.u16(_pack_language(self.language, self.pad))
        w.u16(self.pre_defined)


@register()
@dataclass
class HandlerBox(FullBox):
    """'hdlr'. name is an ISO NUL-terminated string, or QuickTime's counted string (a length byte, no NUL:
    `counted_name`), told apart by the NUL; None when the body holds neither (those bytes stay in `trailing`)."""

    TYPE = "hdlr"
    VERSIONS = (0,)
    pre_defined: int = 0
    handler_type: str = "vide"
    reserved: bytes = bytes(12)  # unsigned int(32)[3]
    name: str | None = ""
    counted_name: bool = field(default=False, kw_only=True)

    @classmethod
    def parse_body(cls, r: Reader, ctx: Context) -> "HandlerBox":
        box = cls(r.u32(), r.fourcc(), r.read(12))
        rest = r.source.read_at(r.pos, r.remaining())
        if rest and b"\0" not in rest and rest[0] == len(rest) - 1:
            r.u8()
            box.name, box.counted_name = r.rest().decode("utf-8", "surrogateescape"), True
        else:
            box.name = _optional_cstring(r)
        return box

    def build_body(self, w: Writer) -> None:
        w.u32(self.pre_defined)
        w.fourcc(self.handler_type)
        fixed_bytes(w, self.reserved, 12, "hdlr reserved")
        if self.name is None:
            return
        if self.counted_name:
            raw = self.name.encode("utf-8", "surrogateescape")
            if len(raw) > 255:
                raise BmffError(f"a counted hdlr name holds at most 255 bytes, got {len(raw)}")
            w.u8(len(raw))
            w.write(raw)
        else:
            w.cstring(self.name)


@register()
@dataclass
class MediaInformationBox(ContainerBox):
    TYPE = "minf"


@register()
@dataclass
class VideoMediaHeaderBox(FieldList, FullBox):
    TYPE = "vmhd"
    VERSIONS = (0,)
    graphicsmode: int = 0
    opcolor: list[int] = field(default_factory=lambda: [0, 0, 0])
    flags: int = field(default=1, kw_only=True)
    FIELDS = (("graphicsmode", U16), ("opcolor", array(U16, 3)))


@register()
@dataclass
class SoundMediaHeaderBox(FieldList, FullBox):
    """'smhd'. balance is 8.8 fixed point, kept as the integer."""

    TYPE = "smhd"
    VERSIONS = (0,)
    balance: int = 0
    reserved: int = 0
    FIELDS = (("balance", I16), ("reserved", U16))


@register()
@dataclass
class NullMediaHeaderBox(FullBox):
    TYPE = "nmhd"
    VERSIONS = (0,)


@register()
@dataclass
class SubtitleMediaHeaderBox(NullMediaHeaderBox):
    TYPE = "sthd"


@register()
@dataclass
class DataInformationBox(ContainerBox):
    TYPE = "dinf"


@register()
@dataclass
class DataReferenceBox(FullBox):
    """'dref': entry_count data entries ('url ', 'urn ', or others kept whole); bytes after them stay trailing."""

    TYPE = "dref"
    VERSIONS = (0,)
    children: list[Box] = field(default_factory=list)

    @property
    def entry_count(self) -> int:
        return len(self.children)

    @classmethod
    def parse_body(cls, r: Reader, ctx: Context) -> "DataReferenceBox":
        count = r.check_count(r.u32(), 8)
        return cls([parse_box(r, ctx) for _ in range(count)])

    def build_body(self, w: Writer) -> None:
        w.u32(self.entry_count)
        for child in self.children:
            w.write(child.to_bytes())


@register()
@dataclass
class DataEntryUrlBox(FullBox):
    """'url '. flags & 1: the media is in this file, and location is usually absent (None)."""

    TYPE = "url "
    VERSIONS = (0,)
    location: str | None = None
    flags: int = field(default=1, kw_only=True)

    @classmethod
    def parse_body(cls, r: Reader, ctx: Context) -> "DataEntryUrlBox":
        return cls(_optional_cstring(r))

    def build_body(self, w: Writer) -> None:
        if self.location is not None:
            w.cstring(self.location)


@register()
@dataclass
class DataEntryUrnBox(FullBox):
    TYPE = "urn "
    VERSIONS = (0,)
    name: str | None = ""
    location: str | None = None

    @classmethod
    def parse_body(cls, r: Reader, ctx: Context) -> "DataEntryUrnBox":
        name = _optional_cstring(r)
        return cls(name, None if name is None else _optional_cstring(r))

    def build_body(self, w: Writer) -> None:
        if self.name is not None:
            w.cstring(self.name)
        if self.location is not None:
            w.cstring(self.location)


@register()
@dataclass
class UserDataBox(ContainerBox):
    TYPE = "udta"
