"""Hand-built byte layouts, written from each box's syntax in the standard (struct formats, not bmff's code):
a reader and a writer sharing one mistake pass every round trip; these catch it. Values are chosen so that a
wrong width, a wrong sign or two swapped fields changes the bytes (negative where the syntax says signed)."""

import struct

import pytest

import bmff
from bmff.box import Context, Reader, Source, parse_box


def box(fourcc: bytes, body: bytes, version: int | None = None, flags: int = 0) -> bytes:
    """size + type [+ version/flags] + body, as §4.2 lays out a box header."""
    if version is not None:
        body = struct.pack(">I", version << 24 | flags) + body
    return struct.pack(">I", 8 + len(body)) + fourcc + body


def parse(data: bytes, parent: str | None = None):
    return parse_box(Reader(Source(data), 0, len(data)), Context(path=(parent,) if parent else ()))


MATRIX = (0x10000, 2, -3, 4, 0x10000, -6, 7, 8, 0x40000000)

# (parent, raw bytes, {field: value}) per box; each layout cites the syntax it follows (ISO/IEC 14496-12:2022).
LAYOUTS = {
    # §8.2.2 mvhd v1: u64 creation, u64 modification, u32 timescale, u64 duration, s32 rate, s16 volume,
    # bit(16) reserved, u32[2] reserved, s32[9] matrix, bit(32)[6] pre_defined, u32 next_track_ID
    "mvhd v1": (None, box(b"mvhd", struct.pack(">QQIQih10s9i24sI", 1 << 33, 2 << 33, 600, 3 << 33, -0x10000, -256,
                                               b"R" * 10, *MATRIX, b"P" * 24, 77), version=1),
                dict(creation_time=1 << 33, modification_time=2 << 33, timescale=600, duration=3 << 33,
                     rate=-0x10000, volume=-256, reserved=b"R" * 10, matrix=list(MATRIX), pre_defined=b"P" * 24,
                     next_track_ID=77, version=1)),
    "mvhd v0": (None, box(b"mvhd", struct.pack(">IIIIih10s9i24sI", 5, 6, 1000, 7, 0x10000, 0x100, bytes(10),
                                               *MATRIX, bytes(24), 2), version=0),
                dict(creation_time=5, modification_time=6, timescale=1000, duration=7, rate=0x10000, volume=0x100,
                     matrix=list(MATRIX), next_track_ID=2, version=0)),
    # §8.3.2 tkhd v0: u32 creation, u32 modification, u32 track_ID, u32 reserved, u32 duration, u32[2] reserved,
    # s16 layer, s16 alternate_group, s16 volume, u16 reserved, s32[9] matrix, u32 width, u32 height
    "tkhd v0": (None, box(b"tkhd", struct.pack(">IIIII8shhhH9iII", 1, 2, 3, 4, 5, b"r" * 8, -1, -2, -3, 9, *MATRIX,
                                               320 << 16, 240 << 16), version=0, flags=7),
                dict(creation_time=1, modification_time=2, track_ID=3, reserved1=4, duration=5, reserved2=b"r" * 8,
                     layer=-1, alternate_group=-2, volume=-3, reserved3=9, matrix=list(MATRIX), width=320 << 16,
                     height=240 << 16, flags=7)),
    "tkhd v1": (None, box(b"tkhd", struct.pack(">QQIIQ8shhhH9iII", 1 << 40, 2, 3, 0, 1 << 35, bytes(8), 0, 0, 0, 0,
                                               *MATRIX, 1, 2), version=1),
                dict(creation_time=1 << 40, modification_time=2, track_ID=3, duration=1 << 35, width=1, height=2)),
    # §12.1.2 vmhd: u16 graphicsmode, u16[3] opcolor (flags 1)
    "vmhd": ("minf", box(b"vmhd", struct.pack(">HHHH", 0x40, 1, 0xFFFF, 3), version=0, flags=1),
             dict(graphicsmode=0x40, opcolor=[1, 0xFFFF, 3])),
    # §12.2.2 smhd: s16 balance, u16 reserved
    "smhd": ("minf", box(b"smhd", struct.pack(">hH", -0x80, 5), version=0), dict(balance=-0x80, reserved=5)),
    # §8.8.2 mehd: u32 (v0) / u64 (v1) fragment_duration
    "mehd v1": ("mvex", box(b"mehd", struct.pack(">Q", 1 << 40), version=1), dict(fragment_duration=1 << 40)),
    # §8.8.3 trex: u32 track_ID, default_sample_description_index, _duration, _size, _flags
    "trex": ("mvex", box(b"trex", struct.pack(">5I", 1, 2, 3, 4, 0x01010000), version=0),
             dict(track_ID=1, default_sample_description_index=2, default_sample_duration=3, default_sample_size=4,
                  default_sample_flags=0x01010000)),
    # §8.8.5 mfhd: u32 sequence_number
    "mfhd": ("moof", box(b"mfhd", struct.pack(">I", 0xDEADBEEF), version=0), dict(sequence_number=0xDEADBEEF)),
    # §8.8.12 tfdt: u32 (v0) / u64 (v1) baseMediaDecodeTime
    "tfdt v0": ("traf", box(b"tfdt", struct.pack(">I", 123456), version=0), dict(baseMediaDecodeTime=123456)),
    "tfdt v1": ("traf", box(b"tfdt", struct.pack(">Q", 1 << 50), version=1), dict(baseMediaDecodeTime=1 << 50)),
    # §8.8.11 mfro: u32 size (of the enclosing mfra)
    "mfro": ("mfra", box(b"mfro", struct.pack(">I", 4242), version=0), dict(size=4242)),
    # §8.11.4 pitm: u16 (v0) / u32 (v1) item_ID
    "pitm v0": ("meta", box(b"pitm", struct.pack(">H", 0xBEEF), version=0), dict(item_ID=0xBEEF)),
    "pitm v1": ("meta", box(b"pitm", struct.pack(">I", 0x10000), version=1), dict(item_ID=0x10000)),
    # §8.12.3 frma: u32 data_format (a 4CC)
    "frma": ("sinf", box(b"frma", b"hvc1"), dict(data_format="hvc1")),
    # §12.1.4.2 pasp: u32 hSpacing, u32 vSpacing
    "pasp": (None, box(b"pasp", struct.pack(">II", 4, 3)), dict(hSpacing=4, vSpacing=3)),
    # §8.5.2.2 btrt: u32 bufferSizeDB, maxBitrate, avgBitrate
    "btrt": (None, box(b"btrt", struct.pack(">III", 1, 2, 3)), dict(bufferSizeDB=1, maxBitrate=2, avgBitrate=3)),
    # §12.1.4.2 clap: u32 cleanApertureWidthN, …WidthD, …HeightN, …HeightD, horizOffN, horizOffD, vertOffN, vertOffD
    "clap": (None, box(b"clap", struct.pack(">8I", *range(11, 19))),
             dict(zip(("cleanApertureWidthN", "cleanApertureWidthD", "cleanApertureHeightN", "cleanApertureHeightD",
                       "horizOffN", "horizOffD", "vertOffN", "vertOffD"), range(11, 19)))),
    # §8.4.2 mdhd v0: u32 creation, u32 modification, u32 timescale, u32 duration, bit(1) pad,
    # u(5)[3] language (ISO 639-2/T, each letter − 0x60), u16 pre_defined
    "mdhd v0": (None, box(b"mdhd", struct.pack(">IIIIHH", 1, 2, 90000, 3, (ord("e") - 0x60) << 10
                                               | (ord("n") - 0x60) << 5 | (ord("g") - 0x60), 0), version=0),
                dict(creation_time=1, modification_time=2, timescale=90000, duration=3, language="eng")),
    # §8.4.3 hdlr: u32 pre_defined, u32 handler_type, u32[3] reserved, utf8string name
    "hdlr": (None, box(b"hdlr", struct.pack(">I4s12s", 0, b"soun", bytes(12)) + b"Sound\0", version=0),
             dict(handler_type="soun", name="Sound")),
}


@pytest.mark.parametrize("name", LAYOUTS)
def test_the_standards_layout_parses_to_its_fields_and_writes_back(name):
    parent, raw, expected = LAYOUTS[name]
    parsed = parse(raw, parent)
    assert parsed.type == name.split()[0] and type(parsed) is not bmff.UnknownBox
    for field, value in expected.items():
        assert getattr(parsed, field) == value, field
    assert parsed.to_bytes() == raw
    built = type(parsed)(**{k: v for k, v in expected.items()})
    if all(getattr(built, f) == getattr(parsed, f) for f in ("version", "flags") if hasattr(parsed, f)):
        assert built == parsed  # every field the layout sets, built from values alone, is the same box
