"""mvhd/tkhd/elst/mdhd/hdlr/vmhd/smhd/dref/...: layouts, round trips of random instances, real files, fuzzing."""

import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from media_testing import RECIPES, assert_robust, leaf_bytes, media, reparse  # noqa: F401  (media: fixture)

import bmff
from bmff import BmffError
from bmff.box import UnknownBox
from bmff.boxes.movie import (
    DataEntryUrlBox,
    DataEntryUrnBox,
    DataInformationBox,
    DataReferenceBox,
    EditBox,
    EditListBox,
    HandlerBox,
    MediaBox,
    MediaHeaderBox,
    MediaInformationBox,
    MovieHeaderBox,
    NullMediaHeaderBox,
    SoundMediaHeaderBox,
    TrackBox,
    TrackHeaderBox,
    TrackReferenceBox,
    TrackReferenceTypeBox,
    UserDataBox,
    VideoMediaHeaderBox,
)

MOVIE_LEAVES = {"mvhd", "tkhd", "elst", "mdhd", "hdlr", "vmhd", "smhd", "dref", "url ", "edts", "dinf"}


def test_mvhd_layout_by_version():
    v0 = MovieHeaderBox(1, 2, 1000, 5000, next_track_ID=3).to_bytes()
    v1 = MovieHeaderBox(1, 2, 1000, 2 ** 40, next_track_ID=3, version=1).to_bytes()
    assert len(v0) == 8 + 100 and len(v1) == 8 + 112
    assert v1[8] == 1 and struct.unpack(">QQIQ", v1[12:40]) == (1, 2, 1000, 2 ** 40)
    assert v0[-4:] == b"\0\0\0\3"


def test_tkhd_layout_keeps_fixed_point_size():
    raw = TrackHeaderBox(track_ID=7, width=64 << 16, height=48 << 16).to_bytes()
    assert len(raw) == 8 + 84 and raw[9:12] == b"\0\0\3"
    assert struct.unpack(">II", raw[-8:]) == (64 << 16, 48 << 16)


def test_mdhd_language_packing():
    raw = MediaHeaderBox(language="und").to_bytes()
    assert raw[-4:-2] == b"\x55\xc4"  # 'und' as three 5-bit letters
    assert reparse(MediaHeaderBox(language="eng", pad=1)).to_bytes()[-4] & 0x80
    with pytest.raises(bmff.BmffError, match="language"):
        MediaHeaderBox(language="EN").to_bytes()


def test_mdhd_keeps_any_16_bits():
    """QuickTime stores Macintosh language codes (< 0x400) in the same field."""
    for packed in (0, 0x7FFF, 0xFFFF, 0x0015):
        raw = MediaHeaderBox().to_bytes()[:-4] + struct.pack(">HH", packed, 0)
        assert bmff.parse(raw).to_bytes() == raw


def test_hdlr_counted_name_is_read_and_written_back_counted():
    """QuickTime's component name: a length byte then the characters, no NUL (ffmpeg's .mov files)."""
    counted = HandlerBox(handler_type="soun", name=None).to_bytes() + b"\x0cSoundHandler"
    counted = struct.pack(">I", len(counted)) + counted[4:]
    (back,) = bmff.parse(counted).boxes
    assert back.name == "SoundHandler" and back.counted_name and back.trailing == b""
    assert back.to_bytes() == counted
    assert HandlerBox(name="VideoHandler", counted_name=True).to_bytes().endswith(b"\x0cVideoHandler")
    for iso in (b"\x03ab\0", b"\0", b"\x05abc"):  # a NUL, or a first byte that does not count the rest: not counted
        raw = HandlerBox(name=None).to_bytes() + iso
        (back,) = bmff.parse(struct.pack(">I", len(raw)) + raw[4:]).boxes
        assert not back.counted_name and back.to_bytes()[-len(iso):] == iso
    with pytest.raises(BmffError, match="255"):
        HandlerBox(name="x" * 256, counted_name=True).to_bytes()


def test_counted_handler_names_of_a_quicktime_fixture():
    path = Path(__file__).parent / "fixtures" / "q.mov"
    f = bmff.parse(path)
    hdlrs = [b for b in f.walk() if isinstance(b, HandlerBox)]
    assert [(h.name, h.counted_name) for h in hdlrs] == [("VideoHandler", True), ("DataHandler", True),
                                                         ("SoundHandler", True), ("DataHandler", True)]
    assert f.to_bytes() == path.read_bytes()


def test_hdlr_round_trip_and_name():
    back = reparse(HandlerBox(handler_type="vide", name="VideoHandler"))
    assert back.handler_type == "vide" and back.name == "VideoHandler"


def test_dref_entries_and_self_contained_url():
    dref = DataReferenceBox([DataEntryUrlBox(), DataEntryUrnBox("urn:x", "http://y"),
                             DataEntryUrlBox("file.mp4", flags=0)])
    raw = dref.to_bytes()
    assert raw[12:16] == b"\0\0\0\3" and raw[16:28] == b"\0\0\0\x0curl \0\0\0\1"
    assert reparse(dref) == dref


def test_strings_without_nul_stay_trailing():
    for box, text in ((DataEntryUrlBox(None, flags=0), b"http://no-nul"), (DataEntryUrnBox(None), b"urn")):
        raw = box.to_bytes() + text
        raw = struct.pack(">I", len(raw)) + raw[4:]
        (back,) = bmff.parse(raw).boxes
        assert back.trailing == text and back.to_bytes() == raw


def test_tref_types_and_odd_bytes():
    tref = TrackReferenceBox(children=[TrackReferenceTypeBox("cdsc", [1, 2]), TrackReferenceTypeBox("chap", [3])])
    back = reparse(tref)
    assert back == tref and back.find("chap").track_IDs == [3]
    odd = struct.pack(">I", 14) + b"hint\0\0\0\5\1\2"
    (box,) = bmff.parse(struct.pack(">I", 8 + len(odd)) + b"tref" + odd).boxes
    assert box.children[0].track_IDs == [5] and box.children[0].trailing == b"\1\2"


def test_dref_count_beyond_bytes_is_an_error():
    raw = DataReferenceBox([DataEntryUrlBox()]).to_bytes()
    bad = raw[:12] + struct.pack(">I", 1000) + raw[16:]
    with pytest.raises(bmff.BmffError, match="entry count"):
        bmff.parse(bad)


def test_uuid_box_keeps_usertype_and_body():
    raw = struct.pack(">I", 8 + 16 + 3) + b"uuid" + bytes(range(16)) + b"abc"
    (box,) = bmff.parse(raw).boxes
    assert isinstance(box, UnknownBox) and box.usertype == bytes(range(16)) and box.data == b"abc"
    assert box.to_bytes() == raw


def test_mdia_passes_handler_type_to_later_children():
    from bmff.box import Box, Context, Reader, register

    seen = []

    @register("minf")
    class Probe(Box):
        TYPE = "prob"

        @classmethod
        def parse_body(cls, r: Reader, ctx: Context):
            seen.append(ctx.handler_type)
            return cls()

    mdia = MediaBox(children=[HandlerBox(handler_type="soun"), MediaInformationBox(children=[Probe()])])
    assert reparse(mdia).find("hdlr").handler_type == "soun" and seen == ["soun"]


# --------------------------------------------------------------------------------------------- properties

u32, u64, i16, u16 = st.integers(0, 2 ** 32 - 1), st.integers(0, 2 ** 64 - 1), st.integers(-2 ** 15, 2 ** 15 - 1), \
    st.integers(0, 2 ** 16 - 1)
i32 = st.integers(-2 ** 31, 2 ** 31 - 1)
matrix = st.lists(i32, min_size=9, max_size=9)
text = st.text(st.characters(min_codepoint=1, max_codepoint=0x10FFFF, blacklist_categories=("Cs",)), max_size=12)
lang = st.text(st.characters(min_codepoint=0x60, max_codepoint=0x7F), min_size=3, max_size=3)


@st.composite
def versioned(draw, build):
    """A box drawn with version 0 or 1 and time fields that fit that version's width."""
    version = draw(st.integers(0, 1))
    return build(draw, version, u64 if version else u32)


mvhd = versioned(lambda d, v, t: MovieHeaderBox(
    d(t), d(t), d(u32), d(t), d(i32), d(i16), d(st.binary(min_size=10, max_size=10)), d(matrix),
    d(st.binary(min_size=24, max_size=24)), d(u32), version=v))
tkhd = versioned(lambda d, v, t: TrackHeaderBox(
    d(t), d(t), d(u32), d(u32), d(t), d(st.binary(min_size=8, max_size=8)), d(i16), d(i16), d(i16), d(u16),
    d(matrix), d(u32), d(u32), version=v, flags=d(st.integers(0, 2 ** 24 - 1))))
mdhd = versioned(lambda d, v, t: MediaHeaderBox(d(t), d(t), d(u32), d(t), d(st.integers(0, 1)), d(lang), d(u16),
                                                version=v))


def _elst(draw, version, t):
    media_time = st.integers(-2 ** 31, 2 ** 31 - 1) if version == 0 else st.integers(-2 ** 63, 2 ** 63 - 1)
    rows = draw(st.lists(st.tuples(t, media_time, i16, i16), max_size=5))
    columns = [list(c) for c in zip(*rows)] or [[], [], [], []]
    return EditListBox(*columns, version=version)


elst = versioned(_elst)
hdlr = st.builds(HandlerBox, u32, st.sampled_from(["vide", "soun", "meta", "nnet"]),
                 st.binary(min_size=12, max_size=12), st.none() | text)
url = st.builds(DataEntryUrlBox, st.none() | text, flags=st.integers(0, 1))
urn = st.builds(DataEntryUrnBox, text, st.none() | text)
dref = st.builds(DataReferenceBox, st.lists(url | urn, max_size=3))
leaves = st.one_of(mvhd, tkhd, mdhd, elst, hdlr, dref,
                   st.builds(VideoMediaHeaderBox, u16, st.lists(u16, min_size=3, max_size=3)),
                   st.builds(SoundMediaHeaderBox, i16, u16), st.builds(NullMediaHeaderBox))


@settings(max_examples=150, deadline=None)
@given(leaves)
def test_random_leaf_boxes_round_trip(box):
    assert reparse(box) == box


@settings(max_examples=40, deadline=None)
@given(tkhd, st.lists(elst, max_size=2), mdhd, hdlr, dref)
def test_random_track_trees_round_trip(tkhd_box, elsts, mdhd_box, hdlr_box, dref_box):
    trak = TrackBox(children=[
        tkhd_box, TrackReferenceBox(children=[TrackReferenceTypeBox("cdsc", [1, 2])]), EditBox(children=elsts),
        MediaBox(children=[mdhd_box, hdlr_box, MediaInformationBox(children=[
            VideoMediaHeaderBox(), DataInformationBox(children=[dref_box])])]),
        UserDataBox(children=[UnknownBox(box_type="\xa9too", data=b"x")])])
    assert reparse(trak) == trak


# --------------------------------------------------------------------------------------------- real files


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_ffmpeg_files_round_trip_byte_exact(media, name):
    raw = media[name].read_bytes()
    f = bmff.parse(media[name])
    assert f.to_bytes() == raw
    assert isinstance(f.find("moov/mvhd"), MovieHeaderBox)
    for trak in f.find_all("moov/trak"):
        assert isinstance(trak.find("tkhd"), TrackHeaderBox)
        assert isinstance(trak.find("mdia/minf/dinf/dref"), DataReferenceBox)


def test_ffmpeg_fields(media):
    f = bmff.parse(media["av.mp4"])
    video, audio = f.find_all("moov/trak")
    assert [t.find("mdia/hdlr").handler_type for t in (video, audio)] == ["vide", "soun"]
    assert video.find("tkhd").width == 64 << 16 and video.find("tkhd").height == 48 << 16
    assert audio.find("mdia/mdhd").timescale == 8000 and audio.find("mdia/mdhd").language == "und"
    assert video.find("mdia/minf/dinf/dref/url ").flags == 1
    assert f.find("moov/mvhd").next_track_ID == 3


def test_mov_counted_handler_names_survive(media):
    f = bmff.parse(media["av.mov"])
    hdlrs = f.find_all("moov/trak/mdia/hdlr")
    assert [(h.name, h.counted_name, h.trailing) for h in hdlrs] == [("VideoHandler", True, b""),
                                                                    ("SoundHandler", True, b"")]
    assert f.to_bytes() == media["av.mov"].read_bytes()


@pytest.mark.parametrize("name", ["av.mp4", "av.mov"])
def test_truncated_and_mutated_movie_boxes_raise_only_bmff_error(media, name):
    for raw in leaf_bytes(media[name], MOVIE_LEAVES):
        assert_robust(raw, mutations=40)
    (moov,) = leaf_bytes(media[name], {"moov"})
    assert_robust(moov, mutations=1500, seed=1)
