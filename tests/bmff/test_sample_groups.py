"""sbgp/sgpd: versions, length handling, the entry registry (incl. the Amd 1 entries), real files, fuzzing."""

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from media_testing import assert_robust, leaf_bytes, media, reparse  # noqa: F401

import bmff
from bmff import BmffError
from bmff.amd1.boxes import (
    NfcsGroupingParameter,
    NnpfaSampleGroupEntry,
    NnpfcSeiSampleGroupEntry,
    SampleToMetadataItemEntry,
)
from bmff.boxes.sample_groups import (
    AudioPreRollEntry,
    RollRecoveryEntry,
    SampleGroupDescriptionBox,
    SampleToGroupBox,
    UnknownSampleGroupEntry,
    entry_class,
    register_entry,
)


def test_sbgp_layouts():
    v0 = SampleToGroupBox("roll", sample_count=[3, 2], group_description_index=[1, 0])
    assert v0.to_bytes()[12:] == b"roll" + struct.pack(">5I", 2, 3, 1, 2, 0)
    param = NfcsGroupingParameter(1, 7).to_int()
    v1 = SampleToGroupBox("nfcs", param, [4], [1], version=1)
    assert v1.to_bytes()[12:20] == b"nfcs" + struct.pack(">I", 0x80000007)
    assert reparse(v0) == v0 and reparse(v1) == v1
    with pytest.raises(BmffError, match="needs version 1"):
        SampleToGroupBox("nfcs", param, [1], [1]).to_bytes()


def test_sbgp_indices_per_sample():
    box = SampleToGroupBox("roll", sample_count=[2, 1], group_description_index=[1, 2])
    assert box.indices(5) == [1, 1, 2, 0, 0]
    with pytest.raises(BmffError, match="more than"):
        box.indices(2)


def test_sgpd_writes_version_1_with_lengths_by_default():
    box = SampleGroupDescriptionBox("zzzz", entries=[UnknownSampleGroupEntry(b"ab"), UnknownSampleGroupEntry(b"")])
    raw = box.to_bytes()
    assert raw[8] == 1 and raw[12:] == b"zzzz" + struct.pack(">III", 0, 2, 2) + b"ab" + struct.pack(">I", 0)
    assert reparse(box) == box


def test_sgpd_default_length_and_version_2():
    box = SampleGroupDescriptionBox("roll", 2, 3, [RollRecoveryEntry(-1), RollRecoveryEntry(5)], version=2)
    raw = box.to_bytes()
    assert raw[12:] == b"roll" + struct.pack(">III", 2, 3, 2) + b"\xff\xff\x00\x05"
    assert reparse(box) == box
    with pytest.raises(BmffError, match="default_length 4"):
        SampleGroupDescriptionBox("roll", 4, entries=[RollRecoveryEntry(1)]).to_bytes()
    with pytest.raises(BmffError, match="needs version 2"):
        SampleGroupDescriptionBox("roll", 2, 3, [RollRecoveryEntry(1)]).to_bytes()


def test_sgpd_version_0_splits_by_size_or_evenly():
    roll = SampleGroupDescriptionBox("prol", entries=[AudioPreRollEntry(1), AudioPreRollEntry(-2)], version=0)
    assert reparse(roll) == roll
    raw = SampleGroupDescriptionBox("abcd", entries=[UnknownSampleGroupEntry(b"xyz")] * 2, version=0).to_bytes()
    odd = struct.pack(">I", len(raw) + 1) + raw[4:] + b"!"
    (back,) = bmff.parse(odd).boxes
    assert [e.data for e in back.entries] == [b"xyz", b"xyz"] and back.trailing == b"!"
    assert back.to_bytes() == odd


def test_amd1_entries_are_registered_and_typed():
    assert entry_class("stmi") is SampleToMetadataItemEntry and entry_class("nfas") is NnpfaSampleGroupEntry
    nfcs = SampleGroupDescriptionBox("nfcs", entries=[
        NnpfcSeiSampleGroupEntry("nnet", [5], b"\xd2\x02\x00\x80"), NnpfcSeiSampleGroupEntry("nnet", [], b"")])
    stmi = SampleGroupDescriptionBox("stmi", entries=[SampleToMetadataItemEntry("nnet", [1, 2])])
    nfas = SampleGroupDescriptionBox("nfas", entries=[NnpfaSampleGroupEntry(b"\1")])
    for box in (nfcs, stmi, nfas):
        back = reparse(box)
        assert back == box and type(back.entries[0]) is type(box.entries[0])


def test_rejected_entry_stays_bytes_with_the_reason():
    raw = SampleGroupDescriptionBox("stmi", entries=[UnknownSampleGroupEntry(b"nnet\0\0\0\x09")]).to_bytes()
    (back,) = bmff.parse(raw).boxes
    (entry,) = back.entries
    assert isinstance(entry, UnknownSampleGroupEntry) and "entry count 9" in entry.parse_error
    assert back.to_bytes() == raw


def test_user_registered_entry_type():
    @register_entry
    class Marker:
        GROUPING_TYPE = "mrk!"

        def __init__(self, data):
            self.data = data

        @classmethod
        def parse(cls, data):
            return cls(data[::-1])

        def to_bytes(self):
            return self.data[::-1]

    back = reparse(SampleGroupDescriptionBox("mrk!", entries=[Marker(b"olleh")]))
    assert isinstance(back.entries[0], Marker) and back.entries[0].data == b"olleh"


def test_absurd_entry_counts():
    raw = SampleGroupDescriptionBox("zzzz", entries=[UnknownSampleGroupEntry(b"a")]).to_bytes()
    with pytest.raises(BmffError, match="entry count"):
        bmff.parse(raw[:20] + b"\x7f\xff\xff\xff" + raw[24:])
    raw = SampleToGroupBox("roll", sample_count=[1], group_description_index=[1]).to_bytes()
    with pytest.raises(BmffError, match="entry count"):
        bmff.parse(raw[:16] + b"\x7f\xff\xff\xff" + raw[20:])


# --------------------------------------------------------------------------------------------- properties

u32 = st.integers(0, 2 ** 32 - 1)
fourcc = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=4, max_size=4)


@st.composite
def sbgp(draw):
    version = draw(st.integers(0, 1))
    rows = draw(st.lists(st.tuples(u32, u32), max_size=6))
    return SampleToGroupBox(draw(fourcc), draw(u32) if version else 0, [r[0] for r in rows], [r[1] for r in rows],
                            version=version)


@st.composite
def sgpd(draw):
    version = draw(st.integers(1, 2))
    kind = draw(st.sampled_from(["roll", "stmi", "nfcs", "nfas", "unknown"]))
    entry = {"roll": st.builds(RollRecoveryEntry, st.integers(-2 ** 15, 2 ** 15 - 1)),
             "stmi": st.builds(SampleToMetadataItemEntry, fourcc, st.lists(u32, max_size=3)),
             "nfcs": st.builds(NnpfcSeiSampleGroupEntry, fourcc, st.lists(u32, max_size=1), st.binary(max_size=9)),
             "nfas": st.builds(NnpfaSampleGroupEntry, st.binary(max_size=5)),
             "unknown": st.builds(UnknownSampleGroupEntry, st.binary(max_size=5))}[kind]
    entries = draw(st.lists(entry, max_size=4))
    grouping_type = "zzzz" if kind == "unknown" else kind
    lengths = {len(e.to_bytes()) for e in entries}
    default_length = lengths.pop() if len(lengths) == 1 and 0 not in lengths and draw(st.booleans()) else 0
    return SampleGroupDescriptionBox(grouping_type, default_length, draw(u32) if version == 2 else 0, entries,
                                     version=version)


sgpd_v0 = st.builds(SampleGroupDescriptionBox, st.just("roll"),
                    entries=st.lists(st.builds(RollRecoveryEntry, st.integers(-2 ** 15, 2 ** 15 - 1)), max_size=4),
                    version=st.just(0))


@settings(max_examples=200, deadline=None)
@given(sbgp() | sgpd() | sgpd_v0)
def test_random_sample_group_boxes_round_trip(box):
    assert reparse(box) == box


# --------------------------------------------------------------------------------------------- real files


@pytest.mark.parametrize("name", ["av.mp4", "av.mov"])
def test_ffmpeg_audio_roll_groups(media, name):
    f = bmff.parse(media[name])
    stbl = f.find_all("moov/trak")[1].find("mdia/minf/stbl")
    sgpd_box, sbgp_box = stbl.find("sgpd"), stbl.find("sbgp")
    assert isinstance(sgpd_box.entries[0], RollRecoveryEntry) and sgpd_box.entries[0].roll_distance == -1
    assert sbgp_box.grouping_type == "roll" and sum(sbgp_box.sample_count) == stbl.find("stsz").sample_count
    assert f.to_bytes() == media[name].read_bytes()
    for raw in leaf_bytes(media[name], {"sgpd", "sbgp"}):
        assert_robust(raw, mutations=200)


def test_nfcs_groups_fuzz():
    box = SampleGroupDescriptionBox("nfcs", entries=[NnpfcSeiSampleGroupEntry("nnet", [5], b"\xd2\x02\x00\x80")])
    assert_robust(box.to_bytes(), mutations=300)
    assert_robust(SampleToGroupBox("nfcs", 5, [2, 3], [1, 0], version=1).to_bytes(), mutations=100)
