"""bmff.tracks: samples from the sample tables and from movie fragments, and their bytes."""

import itertools
import tracemalloc

import pytest

import bmff
from bmff import tracks, validate
from bmff.box import Source, write_header
from bmff.boxes.fragments import (
    MovieFragmentBox,
    MovieFragmentHeaderBox,
    TrackFragmentBox,
    TrackFragmentHeaderBox,
    TrackRunBox,
)
from bmff.boxes.movie import MediaBox, MediaInformationBox, TrackBox
from bmff.boxes.sample_table import (
    ChunkLargeOffsetBox,
    SampleDescriptionBox,
    SampleSizeBox,
    SampleTableBox,
    SampleToChunkBox,
    SyncSampleBox,
    TimeToSampleBox,
    VisualSampleEntry,
)
from bmff.testing import synth


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


def _reference_samples(sizes, chunk_offsets, stsc, stts, stss):
    """The samples of sample tables, by the clauses read one sample at a time (8.6.1.2, 8.7.4, 8.6.2)."""
    out, n = [], 0
    firsts = [first for first, _, _ in stsc] + [len(chunk_offsets) + 1]
    deltas = [d for count, d in stts for _ in range(count)]
    for (first, spc, sdi), end in zip(stsc, firsts[1:]):
        for chunk in range(first, end):
            offset = chunk_offsets[chunk - 1]
            for _ in range(min(spc, len(sizes) - n)):
                out.append(tracks.Sample(n + 1, offset, sizes[n], n + 1 in stss, sdi, sum(deltas[:n])))
                offset += sizes[n]
                n += 1
    return out


def _sample_table_trak(sizes, chunk_offsets, stsc, stts, stss, constant=0):
    stbl = SampleTableBox(children=[
        SampleDescriptionBox(children=[VisualSampleEntry("avc1"), VisualSampleEntry("avc1")]),
        TimeToSampleBox(sample_count=[c for c, _ in stts], sample_delta=[d for _, d in stts]),
        SampleToChunkBox(*map(list, zip(*stsc))),
        SampleSizeBox(constant, len(sizes), [] if constant else sizes),
        ChunkLargeOffsetBox(chunk_offsets), SyncSampleBox(stss)])
    return TrackBox(children=[MediaBox(children=[MediaInformationBox(children=[stbl])])]), stbl


def test_sample_list_agrees_with_the_tables_read_sample_by_sample():
    """Two stsc runs (the first starting at chunk 1, a second description), a last chunk that promises more
    samples than remain, stts runs and an stss: the SampleList, iterated or indexed, gives every Sample the
    clauses give."""
    sizes = [5, 7, 1, 300, 2, 2, 9, 4, 6, 70000]
    chunk_offsets = [1000, 2000, 5000, 1 << 33]
    stsc = [(1, 3, 1), (3, 2, 2), (4, 5, 2)]  # chunk 4 promises 5 samples, 2 remain
    stts = [(4, 512), (6, 1001)]
    trak, stbl = _sample_table_trak(sizes, chunk_offsets, stsc, stts, [1, 4, 9])
    samples = tracks.samples(trak)
    expected = _reference_samples(sizes, chunk_offsets, stsc, stts, [1, 4, 9])
    assert list(samples) == expected == [samples[i] for i in range(len(samples))] and samples == expected
    assert [list(c) for c in samples.columns().values()] == [list(c) for c in list(zip(*expected))[1:]]
    assert samples[-1] == expected[-1] and samples[2:4] == expected[2:4] and len(samples) == 10
    assert samples[9].offset == (1 << 33) + 6 and samples[8].sample_description_index == 2
    with pytest.raises(IndexError):
        samples[10]
    stbl.find("stsc").samples_per_chunk[-1] = 1  # now the chunks hold 9 of the 10 samples
    with pytest.raises(bmff.BmffError, match="chunks hold 9 samples, the sample size table lists 10"):
        tracks.samples(trak)


@pytest.mark.parametrize("constant", [0, 6])
def test_sample_list_of_a_chunk_per_sample_and_of_a_constant_size(constant):
    """One sample per chunk (iteration then reads the chunk table as it is), a constant size (nothing
    expanded), an empty chunk and a repeated, unordered stss: the same Samples as the clauses."""
    sizes = [constant or s for s in (3, 1, 4, 1, 5, 9)]
    chunk_offsets = [10, 20, 40, 80, 160, 320, 640]
    stsc = [(1, 1, 1), (3, 0, 2), (4, 1, 2)]  # chunk 3 holds no sample
    stss = [5, 2, 2]
    trak, _ = _sample_table_trak(sizes, chunk_offsets, stsc, [(6, 7)], stss, constant)
    samples = tracks.samples(trak)
    expected = _reference_samples(sizes, chunk_offsets, stsc, [(6, 7)], stss)
    assert list(samples) == expected == [samples[i] for i in range(6)] == samples[::-1][::-1]
    columns = samples.columns()
    assert [list(c) for c in columns.values()] == [list(c) for c in list(zip(*expected))[1:]]
    assert list(columns) == ["offset", "size", "sync", "sample_description_index", "decode_time"]


def test_a_million_constant_size_samples_stay_within_8_bytes_a_file_byte():
    """A 20-byte constant-size 'stsz' describes 2^20 samples of a 1.2 MB file: validate builds nothing per
    sample, and neither does the SampleList (lists of ints took over 100 MB, columns 25 bytes a sample)."""
    n = 1 << 20
    raw = b"".join(b.to_bytes() for b in synth.movie_boxes([1] * n, n))
    f = bmff.parse(raw)
    bound = 8 * len(raw) + 20_000_000
    for run in (lambda: validate.run_checks(f), lambda: tracks.samples(f.find("moov/trak"))):
        tracemalloc.start()
        try:
            result = run()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < bound, f"peak {peak / 1e6:.1f} MB for a {len(raw) / 1e6:.1f} MB file"
    assert result[-1].offset == len(raw) - 1 and len(result) == n


def test_a_tiny_moov_claiming_2_to_the_24_samples_costs_no_memory_per_sample():
    """ftyp + a moov of a few hundred bytes whose constant-size 'stsz', one 'stts' run and one 'stsc' run claim
    2^24 samples in one chunk (the limit): the SampleList is made in well under 1 MB (columns took ~420 MB),
    its last sample is exact, and iterating streams (first samples without expanding the rest)."""
    n = 1 << 24
    ftyp, moov, _ = synth.movie_boxes([3] * 8, 8, payload=b"")
    moov.find("trak/mdia/minf/stbl/stsz").sample_count = n
    moov.find("trak/mdia/minf/stbl/stts").sample_count[0] = n
    moov.find("trak/mdia/minf/stbl/stsc").samples_per_chunk[0] = n
    raw = ftyp.to_bytes() + moov.to_bytes()
    assert len(raw) < 1000
    f = bmff.parse(raw)
    tracemalloc.start()
    try:
        listed = tracks.samples(f.find("moov/trak"))
        last, head = listed[-1], list(itertools.islice(listed, 3))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000, f"peak {peak / 1e6:.1f} MB"
    first = head[0].offset
    delta = moov.find("trak/mdia/minf/stbl/stts").sample_delta[0]
    stss = moov.find("trak/mdia/minf/stbl/stss")
    sync = stss is None or n in stss.sample_number
    assert len(listed) == n and last == tracks.Sample(n, first + 3 * (n - 1), 3, sync, 1, delta * (n - 1))
    assert [s.offset for s in head] == [first, first + 3, first + 6]
