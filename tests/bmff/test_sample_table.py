"""stsd and sample entries, the sample tables, and the SampleTable view checked against ffprobe."""

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from media_testing import RECIPES, assert_robust, ffprobe_packets, ffprobe_streams, leaf_bytes, media, reparse  # noqa: F401

import bmff
from bmff import BmffError
from bmff.amd1.boxes import SeiInformationBox
from bmff.boxes.movie import HandlerBox, MediaBox, MediaInformationBox
from bmff.boxes.restricted import OriginalFormatBox, RestrictedSchemeInfoBox, SchemeInformationBox, SchemeTypeBox
from bmff.boxes.sample_table import (
    AUDIO_FORMATS,
    VISUAL_FORMATS,
    AudioSampleEntry,
    AVCConfigurationBox,
    BitRateBox,
    ChunkLargeOffsetBox,
    ChunkOffsetBox,
    CleanApertureBox,
    ColourInformationBox,
    CompactSampleSizeBox,
    CompositionOffsetBox,
    ESDBox,
    HEVCConfigurationBox,
    PixelAspectRatioBox,
    SampleDependencyTypeBox,
    SampleDescriptionBox,
    SampleEntry,
    SampleSizeBox,
    SampleTable,
    SampleTableBox,
    SampleToChunkBox,
    SyncSampleBox,
    TimeToSampleBox,
    VisualSampleEntry,
    VvcConfigurationBox,
)

TABLE_LEAVES = {"stsd", "stts", "ctts", "stsc", "stsz", "stco", "stss", "sdtp", "avc1", "hvc1", "hev1", "mp4a",
                "avcC", "hvcC", "pasp", "btrt", "colr", "esds"}


def stsd_of(*entries, version=0):
    return SampleDescriptionBox(list(entries), version=version)


def in_track(handler, stsd):
    """An 'mdia' whose handler tells the sample entries which layout an unknown format has."""
    return MediaBox(children=[HandlerBox(handler_type=handler), MediaInformationBox(children=[
        SampleTableBox(children=[stsd])])])


def test_visual_entry_layout_and_children():
    entry = VisualSampleEntry("hvc1", width=64, height=48, compressorname=b"\x04x265" + bytes(27),
                              children=[HEVCConfigurationBox(bytes(21) + b"\x03" + bytes(3)), PixelAspectRatioBox(1, 1),
                                        ColourInformationBox(full_range_flag=1), BitRateBox(1, 2, 3)])
    raw = entry.to_bytes()
    assert raw[4:8] == b"hvc1" and struct.unpack(">HH", raw[32:36]) == (64, 48)
    back = reparse(stsd_of(entry)).children[0]
    assert back == entry and back.compressor_name == "x265" and back.find("hvcC").length_size == 4


def test_resv_entry_carries_rinf():
    entry = VisualSampleEntry("resv", width=16, height=16, children=[
        AVCConfigurationBox(bytes([1, 100, 0, 10, 0xFD])),
        RestrictedSchemeInfoBox(children=[OriginalFormatBox("avc1"), SchemeTypeBox("aSEI", 1),
                                          SchemeInformationBox(children=[SeiInformationBox([210], [211])])])])
    back = reparse(stsd_of(entry)).children[0]
    assert isinstance(back, VisualSampleEntry) and back == entry
    assert back.find("rinf/frma").data_format == "avc1" and back.find("avcC").length_size == 2


def test_length_size_of_each_codec_record():
    assert VvcConfigurationBox(bytes([0b11111_01_1])).length_size == 2
    with pytest.raises(BmffError, match="lengthSizeMinusOne"):
        AVCConfigurationBox(b"\1\2").length_size
    with pytest.raises(BmffError, match="NAL unit lengths"):
        ESDBox(b"\3").length_size


def test_unknown_format_takes_layout_from_handler():
    visual = VisualSampleEntry("jpeg", width=8, height=8)
    audio = AudioSampleEntry("twos", channelcount=1, samplerate=8000 << 16)
    generic = SampleEntry("tx3g", data_reference_index=2, trailing=b"text style")
    for handler, entry in (("vide", visual), ("soun", audio), ("text", generic)):
        back = reparse(in_track(handler, stsd_of(entry))).find("minf/stbl/stsd").children[0]
        assert type(back) is type(entry) and back == entry


def test_handler_layout_falls_back_to_bytes_when_it_does_not_fit():
    short = SampleEntry("jpeg", trailing=b"too short for a visual entry")
    back = reparse(in_track("vide", stsd_of(short))).find("minf/stbl/stsd").children[0]
    assert type(back) is SampleEntry and back == short


def test_quicktime_sound_description_v2_extension():
    entry = AudioSampleEntry("lpcm", entry_version=2, qt_extension=bytes(range(36)), children=[BitRateBox(1, 2, 3)])
    assert reparse(stsd_of(entry)).children[0] == entry
    v1_iso = AudioSampleEntry("mp4a", entry_version=1, children=[ESDBox(b"\3\4")])
    assert reparse(stsd_of(v1_iso, version=1)).children[0] == v1_iso  # ISO AudioSampleEntryV1: no extension


def test_colr_kinds():
    for box in (ColourInformationBox("nclc", 1, 1, 1), ColourInformationBox("prof", ICC_profile=b"icc"),
                ColourInformationBox("nclx", 9, 16, 9, 1, 5), CleanApertureBox(64, 1, 48, 1, 0, 1, 0, 1)):
        assert reparse(box) == box
    odd = struct.pack(">I", 14) + b"colrabcd\1\2"
    (back,) = bmff.parse(odd).boxes
    assert back.colour_type == "abcd" and back.trailing == b"\1\2" and back.to_bytes() == odd


def test_stz2_packing():
    four = CompactSampleSizeBox(field_size=4, entry_size=[1, 15, 7])
    assert four.to_bytes()[-2:] == b"\x1f\x70" and reparse(four) == four
    for fs, sizes in ((8, [0, 255]), (16, [0, 65535, 3])):
        box = CompactSampleSizeBox(field_size=fs, entry_size=sizes)
        assert reparse(box) == box
    with pytest.raises(BmffError, match="field_size"):
        data = CompactSampleSizeBox(field_size=8, entry_size=[1]).to_bytes()
        bmff.parse(data.replace(b"\x08\0\0\0\1", b"\x05\0\0\0\1"))


def test_ctts_signed_in_version_1():
    box = CompositionOffsetBox([1, 2], [-5, 7], version=1)
    assert reparse(box) == box and box.to_bytes()[-4:] == struct.pack(">i", 7)
    with pytest.raises(BmffError, match="out of range"):
        CompositionOffsetBox([1], [-5]).to_bytes()


def test_absurd_counts_raise_before_allocating():
    for box in (TimeToSampleBox([1], [1]), SampleToChunkBox([1], [1], [1]), ChunkOffsetBox([8]),
                SyncSampleBox([1]), SampleSizeBox(0, 1, [5]), stsd_of(VisualSampleEntry())):
        raw = box.to_bytes()
        at = 16 if box.TYPE == "stsz" else 12
        bad = raw[:at] + b"\xff\xff\xff\xff" + raw[at + 4 :]
        with pytest.raises(BmffError, match="entry count"):
            bmff.parse(bad)


# --------------------------------------------------------------------------------------------- properties

u8, u16, u32 = st.integers(0, 255), st.integers(0, 2 ** 16 - 1), st.integers(0, 2 ** 32 - 1)
u32s = st.lists(u32, max_size=6)
fourcc = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=4, max_size=4)
colr = st.one_of(
    st.builds(ColourInformationBox, st.just("nclx"), u16, u16, u16, st.integers(0, 1), st.integers(0, 127)),
    st.builds(ColourInformationBox, st.just("nclc"), u16, u16, u16),
    st.builds(ColourInformationBox, st.sampled_from(["rICC", "prof"]), ICC_profile=st.binary(max_size=9)))
children = st.lists(st.one_of(st.builds(PixelAspectRatioBox, u32, u32), st.builds(BitRateBox, u32, u32, u32),
                              *(st.builds(c, st.binary(max_size=30)) for c in (AVCConfigurationBox,
                                HEVCConfigurationBox, VvcConfigurationBox, ESDBox)),
                              st.builds(CleanApertureBox, *[u32] * 8), colr), max_size=3)
visual = st.builds(VisualSampleEntry, st.sampled_from(["avc1", "avc3", "hvc1", "hev1", "vvc1", "vvi1", "resv"]),
                   st.binary(min_size=6, max_size=6), u16, st.binary(min_size=16, max_size=16), u16, u16, u32, u32,
                   u32, u16, st.binary(min_size=32, max_size=32), u16, st.integers(-2 ** 15, 2 ** 15 - 1), children)
audio = st.builds(AudioSampleEntry, st.just("mp4a"), st.binary(min_size=6, max_size=6), u16, st.just(0),
                  st.binary(min_size=6, max_size=6), u16, u16, u16, u16, u32, st.just(b""), children)

generic = st.builds(SampleEntry, fourcc.filter(lambda f: f not in VISUAL_FORMATS | AUDIO_FORMATS),
                    st.binary(min_size=6, max_size=6), u16, trailing=st.binary(max_size=12))


def columns(n, *strategies):
    """Equal-length columns for a table box."""
    return st.integers(0, 6).flatmap(lambda k: st.tuples(*(st.lists(s, min_size=k, max_size=k) for s in strategies)))


tables = st.one_of(
    columns(2, u32, u32).map(lambda c: TimeToSampleBox(*c)),
    columns(2, u32, u32).map(lambda c: CompositionOffsetBox(*c)),
    columns(2, u32, st.integers(-2 ** 31, 2 ** 31 - 1)).map(lambda c: CompositionOffsetBox(*c, version=1)),
    columns(3, u32, u32, u32).map(lambda c: SampleToChunkBox(*c)),
    u32s.map(lambda s: SampleSizeBox(0, len(s), s)),
    st.tuples(st.integers(1, 2 ** 32 - 1), u32).map(lambda t: SampleSizeBox(*t)),
    st.sampled_from([4, 8, 16]).flatmap(lambda bits: st.builds(
        CompactSampleSizeBox, st.integers(0, 2 ** 24 - 1), st.just(bits),
        st.lists(st.integers(0, 2 ** bits - 1), max_size=7))),
    u32s.map(ChunkOffsetBox), st.lists(st.integers(0, 2 ** 64 - 1), max_size=5).map(ChunkLargeOffsetBox),
    u32s.map(SyncSampleBox),
    columns(4, *[st.integers(0, 3)] * 4).map(lambda c: SampleDependencyTypeBox(*c)),
    colr, st.builds(SampleTableBox, st.lists(u32s.map(ChunkOffsetBox), max_size=2)),
    st.builds(SampleDescriptionBox, st.lists(visual | audio | generic, max_size=2)))


@settings(max_examples=200, deadline=None)
@given(tables)
def test_random_sample_table_boxes_round_trip(box):
    assert reparse(box) == box


# --------------------------------------------------------------------------------------------- real files


@pytest.mark.parametrize("name,formats", [("h264.mp4", ["avc1"]), ("hvc1.mp4", ["hvc1"]), ("hev1.mp4", ["hev1"]),
                                          ("av.mp4", ["avc1", "mp4a"]), ("av.mov", ["avc1", "mp4a"])])
def test_sample_table_view_matches_ffprobe(media, name, formats):
    f = bmff.parse(media[name])
    traks = f.find_all("moov/trak")
    assert [t.find("mdia/minf/stbl/stsd").children[0].format for t in traks] == formats
    for index, trak in enumerate(traks):
        table = SampleTable(trak.find("mdia/minf/stbl"))
        packets = ffprobe_packets(media[name], index)
        assert table.samples() == [(p["pos"], p["size"]) for p in packets]
        assert table.sync_flags() == [p["key"] for p in packets]
        assert table.sample_description_indices() == [1] * len(packets)
        assert len(table.decode_times()) == len(table.composition_offsets()) == table.sample_count
    entry = traks[0].find("mdia/minf/stbl/stsd").children[0]
    assert (entry.width, entry.height) == (64, 48) and entry.children[0].length_size == 4


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_entry_and_media_fields_match_ffprobe(media, name):
    traks = bmff.parse(media[name]).find_all("moov/trak")
    for trak, stream in zip(traks, ffprobe_streams(media[name]), strict=True):
        entry = trak.find("mdia/minf/stbl/stsd").children[0]
        assert entry.format == stream["codec_tag_string"]
        assert stream["time_base"] == f"1/{trak.find('mdia/mdhd').timescale}"
        assert int(stream["nb_frames"]) == SampleTable(trak.find("mdia/minf/stbl")).sample_count
        if stream["codec_type"] == "video":
            assert (entry.width, entry.height) == (stream["width"], stream["height"])
        else:  # (channelcount: ffmpeg's MP4 writer puts 2 there and the true count in 'esds')
            assert entry.samplerate >> 16 == int(stream["sample_rate"])


def test_stz2_view_equals_stsz(media):
    stbl = bmff.parse(media["h264.mp4"]).find("moov/trak/mdia/minf/stbl")
    expected = SampleTable(stbl).samples()
    stsz = stbl.find("stsz")
    stbl.children[stbl.children.index(stsz)] = CompactSampleSizeBox(field_size=16, entry_size=stsz.entry_size)
    assert SampleTable(reparse(stbl)).samples() == expected


def test_view_rejects_inconsistent_tables():
    stbl = SampleTableBox(children=[SampleSizeBox(0, 3, [1, 2, 3]), SampleToChunkBox([1], [2], [1]),
                                    ChunkOffsetBox([100]), SyncSampleBox([4]), TimeToSampleBox([5], [1])])
    table = SampleTable(stbl)
    for method, message in (("chunks", "chunks hold 2 samples"), ("sync_flags", "names sample 4"),
                            ("decode_times", "stts covers more")):
        with pytest.raises(BmffError, match=message):
            getattr(table, method)()
    with pytest.raises(BmffError, match="limit"):
        SampleTable(SampleTableBox(children=[SampleSizeBox(4, 2 ** 32 - 1)])).sample_sizes()


@pytest.mark.parametrize("name", ["hev1.mp4", "av.mov"])
def test_truncated_and_mutated_sample_table_boxes_raise_only_bmff_error(media, name):
    for raw in leaf_bytes(media[name], TABLE_LEAVES):
        assert_robust(raw, mutations=60)
