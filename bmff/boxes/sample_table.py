"""Sample tables (ISO/IEC 14496-12 §8.5–8.7, 8.6.4, 12.1, 12.2): stbl, stsd and its sample entries, stts, ctts,
stsc, stsz, stz2, stco, co64, stss, sdtp; and SampleTable, a read view resolving every sample's file offset,
size, sync flag and sample description.

Sample entries: 'stsd' parses any child 4CC with SampleEntry, which picks the layout from the format (tables
below, extensible) or, for formats it does not know, from the track's handler_type ('vide' → visual,
'soun' → audio); anything else keeps its body after data_reference_index as `trailing` bytes.
"""

from __future__ import annotations

import bisect
import itertools
import operator
from array import array
from dataclasses import dataclass, field
from typing import ClassVar, Iterator

from ..box import (
    BmffError,
    Box,
    ContainerBox,
    Context,
    FullBox,
    Reader,
    Writer,
    build_boxes,
    parse_box,
    parse_boxes,
    register,
)
from ..fields import U32, FieldList
from .tables import fixed_bytes, read_columns, write_columns

VISUAL_FORMATS = {"avc1", "avc2", "avc3", "avc4", "hvc1", "hev1", "hvc2", "hev2", "vvc1", "vvi1", "resv", "encv",
                  "mp4v", "av01", "vp08", "vp09", "dvh1", "dvhe", "s263", "mjp2"}
AUDIO_FORMATS = {"mp4a", "enca", "ac-3", "ec-3", "ac-4", "Opus", "fLaC", "alac", "samr", "sawb", "mha1", "mhm1",
                 "ipcm", "fpcm", "lpcm", "twos", "sowt", "in24", "in32", "fl32", "fl64", "ulaw", "alaw"}


@register()
@dataclass
class SampleTableBox(ContainerBox):
    TYPE = "stbl"


@register()
@dataclass
class SampleDescriptionBox(FullBox):
    """'stsd': entry_count sample entries. Version 1 allows AudioSampleEntryV1; entries see it as ctx.version."""

    TYPE = "stsd"
    VERSIONS = (0, 1)
    children: list[Box] = field(default_factory=list)

    @property
    def entry_count(self) -> int:
        return len(self.children)

    @classmethod
    def parse_body(cls, r: Reader, ctx: Context) -> "SampleDescriptionBox":
        count = r.check_count(r.u32(), 8)
        return cls([parse_box(r, ctx) for _ in range(count)])

    def build_body(self, w: Writer) -> None:
        w.u32(self.entry_count)
        build_boxes(w, self.children)


# --------------------------------------------------------------------------------------------- sample entries


def entry_class(fmt: str, handler_type: str | None) -> type["SampleEntry"]:
    """The layout for a sample entry format: by the format tables, else by the track's handler."""
    if fmt in VISUAL_FORMATS:
        return VisualSampleEntry
    if fmt in AUDIO_FORMATS:
        return AudioSampleEntry
    return {"vide": VisualSampleEntry, "soun": AudioSampleEntry}.get(handler_type or "", SampleEntry)


@register("stsd", default_in=("stsd",))
@dataclass
class SampleEntry(Box):
    """Base of every sample entry, and the entry of a format without a known layout (its body after
    data_reference_index stays `trailing`). `format` is the entry's 4CC (the box type)."""

    format: str = "    "
    reserved: bytes = bytes(6)
    data_reference_index: int = 1

    @property
    def type(self) -> str:
        return self.format

    @classmethod
    def parse_body(cls, r: Reader, ctx: Context) -> "SampleEntry":
        fmt = ctx.path[-1]
        if cls is not SampleEntry:
            return cls._parse_entry(r, ctx, fmt)
        kind = entry_class(fmt, ctx.handler_type)
        if kind is SampleEntry or fmt in VISUAL_FORMATS or fmt in AUDIO_FORMATS:
            return kind._parse_entry(r, ctx, fmt)
        start = r.pos
        try:
            return kind._parse_entry(r, ctx, fmt)
        except BmffError:  # the handler only suggested this layout: fall back to keeping the bytes
            r.pos = start
            return SampleEntry._parse_entry(r, ctx, fmt)

    @classmethod
    def _parse_entry(cls, r: Reader, ctx: Context, fmt: str) -> "SampleEntry":
        head = {"format": fmt, "reserved": r.read(6), "data_reference_index": r.u16()}
        return cls(**head, **cls.parse_fields(r, ctx))

    def build_body(self, w: Writer) -> None:
        fixed_bytes(w, self.reserved, 6, "sample entry reserved")
        w.u16(self.data_reference_index)
        self.build_fields(w)

    @classmethod
    def parse_fields(cls, r: Reader, ctx: Context) -> dict:
        return {}

    def build_fields(self, w: Writer) -> None:
        pass


@dataclass
class VisualSampleEntry(SampleEntry):
    """Visual layout (avc1, hvc1, vvc1, resv, ...). Codec configuration (avcC/hvcC/vvcC), pasp, colr, btrt,
    rinf, seii, ... are `children`. width/height are integers; the resolutions 16.16 as integers."""

    format: str = "avc1"
    pre_defined1: bytes = bytes(16)  # pre_defined u16, reserved u16, pre_defined u32[3] (QuickTime: vendor etc.)
    width: int = 0
    height: int = 0
    horizresolution: int = 0x00480000
    vertresolution: int = 0x00480000
    reserved1: int = 0  # u32 after vertresolution
    frame_count: int = 1
    compressorname: bytes = bytes(32)  # string[32]: a length byte then the name, zero padded
    depth: int = 0x0018
    pre_defined2: int = -1
    children: list[Box] = field(default_factory=list)

    @property
    def compressor_name(self) -> str:
        length = min(self.compressorname[0], 31) if self.compressorname else 0
        return self.compressorname[1 : 1 + length].decode("utf-8", "replace")

    @classmethod
    def parse_fields(cls, r: Reader, ctx: Context) -> dict:
        fields = dict(pre_defined1=r.read(16), width=r.u16(), height=r.u16(), horizresolution=r.u32(),
                      vertresolution=r.u32(), reserved1=r.u32(), frame_count=r.u16(), compressorname=r.read(32),
                      depth=r.u16(), pre_defined2=r.i16())
        return fields | {"children": parse_boxes(r, ctx)}

    def build_fields(self, w: Writer) -> None:
        fixed_bytes(w, self.pre_defined1, 16, "VisualSampleEntry pre_defined")
        w.u16(self.width)
        w.u16(self.height)
        w.u32(self.horizresolution)
        w.u32(self.vertresolution)
        w.u32(self.reserved1)
        w.u16(self.frame_count)
        fixed_bytes(w, self.compressorname, 32, "compressorname")
        w.u16(self.depth)
        w.i16(self.pre_defined2)
        build_boxes(w, self.children)


# QuickTime sound description versions 1 and 2 append fixed fields (in an 'stsd' of version 0).
QT_SOUND_EXTENSION = {1: 16, 2: 36}


@dataclass
class AudioSampleEntry(SampleEntry):
    """Audio layout (mp4a, ...). entry_version is 0, or 1 for AudioSampleEntryV1 ('stsd' version 1); in an
    'stsd' of version 0, versions 1 and 2 are QuickTime sound descriptions whose extra fields stay in
    qt_extension. samplerate is 16.16 as the integer. 'esds' and other boxes are `children`."""

    format: str = "mp4a"
    entry_version: int = 0
    reserved1: bytes = bytes(6)  # u16[3] (QuickTime: revision level, vendor)
    channelcount: int = 2
    samplesize: int = 16
    pre_defined: int = 0
    reserved2: int = 0
    samplerate: int = 0
    qt_extension: bytes = b""
    children: list[Box] = field(default_factory=list)

    @classmethod
    def parse_fields(cls, r: Reader, ctx: Context) -> dict:
        fields = dict(entry_version=r.u16(), reserved1=r.read(6), channelcount=r.u16(), samplesize=r.u16(),
                      pre_defined=r.u16(), reserved2=r.u16(), samplerate=r.u32())
        if ctx.version == 0:
            fields["qt_extension"] = r.read(QT_SOUND_EXTENSION.get(fields["entry_version"], 0))
        return fields | {"children": parse_boxes(r, ctx)}

    def build_fields(self, w: Writer) -> None:
        w.u16(self.entry_version)
        fixed_bytes(w, self.reserved1, 6, "AudioSampleEntry reserved")
        w.u16(self.channelcount)
        w.u16(self.samplesize)
        w.u16(self.pre_defined)
        w.u16(self.reserved2)
        w.u32(self.samplerate)
        w.write(bytes(self.qt_extension))
        build_boxes(w, self.children)


# --------------------------------------------------------------------------------------------- entry children


@dataclass
class _RecordBody:
    """A decoder configuration record kept as bytes; NAL unit length size read from it on demand."""

    data: bytes = b""
    LENGTH_SIZE_AT: ClassVar[tuple[int, int] | None] = None  # (byte index, shift) of lengthSizeMinusOne

    @classmethod
    def parse_body(cls, r: Reader, ctx: Context):
        return cls(r.rest())

    def build_body(self, w: Writer) -> None:
        w.write(bytes(self.data))

    @property
    def length_size(self) -> int:
        """Bytes of the length prefix before each NAL unit in this track's samples."""
        if self.LENGTH_SIZE_AT is None:
            raise BmffError(f"'{self.TYPE}' does not configure NAL unit lengths")
        index, shift = self.LENGTH_SIZE_AT
        if len(self.data) <= index:
            raise BmffError(f"'{self.TYPE}' record of {len(self.data)} bytes has no lengthSizeMinusOne")
        return ((self.data[index] >> shift) & 3) + 1


@register()
@dataclass
class AVCConfigurationBox(_RecordBody, Box):
    TYPE = "avcC"
    LENGTH_SIZE_AT = (4, 0)


@register()
@dataclass
class HEVCConfigurationBox(_RecordBody, Box):
    TYPE = "hvcC"
    LENGTH_SIZE_AT = (21, 0)


@register()
@dataclass
class VvcConfigurationBox(_RecordBody, FullBox):
    TYPE = "vvcC"
    LENGTH_SIZE_AT = (0, 1)  # reserved '11111'b, LengthSizeMinusOne u(2), ptl_present_flag u(1)


@register()
@dataclass
class ESDBox(_RecordBody, FullBox):
    """'esds': the MPEG-4 ES_Descriptor, kept as bytes."""

    TYPE = "esds"


@register()
@dataclass
class PixelAspectRatioBox(FieldList, Box):
    TYPE = "pasp"
    hSpacing: int = 1
    vSpacing: int = 1
    FIELDS = (("hSpacing", U32), ("vSpacing", U32))


@register()
@dataclass
class BitRateBox(FieldList, Box):
    TYPE = "btrt"
    bufferSizeDB: int = 0
    maxBitrate: int = 0
    avgBitrate: int = 0
    FIELDS = (("bufferSizeDB", U32), ("maxBitrate", U32), ("avgBitrate", U32))


@register()
@dataclass
class CleanApertureBox(FieldList, Box):
    TYPE = "clap"
    cleanApertureWidthN: int = 0
    cleanApertureWidthD: int = 1
    cleanApertureHeightN: int = 0
    cleanApertureHeightD: int = 1
    horizOffN: int = 0
    horizOffD: int = 1
    vertOffN: int = 0
    vertOffD: int = 1
    FIELDS = tuple((name, U32) for name in ("cleanApertureWidthN", "cleanApertureWidthD", "cleanApertureHeightN",
                                            "cleanApertureHeightD", "horizOffN", "horizOffD", "vertOffN", "vertOffD"))


@register()
@dataclass
class ColourInformationBox(Box):
    """'colr': 'nclx' (with full_range_flag), QuickTime 'nclc' (without), or an ICC profile ('rICC', 'prof').
    Other colour types keep their body as `trailing`."""

    TYPE = "colr"
    colour_type: str = "nclx"
    colour_primaries: int = 2
    transfer_characteristics: int = 2
    matrix_coefficients: int = 2
    full_range_flag: int = 0
    reserved: int = 0  # the 7 bits after full_range_flag
    ICC_profile: bytes = b""

    @classmethod
    def parse_body(cls, r: Reader, ctx: Context) -> "ColourInformationBox":
        box = cls(r.fourcc())
        if box.colour_type in ("nclx", "nclc"):
            box.colour_primaries, box.transfer_characteristics, box.matrix_coefficients = r.array("H", 3)
            if box.colour_type == "nclx":
                flags = r.u8()
                box.full_range_flag, box.reserved = flags >> 7, flags & 0x7F
        elif box.colour_type in ("rICC", "prof"):
            box.ICC_profile = r.rest()
        return box

    def build_body(self, w: Writer) -> None:
        w.fourcc(self.colour_type)
        if self.colour_type in ("nclx", "nclc"):
            w.array("H", [self.colour_primaries, self.transfer_characteristics, self.matrix_coefficients])
            if self.colour_type == "nclx":
                w.u8(self.full_range_flag << 7 | self.reserved)
        elif self.colour_type in ("rICC", "prof"):
            w.write(bytes(self.ICC_profile))


# --------------------------------------------------------------------------------------------- tables


@register()
@dataclass
class TimeToSampleBox(FullBox):
    """'stts': runs of sample_count samples each lasting sample_delta (media timescale units)."""

    TYPE = "stts"
    VERSIONS = (0,)
    sample_count: list[int] = field(default_factory=list)
    sample_delta: list[int] = field(default_factory=list)

    @property
    def entry_count(self) -> int:
        return len(self.sample_count)

    @classmethod
    def parse_body(cls, r: Reader, ctx: Context) -> "TimeToSampleBox":
        return cls(*read_columns(r, "II", r.u32()))

    def build_body(self, w: Writer) -> None:
        w.u32(self.entry_count)
        write_columns(w, "II", [self.sample_count, self.sample_delta], self.TYPE)


@register()
@dataclass
class CompositionOffsetBox(FullBox):
    """'ctts': sample_offset is unsigned in version 0 and signed in version 1."""

    TYPE = "ctts"
    VERSIONS = (0, 1)
    sample_count: list[int] = field(default_factory=list)
    sample_offset: list[int] = field(default_factory=list)

    @property
    def entry_count(self) -> int:
        return len(self.sample_count)

    @classmethod
    def parse_body(cls, r: Reader, ctx: Context) -> "CompositionOffsetBox":
        return cls(*read_columns(r, "Ii" if ctx.version else "II", r.u32()))

    def build_body(self, w: Writer) -> None:
        w.u32(self.entry_count)
        write_columns(w, "Ii" if self.version else "II", [self.sample_count, self.sample_offset], self.TYPE)


@register()
@dataclass
class SampleToChunkBox(FullBox):
    """'stsc': from first_chunk (1-based) on, each chunk holds samples_per_chunk samples of one description."""

    TYPE = "stsc"
    VERSIONS = (0,)
    first_chunk: list[int] = field(default_factory=list)
    samples_per_chunk: list[int] = field(default_factory=list)
    sample_description_index: list[int] = field(default_factory=list)

    @property
    def entry_count(self) -> int:
        return len(self.first_chunk)

    @classmethod
    def parse_body(cls, r: Reader, ctx: Context) -> "SampleToChunkBox":
        return cls(*read_columns(r, "III", r.u32()))

    def build_body(self, w: Writer) -> None:
        w.u32(self.entry_count)
        write_columns(w, "III", [self.first_chunk, self.samples_per_chunk, self.sample_description_index],
                      self.TYPE)


@register()
@dataclass
class SampleSizeBox(FullBox):
    """'stsz': one sample_size for all samples, or (sample_size 0) an entry_size per sample."""

    TYPE = "stsz"
    VERSIONS = (0,)
    sample_size: int = 0
    sample_count: int = 0
    entry_size: list[int] = field(default_factory=list)

    @classmethod
    def parse_body(cls, r: Reader, ctx: Context) -> "SampleSizeBox":
        size, count = r.u32(), r.u32()
        return cls(size, count, [] if size else r.array("I", count))

    def build_body(self, w: Writer) -> None:
        w.u32(self.sample_size)
        if self.sample_size:
            w.u32(self.sample_count)
        else:
            w.u32(len(self.entry_size))
            w.array("I", self.entry_size)


@register()
@dataclass
class CompactSampleSizeBox(FullBox):
    """'stz2': entry_size packed in field_size bits (4, 8 or 16); 4-bit pairs put the first sample high."""

    TYPE = "stz2"
    VERSIONS = (0,)
    reserved: int = 0  # u24
    field_size: int = 8
    entry_size: list[int] = field(default_factory=list)

    @property
    def sample_count(self) -> int:
        return len(self.entry_size)

    @classmethod
    def parse_body(cls, r: Reader, ctx: Context) -> "CompactSampleSizeBox":
        reserved, field_size, count = r.u24(), r.u8(), r.u32()
        if field_size == 16:
            sizes = r.array("H", count)
        elif field_size == 8:
            sizes = r.array("B", count)
        elif field_size == 4:
            packed = r.read(r.check_count((count + 1) // 2, 1))
            sizes = [b >> s & 15 for b in packed for s in (4, 0)][:count]
        else:
            raise r.error(f"stz2 field_size {field_size} is not 4, 8 or 16")
        return cls(reserved, field_size, sizes)

    def build_body(self, w: Writer) -> None:
        w.u24(self.reserved)
        w.u8(self.field_size)
        w.u32(self.sample_count)
        if self.field_size == 4:
            if any(not 0 <= s < 16 for s in self.entry_size):
                raise BmffError("stz2 entry_size does not fit in 4 bits")
            padded = list(self.entry_size) + [0] * (self.sample_count % 2)
            w.write(bytes(hi << 4 | lo for hi, lo in zip(padded[::2], padded[1::2])))
        elif self.field_size in (8, 16):
            write_columns(w, "B" if self.field_size == 8 else "H", [self.entry_size], self.TYPE)
        else:
            raise BmffError(f"stz2 field_size {self.field_size} is not 4, 8 or 16")


@register()
@dataclass
class ChunkOffsetBox(FullBox):
    """'stco': absolute file offset of each chunk (32-bit)."""

    TYPE = "stco"
    VERSIONS = (0,)
    FORMAT: ClassVar[str] = "I"
    chunk_offset: list[int] = field(default_factory=list)

    @property
    def entry_count(self) -> int:
        return len(self.chunk_offset)

    @classmethod
    def parse_body(cls, r: Reader, ctx: Context) -> "ChunkOffsetBox":
        return cls(r.array(cls.FORMAT, r.u32()))

    def build_body(self, w: Writer) -> None:
        w.u32(self.entry_count)
        write_columns(w, self.FORMAT, [self.chunk_offset], self.TYPE)


@register()
@dataclass
class ChunkLargeOffsetBox(ChunkOffsetBox):
    """'co64': as 'stco' with 64-bit offsets."""

    TYPE = "co64"
    FORMAT = "Q"


@register()
@dataclass
class SyncSampleBox(FullBox):
    """'stss': 1-based numbers of the sync samples, increasing; absent box = every sample is sync."""

    TYPE = "stss"
    VERSIONS = (0,)
    sample_number: list[int] = field(default_factory=list)

    @property
    def entry_count(self) -> int:
        return len(self.sample_number)

    @classmethod
    def parse_body(cls, r: Reader, ctx: Context) -> "SyncSampleBox":
        return cls(r.array("I", r.u32()))

    def build_body(self, w: Writer) -> None:
        w.u32(self.entry_count)
        write_columns(w, "I", [self.sample_number], self.TYPE)


@register()
@dataclass
class SampleDependencyTypeBox(FullBox):
    """'sdtp': one byte per sample, four 2-bit fields; the sample count comes from stsz/stz2, so the box
    simply holds one entry per remaining byte."""

    TYPE = "sdtp"
    VERSIONS = (0,)
    is_leading: list[int] = field(default_factory=list)
    sample_depends_on: list[int] = field(default_factory=list)
    sample_is_depended_on: list[int] = field(default_factory=list)
    sample_has_redundancy: list[int] = field(default_factory=list)

    @classmethod
    def parse_body(cls, r: Reader, ctx: Context) -> "SampleDependencyTypeBox":
        data = r.rest()
        return cls(*([b >> s & 3 for b in data] for s in (6, 4, 2, 0)))

    def build_body(self, w: Writer) -> None:
        columns = [self.is_leading, self.sample_depends_on, self.sample_is_depended_on, self.sample_has_redundancy]
        if len({len(c) for c in columns}) > 1 or any(not 0 <= v < 4 for c in columns for v in c):
            raise BmffError("sdtp columns must be equal-length lists of 2-bit values")
        w.write(bytes(a << 6 | b << 4 | c << 2 | d for a, b, c, d in zip(*columns)))


# --------------------------------------------------------------------------------------------- read view


@dataclass
class Chunk:
    """One run of consecutive samples stored contiguously at `offset`."""

    offset: int
    first_sample: int  # 0-based index of the chunk's first sample
    sample_count: int
    sample_description_index: int  # 1-based, into 'stsd'


class SampleTable:
    """Read view over one 'stbl': chunk layout, and per sample its file offset, size, sync flag, decode time,
    composition offset and sample description. Sample indices here are 0-based; the boxes' are 1-based.

    Per-sample lists are materialised, so a table may announce at most `max_samples` samples (constant-size
    'stsz' counts cost no bytes in the file and could otherwise ask for unbounded memory)."""

    def __init__(self, stbl: Box, max_samples: int = 1 << 24):
        self.stbl, self.max_samples = stbl, max_samples

    def _box(self, *types: str) -> Box | None:
        return next((b for b in self.stbl.boxes if b.type in types), None)

    def _required(self, *types: str) -> Box:
        box = self._box(*types)
        if box is None:
            raise BmffError(f"'stbl' has no {' or '.join(repr(t) for t in types)}")
        return box

    def _sizes(self) -> tuple[Box, int]:
        """'stsz' or 'stz2', and its constant sample size (0 when every sample has an entry_size)."""
        sizes = self._required("stsz", "stz2")
        return sizes, sizes.sample_size if isinstance(sizes, SampleSizeBox) else 0

    @property
    def sample_count(self) -> int:
        """Samples listed by 'stsz'/'stz2', at most max_samples."""
        sizes, constant = self._sizes()
        count = sizes.sample_count if constant else len(sizes.entry_size)
        if count > self.max_samples:
            raise BmffError(f"sample table announces {count} samples, more than the limit {self.max_samples}")
        return count

    def size_table(self) -> tuple[int, array | None]:
        """(constant size, None), or (0, every sample's size as a u32 array) when each sample has an entry."""
        sizes, constant = self._sizes()
        return (constant, None) if constant else (0, array("I", sizes.entry_size))

    def sync_numbers(self) -> list[int] | None:
        """The sync samples' distinct 1-based numbers from 'stss', ascending; None without 'stss' (every sample
        is one)."""
        count, stss = self.sample_count, self._box("stss")
        if stss is None:
            return None
        bad = next((n for n in stss.sample_number if not 1 <= n <= count), None)
        if bad is not None:
            raise BmffError(f"stss names sample {bad}; the track has {count}")
        return sorted(set(stss.sample_number))

    def time_runs(self) -> tuple[list[int], list[int]]:
        """The 'stts' runs as (sample_count, sample_delta) columns; BmffError unless they cover every sample."""
        stts = self._required("stts")
        self.check_covers(stts.sample_count, "stts")
        return list(stts.sample_count), list(stts.sample_delta)

    def sample_sizes(self) -> list[int]:
        count, (sizes, constant) = self.sample_count, self._sizes()
        return [constant] * count if constant else list(sizes.entry_size)

    def chunk_offsets(self) -> list[int]:
        return list(self._required("stco", "co64").chunk_offset)

    def chunk_columns(self) -> tuple[list[int], list[int], list[int], list[int]]:
        """Per chunk, as columns: its offset, its first sample (0-based), its sample count and its
        sample_description_index, from the 'stsc' runs over the 'stco'/'co64' offsets. Runs expand by C-level
        iteration, never an object per chunk (a chunk per sample is common)."""
        stsc = self._required("stsc")
        offsets = self._required("stco", "co64").chunk_offset
        total, starts, ends = self.sample_count, [], []
        for i, first in enumerate(stsc.first_chunk):
            end = stsc.first_chunk[i + 1] if i + 1 < stsc.entry_count else len(offsets) + 1
            if first < 1 or end <= first or end > len(offsets) + 1:
                raise BmffError(f"stsc entry {i + 1}: first_chunk {first} out of order or beyond "
                                f"{len(offsets)} chunks")
            starts.append(first - 1)
            ends.append(end - 1)
        chain, repeat = itertools.chain.from_iterable, itertools.repeat
        runs = list(map(operator.sub, ends, starts))
        counts = list(chain(map(repeat, stsc.samples_per_chunk, runs)))
        firsts = list(itertools.accumulate(counts, initial=0))
        if firsts[-1] < total:
            raise BmffError(f"chunks hold {firsts[-1]} samples, the sample size table lists {total}")
        if firsts[-1] > total:  # the chunk where the samples end holds the rest, the ones after it none
            k = bisect.bisect_right(firsts, total) - 1
            counts[k:] = [total - firsts[k]] + [0] * (len(counts) - k - 1)
            firsts = list(itertools.accumulate(counts, initial=0))
        chunk_offsets = list(map(offsets.__getitem__, chain(map(range, starts, ends))))
        return chunk_offsets, firsts[:-1], counts, list(chain(map(repeat, stsc.sample_description_index, runs)))

    def chunks(self) -> list[Chunk]:
        """Every chunk with its samples, from 'stsc' runs over the 'stco'/'co64' offsets."""
        return list(map(Chunk, *self.chunk_columns()))

    def samples(self) -> list[tuple[int, int]]:
        """(file offset, size) of every sample, in decode order."""
        sizes = self.sample_sizes()
        out = []
        for c in self.chunks():
            offset = c.offset
            for size in sizes[c.first_sample : c.first_sample + c.sample_count]:
                out.append((offset, size))
                offset += size
        return out

    def sample_description_indices(self) -> list[int]:
        return [c.sample_description_index for c in self.chunks() for _ in range(c.sample_count)]

    def sync_bytes(self) -> bytearray:
        """1 for each sync sample, 0 for the others; without 'stss' every sample is a sync sample."""
        count, numbers = self.sample_count, self.sync_numbers()
        if numbers is None:
            return bytearray(b"\1" * count)
        flags = bytearray(count)
        for n in numbers:
            flags[n - 1] = 1
        return flags

    def sync_flags(self) -> list[bool]:
        """Whether each sample is a sync sample; without 'stss' every sample is."""
        return list(map(bool, self.sync_bytes()))

    def check_covers(self, counts: list[int], what: str) -> None:
        """BmffError unless runs of these sample counts cover every sample of the track."""
        count, covered = self.sample_count, sum(counts)
        if covered > count:
            raise BmffError(f"{what} covers more than the track's {count} samples")
        if covered != count:
            raise BmffError(f"{what} covers {covered} samples, the track has {count}")

    def expand(self, counts: list[int], values: list[int], what: str) -> Iterator[int]:
        """Runs of (count, value) as one value per sample, lazily; BmffError unless they cover every sample."""
        self.check_covers(counts, what)
        return itertools.chain.from_iterable(map(itertools.repeat, values, counts))

    def decode_time_iter(self) -> Iterator[int]:
        """Decode time of each sample in media timescale units, from 'stts' (lazily)."""
        stts = self._required("stts")
        times = itertools.accumulate(self.expand(stts.sample_count, stts.sample_delta, "stts"), initial=0)
        return itertools.islice(times, self.sample_count)

    def decode_times(self) -> list[int]:
        """Decode time of each sample in media timescale units, from 'stts'."""
        return list(self.decode_time_iter())

    def composition_offset_iter(self) -> Iterator[int]:
        """Composition minus decode time per sample ('ctts'; zeros when absent), lazily."""
        ctts = self._box("ctts")
        if ctts is None:
            return itertools.repeat(0, self.sample_count)
        return self.expand(ctts.sample_count, ctts.sample_offset, "ctts")

    def composition_offsets(self) -> list[int]:
        """Composition minus decode time per sample ('ctts'); zeros when absent."""
        return list(self.composition_offset_iter())

    def chunk_sizes(self, firsts: list[int], counts: list[int]) -> list[int]:
        """Bytes of each chunk of chunk_columns: a constant sample size is multiplied, never expanded."""
        sizes, constant = self._sizes()
        if constant:
            return [n * constant for n in counts]
        entry = sizes.entry_size
        return [sum(entry[a : a + n]) for a, n in zip(firsts, counts)]
