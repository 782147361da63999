"""bmff.tracks: samples from the sample tables and from movie fragments, and their bytes."""

import pytest

import bmff
from bmff import synth, tracks
from bmff.box import Source, write_header
from bmff.boxes.fragments import (MovieFragmentBox, MovieFragmentHeaderBox, TrackFragmentBox,
                                  TrackFragmentHeaderBox, TrackRunBox)


def test_samples_from_tables_and_their_bytes():
    sizes = [3, 1, 4, 1, 5, 9, 2, 6]
    payload = bytes(range(1, sum(sizes) + 1))
    f = bmff.parse(b"".join(b.to_bytes() for b in synth.movie_boxes(sizes, 3, payload=payload)))
    (t,) = tracks.tracks(f)
    assert (t.track_ID, t.handler_type, t.name) == (1, "vide", "track 1")
    assert [e.type for e in tracks.sample_entries(t.trak)] == ["avc1"]
    samples = tracks.samples(t.trak)
    assert [s.size for s in samples] == sizes and tracks.sample_count(t.trak) == 8
    assert [s.decode_time for s in samples] == [512 * i for i in range(8)]
    assert [s.sync for s in samples] == [True] + [False] * 7
    mdat_start = f.boxes[2].header.body_offset
    assert samples[0].offset == mdat_start and samples[3].offset == mdat_start + 8
    data = b"".join(tracks.read_sample(f, s) for s in samples)
    assert data == payload


def test_read_sample_past_the_end():
    raw = b"".join(b.to_bytes() for b in synth.movie_boxes([10, 10], 1))
    f = bmff.parse(raw)
    s = tracks.samples(f.find("moov/trak"))[1]
    cut = bmff.File(f.boxes, source=Source(raw[:-5]))  # the tree of the whole file over a truncated source
    with pytest.raises(bmff.BmffError, match=r"sample 2 \[\d+, \d+\) runs outside the file"):
        tracks.read_sample(cut, s)
    with pytest.raises(bmff.BmffError, match=r"sample 2 \[-3, 7\) runs outside"):
        tracks.read_sample(f, s._replace(offset=-3))
    assert tracks.read_sample(f, s) == bytes(10)


def fragmented(second_traf_flags):
    """A moov-less fragment of two trafs of track 1: 2 samples of 10 bytes, then 1 sample of 7 bytes."""
    def traf(flags, sizes, data_offset):
        return TrackFragmentBox(children=[TrackFragmentHeaderBox(1, flags=flags),
                                          TrackRunBox(len(sizes), data_offset, sample_size=sizes,
                                                      flags=0x000201 if data_offset is not None else 0x000200)])

    def moof(offset_first, offset_second):
        return MovieFragmentBox(children=[MovieFragmentHeaderBox(1), traf(0x020000, [10, 10], offset_first),
                                          traf(second_traf_flags, [7], offset_second)])

    size = len(moof(0, 0).to_bytes())
    # with default-base-is-moof the run says where its data is; without, it follows the first traf's data
    second = size + 8 + 20 if second_traf_flags & 0x020000 else None
    box = moof(size + 8, second)
    return box.to_bytes() + write_header("mdat", 27) + bytes(27), size


@pytest.mark.parametrize("flags", [0x020000, 0])
def test_fragment_runs_follow_base_offset_rules(flags):
    raw, moof_size = fragmented(flags)
    f = bmff.parse(raw)
    runs = list(tracks.runs(f, 1))
    assert [(r.data_start, r.data_size) for r in runs] == [(moof_size + 8, 20), (moof_size + 8 + 20, 7)]
    samples = list(tracks.fragment_samples(f, 1))
    assert [(s.number, s.size) for s in samples] == [(1, 10), (2, 10), (3, 7)]
