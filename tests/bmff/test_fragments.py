"""Fragment boxes: flag-dependent layouts, random round trips, mutations, real fragmented MP4 from ffmpeg."""

import json
import struct
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from item_media import make_ffmpeg_file, mutants

import bmff
from bmff import BmffError
from bmff.boxes.fragments import (
    MovieExtendsBox,
    MovieExtendsHeaderBox,
    MovieFragmentBox,
    MovieFragmentHeaderBox,
    MovieFragmentRandomAccessBox,
    MovieFragmentRandomAccessOffsetBox,
    SegmentIndexBox,
    SegmentIndexReference,
    TrackExtendsBox,
    TrackFragmentBaseMediaDecodeTimeBox,
    TrackFragmentBox,
    TrackFragmentHeaderBox,
    TrackFragmentRandomAccessBox,
    TrackFragmentRandomAccessEntry,
    TrackRunBox,
)


def reparse(box):
    raw = box.to_bytes()
    (back,) = bmff.parse(raw).boxes
    assert back.to_bytes() == raw
    return back


def test_tfhd_optional_fields_follow_flags():
    tfhd = TrackFragmentHeaderBox(1, base_data_offset=1 << 40, default_sample_size=9, flags=0x020011)
    raw = tfhd.to_bytes()
    assert raw[12:] == struct.pack(">IQI", 1, 1 << 40, 9)
    assert reparse(tfhd) == tfhd
    with pytest.raises(BmffError, match="0x000001 is clear"):
        TrackFragmentHeaderBox(1, base_data_offset=5).to_bytes()
    with pytest.raises(BmffError, match="0x000008 is set"):
        TrackFragmentHeaderBox(1, flags=8).to_bytes()


def test_trun_columns_and_signed_composition_offsets():
    trun = TrackRunBox(2, data_offset=-8, sample_size=[10, 20], sample_composition_time_offset=[-1024, 2048],
                       version=1, flags=0x000A01)
    assert trun.to_bytes()[12:] == struct.pack(">Ii" + "Ii" * 2, 2, -8, 10, -1024, 20, 2048)
    assert reparse(trun) == trun
    defaults_only = TrackRunBox(7, first_sample_flags=0x02000000, flags=0x000004)
    assert reparse(defaults_only) == defaults_only and defaults_only.sample_duration is None
    with pytest.raises(BmffError, match="1 values for sample_count 2"):
        TrackRunBox(2, sample_size=[1], flags=0x200).to_bytes()
    with pytest.raises(BmffError, match="out of range"):
        TrackRunBox(1, sample_composition_time_offset=[-1], flags=0x800).to_bytes()  # v0: unsigned


def test_trun_absurd_sample_count_is_rejected_before_allocating():
    raw = struct.pack(">I4sIII", 20, b"trun", 0x200, 0xFFFFFFFF, 1)
    with pytest.raises(BmffError, match="entry count"):
        bmff.parse(raw)


def test_sidx_bit_fields():
    ref = SegmentIndexReference(1, 0x7FFFFFFF, 5, 1, 7, 0x0FFFFFFF)
    sidx = SegmentIndexBox(1, 1000, 1 << 33, 1 << 34, references=[ref], version=1)
    assert sidx.to_bytes()[-12:] == b"\xff" * 4 + struct.pack(">I", 5) + b"\xff" * 4
    assert reparse(sidx) == sidx
    with pytest.raises(BmffError, match="SAP_type"):
        SegmentIndexBox(references=[SegmentIndexReference(SAP_type=8)]).to_bytes()


def test_tfra_variable_number_widths():
    tfra = TrackFragmentRandomAccessBox(1, 0, 1, 3, entries=[TrackFragmentRandomAccessEntry(5, 6, 7, 0x102, 1 << 30)])
    assert len(tfra.to_bytes()) == 8 + 4 + 12 + (4 + 4 + 1 + 2 + 4)
    assert reparse(tfra) == tfra


# --------------------------------------------------------------------------------------------- properties

u32 = st.integers(0, 0xFFFFFFFF)
u64 = st.integers(0, (1 << 64) - 1)


@st.composite
def tfhds(draw):
    flags = draw(st.integers(0, 0x3F) | st.just(0x02003B)) & ~0x4 | draw(st.sampled_from([0, 0x010000, 0x020000]))
    box = TrackFragmentHeaderBox(draw(u32), flags=flags)
    for bit, name in ((1, "base_data_offset"), (2, "sample_description_index"), (8, "default_sample_duration"),
                      (0x10, "default_sample_size"), (0x20, "default_sample_flags")):
        if flags & bit:
            setattr(box, name, draw(u64 if bit == 1 else u32))
    return box


@st.composite
def truns(draw):
    version = draw(st.integers(0, 1))
    flags = draw(st.sampled_from([0, 1])) | draw(st.sampled_from([0, 4])) | draw(st.integers(0, 15)) << 8
    n = draw(st.integers(0, 6))
    box = TrackRunBox(n, version=version, flags=flags)
    if flags & 1:
        box.data_offset = draw(st.integers(-(1 << 31), (1 << 31) - 1))
    if flags & 4:
        box.first_sample_flags = draw(u32)
    for bit, name in ((0x100, "sample_duration"), (0x200, "sample_size"), (0x400, "sample_flags"),
                      (0x800, "sample_composition_time_offset")):
        if flags & bit:
            signed = version == 1 and bit == 0x800
            values = st.integers(-(1 << 31), (1 << 31) - 1) if signed else u32
            setattr(box, name, draw(st.lists(values, min_size=n, max_size=n)))
    return box


@st.composite
def sidxs(draw):
    version = draw(st.integers(0, 1))
    wide = u64 if version else u32
    refs = [SegmentIndexReference(draw(st.integers(0, 1)), draw(st.integers(0, 0x7FFFFFFF)), draw(u32),
                                  draw(st.integers(0, 1)), draw(st.integers(0, 7)), draw(st.integers(0, 0x0FFFFFFF)))
            for _ in range(draw(st.integers(0, 3)))]
    return SegmentIndexBox(draw(u32), draw(u32), draw(wide), draw(wide), draw(st.integers(0, 0xFFFF)), refs,
                           version=version)


@st.composite
def mfras(draw):
    version = draw(st.integers(0, 1))
    sizes = [draw(st.integers(0, 3)) for _ in range(3)]
    wide = u64 if version else u32
    entries = [TrackFragmentRandomAccessEntry(draw(wide), draw(wide),
                                              *(draw(st.integers(0, (1 << (8 * (s + 1))) - 1)) for s in sizes))
               for _ in range(draw(st.integers(0, 3)))]
    tfra = TrackFragmentRandomAccessBox(draw(u32), *sizes, draw(st.integers(0, (1 << 26) - 1)), entries,
                                        version=version)
    return MovieFragmentRandomAccessBox([tfra, MovieFragmentRandomAccessOffsetBox(draw(u32))])


@st.composite
def fragment_trees(draw):
    mehd_v = draw(st.integers(0, 1))
    mvex = MovieExtendsBox([MovieExtendsHeaderBox(draw(u64 if mehd_v else u32), version=mehd_v),
                            TrackExtendsBox(*(draw(u32) for _ in range(5)))])
    tfdt_v = draw(st.integers(0, 1))
    traf = TrackFragmentBox([draw(tfhds()), TrackFragmentBaseMediaDecodeTimeBox(draw(u64 if tfdt_v else u32),
                                                                                version=tfdt_v),
                             *draw(st.lists(truns(), max_size=2))])
    moof = MovieFragmentBox([MovieFragmentHeaderBox(draw(u32)), traf])
    return [mvex, draw(sidxs()), moof, draw(mfras())]


@settings(max_examples=150, deadline=None)
@given(fragment_trees())
def test_random_fragment_trees_round_trip(boxes):
    f = bmff.File(boxes)
    back = bmff.parse(f.to_bytes())
    assert back.boxes == boxes and back.to_bytes() == f.to_bytes()


@settings(max_examples=300, deadline=None)
@given(fragment_trees(), st.data())
def test_truncated_or_mutated_fragments_raise_only_bmff_error(boxes, data):
    raw = bytearray(bmff.File(boxes).to_bytes())
    cut = data.draw(st.integers(0, len(raw)))
    for pos in data.draw(st.lists(st.integers(0, len(raw) - 1), max_size=4)):
        raw[pos] = data.draw(st.integers(0, 255))
    try:
        bmff.parse(bytes(raw[:cut])).to_bytes()
    except BmffError:
        pass


# --------------------------------------------------------------------------------------------- real files

FFMPEG_MODES = {
    "frag_moof": ["-movflags", "frag_keyframe+empty_moov+default_base_moof"],
    "global_sidx": ["-movflags", "frag_keyframe+empty_moov+global_sidx"],
    "dash": ["-f", "mp4", "-movflags", "dash"],
}


@pytest.fixture(scope="module")
def fragmented(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("frag")
    return {name: make_ffmpeg_file(tmp / f"{name}.mp4", flags) for name, flags in FFMPEG_MODES.items()}


@pytest.mark.parametrize("name", list(FFMPEG_MODES))
def test_fragmented_mp4_round_trips_and_agrees_with_ffprobe(fragmented, name):
    path = fragmented[name]
    f = bmff.parse(path)
    assert f.to_bytes() == path.read_bytes()
    truns = f.find_all("moof/traf/trun")
    assert len(truns) == 4  # 20 frames, a keyframe every 5
    assert sum(t.sample_count for t in truns) == 20
    if name == "dash":
        assert len(f.find_all("sidx")) == 4
    # tfra points at every moof, and mfro gives mfra's size
    moof_offsets = [b.header.offset for b in f.boxes if b.type == "moof"]
    assert [e.moof_offset for e in f.find("mfra/tfra").entries] == moof_offsets
    assert f.find("mfra/mfro").size == f.find("mfra").header.size
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "packet=size",
                            "-of", "json", str(path)], capture_output=True, text=True, check=True)
    sizes = [int(p["size"]) for p in json.loads(probe.stdout)["packets"]]
    tfhds = f.find_all("moof/traf/tfhd")
    parsed = [s for t in truns for s in (t.sample_size or [])] or [h.default_sample_size for h in tfhds]
    assert parsed == sizes


def test_fragmented_mutations_raise_only_bmff_error(fragmented):
    for name, seed in (("dash", 1), ("frag_moof", 2)):
        for data in mutants(fragmented[name].read_bytes(), 250, seed):
            try:
                bmff.parse(data).to_bytes()
            except BmffError:
                pass
