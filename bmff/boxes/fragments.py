"""Movie fragment boxes (ISO/IEC 14496-12 §8.8, 8.16.3): mvex, mehd, trex, moof, mfhd, traf, tfhd, tfdt,
trun, mfra, tfra, mfro, and the segment index sidx.

Optional fields whose presence a box's flags decide are None when absent; writing checks that fields and
flags agree, so what is parsed is what is written.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from ..box import BmffError, ContainerBox, Context, FullBox, Reader, Writer, register
from ..fields import LONG, U32, FieldList, put_int


def _check_flagged(box: FullBox, layout: tuple[tuple[int, str], ...]) -> None:
    """Every flag-controlled field is given exactly when its flag is set."""
    for bit, name in layout:
        if (getattr(box, name) is not None) != bool(box.flags & bit):
            state = "set" if box.flags & bit else "clear"
            raise BmffError(f"{box.type} flag 0x{bit:06x} is {state} but {name} is {getattr(box, name)!r}")


@register()
@dataclass
class MovieExtendsBox(ContainerBox):
    TYPE = "mvex"


@register()
@dataclass
class MovieExtendsHeaderBox(FieldList, FullBox):
    TYPE = "mehd"
    VERSIONS = (0, 1)
    fragment_duration: int = 0
    FIELDS = (("fragment_duration", LONG),)


@register()
@dataclass
class TrackExtendsBox(FieldList, FullBox):
    TYPE = "trex"
    VERSIONS = (0,)
    track_ID: int = 0
    default_sample_description_index: int = 1
    default_sample_duration: int = 0
    default_sample_size: int = 0
    default_sample_flags: int = 0
    FIELDS = (("track_ID", U32), ("default_sample_description_index", U32), ("default_sample_duration", U32),
              ("default_sample_size", U32), ("default_sample_flags", U32))


@register()
@dataclass
class MovieFragmentBox(ContainerBox):
    TYPE = "moof"


@register()
@dataclass
class MovieFragmentHeaderBox(FieldList, FullBox):
    TYPE = "mfhd"
    VERSIONS = (0,)
    sequence_number: int = 0
    FIELDS = (("sequence_number", U32),)


@register()
@dataclass
class TrackFragmentBox(ContainerBox):
    TYPE = "traf"


# tfhd flags → (field, byte width); 0x010000 duration-is-empty and 0x020000 default-base-is-moof carry no field.
_TFHD_FIELDS = ((0x000001, "base_data_offset", 8), (0x000002, "sample_description_index", 4),
                (0x000008, "default_sample_duration", 4), (0x000010, "default_sample_size", 4),
                (0x000020, "default_sample_flags", 4))


@register()
@dataclass
class TrackFragmentHeaderBox(FullBox):
    TYPE = "tfhd"
    VERSIONS = (0,)
    track_ID: int = 0
    base_data_offset: int | None = None  # absolute file offset: the offset-fixing writer shifts it
    sample_description_index: int | None = None
    default_sample_duration: int | None = None
    default_sample_size: int | None = None
    default_sample_flags: int | None = None

    @classmethod
    def parse_body(cls, r: Reader, ctx: Context) -> "TrackFragmentHeaderBox":
        box = cls(r.u32())
        for bit, name, width in _TFHD_FIELDS:
            if ctx.flags & bit:
                setattr(box, name, r.uint(width))
        return box

    def build_body(self, w: Writer) -> None:
        _check_flagged(self, tuple((bit, name) for bit, name, _ in _TFHD_FIELDS))
        put_int(w, self.track_ID, 4, "tfhd track_ID")
        for bit, name, width in _TFHD_FIELDS:
            if self.flags & bit:
                put_int(w, getattr(self, name), width, f"tfhd {name}")


@register()
@dataclass
class TrackFragmentBaseMediaDecodeTimeBox(FieldList, FullBox):
    TYPE = "tfdt"
    VERSIONS = (0, 1)
    baseMediaDecodeTime: int = 0  # noqa: N815  (the spec's name)
    FIELDS = (("baseMediaDecodeTime", LONG),)


# trun per-sample fields in coding order: flag, field, struct code (composition offsets are signed in v1).
_TRUN_SAMPLE_FIELDS = ((0x000100, "sample_duration", "I"), (0x000200, "sample_size", "I"),
                       (0x000400, "sample_flags", "I"), (0x000800, "sample_composition_time_offset", "I"))


@register()
@dataclass
class TrackRunBox(FullBox):
    """'trun'. Per-sample fields are stored as columns (one list per field, None when its flag is clear):
    fragments hold thousands of samples and a column parses in one struct call."""

    TYPE = "trun"
    VERSIONS = (0, 1)
    sample_count: int = 0
    data_offset: int | None = None  # flag 0x000001, signed, relative to the fragment's base data offset
    first_sample_flags: int | None = None  # flag 0x000004
    sample_duration: list[int] | None = None
    sample_size: list[int] | None = None
    sample_flags: list[int] | None = None
    sample_composition_time_offset: list[int] | None = None

    def _record_format(self, flags: int, version: int) -> tuple[str, list[str]]:
        codes, names = "", []
        for bit, name, code in _TRUN_SAMPLE_FIELDS:
            if flags & bit:
                codes += "i" if name == "sample_composition_time_offset" and version == 1 else code
                names.append(name)
        return codes, names

    @classmethod
    def parse_body(cls, r: Reader, ctx: Context) -> "TrackRunBox":
        box = cls(r.u32())
        if ctx.flags & 0x000001:
            box.data_offset = r.i32()
        if ctx.flags & 0x000004:
            box.first_sample_flags = r.u32()
        codes, names = box._record_format(ctx.flags, ctx.version)
        if names:
            r.check_count(box.sample_count, 4 * len(codes))
            values = struct.unpack(f">{codes * box.sample_count}", r.read(4 * len(codes) * box.sample_count))
            for k, name in enumerate(names):
                setattr(box, name, list(values[k :: len(names)]))
        return box

    def build_body(self, w: Writer) -> None:
        _check_flagged(self, ((0x000001, "data_offset"), (0x000004, "first_sample_flags"))
                       + tuple((bit, name) for bit, name, _ in _TRUN_SAMPLE_FIELDS))
        put_int(w, self.sample_count, 4, "trun sample_count")
        if self.data_offset is not None:
            put_int(w, self.data_offset, 4, "trun data_offset", signed=True)
        if self.first_sample_flags is not None:
            put_int(w, self.first_sample_flags, 4, "trun first_sample_flags")
        codes, names = self._record_format(self.flags, self.version)
        columns = [getattr(self, name) for name in names]
        for name, column in zip(names, columns):
            if len(column) != self.sample_count:
                raise BmffError(f"trun {name} has {len(column)} values for sample_count {self.sample_count}")
        try:
            w.write(struct.pack(f">{codes * self.sample_count}", *(v for row in zip(*columns) for v in row)))
        except struct.error as e:
            raise BmffError(f"trun sample value out of range: {e}") from None


@dataclass
class SegmentIndexReference:
    reference_type: int = 0  # 1 bit: 1 → the reference points at another sidx
    referenced_size: int = 0  # 31 bits
    subsegment_duration: int = 0
    starts_with_SAP: int = 0  # noqa: N815  1 bit
    SAP_type: int = 0  # noqa: N815  3 bits
    SAP_delta_time: int = 0  # noqa: N815  28 bits


@register()
@dataclass
class SegmentIndexBox(FullBox):
    """'sidx': earliest_presentation_time and first_offset are u32 in version 0, u64 in version 1."""

    TYPE = "sidx"
    VERSIONS = (0, 1)
    reference_ID: int = 0
    timescale: int = 0
    earliest_presentation_time: int = 0
    first_offset: int = 0
    reserved: int = 0  # u16 before reference_count
    references: list[SegmentIndexReference] = field(default_factory=list)

    @classmethod
    def parse_body(cls, r: Reader, ctx: Context) -> "SegmentIndexBox":
        wide = 8 if ctx.version == 1 else 4
        box = cls(r.u32(), r.u32(), r.uint(wide), r.uint(wide), r.u16())
        count = r.u16()
        words = r.array("I", count * 3) if r.check_count(count, 12) else []
        for a, duration, c in zip(words[0::3], words[1::3], words[2::3]):
            box.references.append(SegmentIndexReference(a >> 31, a & 0x7FFFFFFF, duration, c >> 31, c >> 28 & 7,
                                                        c & 0x0FFFFFFF))
        return box

    def build_body(self, w: Writer) -> None:
        wide = 8 if self.version == 1 else 4
        put_int(w, self.reference_ID, 4, "sidx reference_ID")
        put_int(w, self.timescale, 4, "sidx timescale")
        put_int(w, self.earliest_presentation_time, wide, "sidx earliest_presentation_time")
        put_int(w, self.first_offset, wide, "sidx first_offset")
        put_int(w, self.reserved, 2, "sidx reserved")
        put_int(w, len(self.references), 2, "sidx reference_count")
        for ref in self.references:
            for value, bits, name in ((ref.reference_type, 1, "reference_type"),
                                      (ref.referenced_size, 31, "referenced_size"),
                                      (ref.starts_with_SAP, 1, "starts_with_SAP"), (ref.SAP_type, 3, "SAP_type"),
                                      (ref.SAP_delta_time, 28, "SAP_delta_time")):
                if not 0 <= value < 1 << bits:
                    raise BmffError(f"sidx {name} = {value} does not fit in {bits} bits")
            put_int(w, ref.reference_type << 31 | ref.referenced_size, 4, "sidx reference")
            put_int(w, ref.subsegment_duration, 4, "sidx subsegment_duration")
            put_int(w, ref.starts_with_SAP << 31 | ref.SAP_type << 28 | ref.SAP_delta_time, 4, "sidx SAP")


@register()
@dataclass
class MovieFragmentRandomAccessBox(ContainerBox):
    TYPE = "mfra"


@dataclass
class TrackFragmentRandomAccessEntry:
    time: int = 0
    moof_offset: int = 0  # absolute file offset of the 'moof': the offset-fixing writer shifts it
    traf_number: int = 1
    trun_number: int = 1
    sample_number: int = 1


@register()
@dataclass
class TrackFragmentRandomAccessBox(FullBox):
    """'tfra': time/moof_offset u32 (v0) or u64 (v1); traf/trun/sample numbers 1..4 bytes each."""

    TYPE = "tfra"
    VERSIONS = (0, 1)
    track_ID: int = 0
    length_size_of_traf_num: int = 0  # coded size minus one, 2 bits
    length_size_of_trun_num: int = 0
    length_size_of_sample_num: int = 0
    reserved: int = 0  # the 26 bits before the sizes
    entries: list[TrackFragmentRandomAccessEntry] = field(default_factory=list)

    def _widths(self) -> tuple[int, int, int, int]:
        return (8 if self.version == 1 else 4, self.length_size_of_traf_num + 1, self.length_size_of_trun_num + 1,
                self.length_size_of_sample_num + 1)

    @classmethod
    def parse_body(cls, r: Reader, ctx: Context) -> "TrackFragmentRandomAccessBox":
        track_ID, word = r.u32(), r.u32()
        box = cls(track_ID, word >> 4 & 3, word >> 2 & 3, word & 3, word >> 6, version=ctx.version)
        wide, traf, trun, sample = box._widths()
        count = r.check_count(r.u32(), 2 * wide + traf + trun + sample)
        box.entries = [TrackFragmentRandomAccessEntry(r.uint(wide), r.uint(wide), r.uint(traf), r.uint(trun),
                                                      r.uint(sample)) for _ in range(count)]
        return box

    def build_body(self, w: Writer) -> None:
        wide, traf, trun, sample = self._widths()
        for size in (self.length_size_of_traf_num, self.length_size_of_trun_num, self.length_size_of_sample_num):
            if not 0 <= size <= 3:
                raise BmffError(f"tfra length_size_of_* = {size} is not 0..3")
        put_int(w, self.track_ID, 4, "tfra track_ID")
        put_int(w, self.reserved << 6 | self.length_size_of_traf_num << 4 | self.length_size_of_trun_num << 2
                 | self.length_size_of_sample_num, 4, "tfra reserved")
        put_int(w, len(self.entries), 4, "tfra number_of_entry")
        for e in self.entries:
            put_int(w, e.time, wide, "tfra time")
            put_int(w, e.moof_offset, wide, "tfra moof_offset")
            put_int(w, e.traf_number, traf, "tfra traf_number")
            put_int(w, e.trun_number, trun, "tfra trun_number")
            put_int(w, e.sample_number, sample, "tfra sample_number")


@register()
@dataclass
class MovieFragmentRandomAccessOffsetBox(FieldList, FullBox):
    """'mfro': the size of the enclosing 'mfra', so a reader can find it from the end of the file."""

    TYPE = "mfro"
    VERSIONS = (0,)
    size: int = 0
    FIELDS = (("size", U32),)
