"""Synthetic one-track movies: ftyp + moov + mdat with consistent sample tables, for tests and benchmarks.

`write_movie` writes the mdat payload sparsely (a seek to the end, no data written), so a 1 GB file costs
no time or disk; `movie_boxes` returns the boxes for in-memory use.
"""

from __future__ import annotations

import os

from ..box import Box, write_header
from ..boxes.file import FileTypeBox, MediaDataBox, MovieBox
from ..boxes.movie import (
    DataEntryUrlBox,
    DataInformationBox,
    DataReferenceBox,
    HandlerBox,
    MediaBox,
    MediaHeaderBox,
    MediaInformationBox,
    MovieHeaderBox,
    TrackBox,
    TrackHeaderBox,
    VideoMediaHeaderBox,
)
from ..boxes.sample_table import (
    ChunkLargeOffsetBox,
    ChunkOffsetBox,
    SampleDescriptionBox,
    SampleSizeBox,
    SampleTableBox,
    SampleToChunkBox,
    SyncSampleBox,
    TimeToSampleBox,
    VisualSampleEntry,
)


def sample_table(sizes: list[int], samples_per_chunk: int, first_offset: int, large_offsets: bool = False,
                 sync_every: int = 30, sample_delta: int = 512) -> SampleTableBox:
    """stbl for samples stored back to back from first_offset, in chunks of samples_per_chunk samples."""
    n_chunks = -(-len(sizes) // samples_per_chunk)
    offsets, pos = [], first_offset
    for c in range(n_chunks):
        offsets.append(pos)
        pos += sum(sizes[c * samples_per_chunk : (c + 1) * samples_per_chunk])
    stsc_first, stsc_spc = [1], [samples_per_chunk]
    last = len(sizes) - (n_chunks - 1) * samples_per_chunk
    if n_chunks > 1 and last != samples_per_chunk:
        stsc_first.append(n_chunks)
        stsc_spc.append(last)
    uniform = len(set(sizes)) == 1
    co = ChunkLargeOffsetBox(offsets) if large_offsets else ChunkOffsetBox(offsets)
    return SampleTableBox(children=[
        SampleDescriptionBox(children=[VisualSampleEntry("avc1", width=64, height=48)]),
        TimeToSampleBox(sample_count=[len(sizes)], sample_delta=[sample_delta]),
        SampleToChunkBox(stsc_first, stsc_spc, [1] * len(stsc_first)),
        SampleSizeBox(sizes[0] if uniform else 0, len(sizes), [] if uniform else list(sizes)),
        co,
        SyncSampleBox(list(range(1, len(sizes) + 1, sync_every))),
    ])


def movie_box(sizes: list[int], samples_per_chunk: int, first_offset: int, timescale: int = 15360,
              sample_delta: int = 512) -> MovieBox:
    """A one-track video moov; chunk offsets are 64-bit when the media may end past 4 GiB."""
    duration = len(sizes) * sample_delta
    minf = MediaInformationBox(children=[
        VideoMediaHeaderBox(),
        DataInformationBox(children=[DataReferenceBox(children=[DataEntryUrlBox()])]),
        sample_table(sizes, samples_per_chunk, first_offset, sum(sizes) > 0xFFFFFFFF - (1 << 26),
                     sample_delta=sample_delta)])
    trak = TrackBox(children=[
        TrackHeaderBox(track_ID=1, duration=duration * 1000 // timescale, width=64 << 16, height=48 << 16),
        MediaBox(children=[MediaHeaderBox(timescale=timescale, duration=duration),
                           HandlerBox(handler_type="vide", name="synthetic"), minf])])
    return MovieBox(children=[MovieHeaderBox(duration=duration * 1000 // timescale, next_track_ID=2), trak])


def movie_boxes(sizes: list[int], samples_per_chunk: int = 10, payload: bytes | None = None,
                moov_last: bool = False) -> list[Box]:
    """ftyp, moov, mdat (or ftyp, mdat, moov) with the samples back to back in mdat (payload: zeros of the
    right size by default)."""
    ftyp = FileTypeBox("isom", 512, ["isom", "avc1"])
    total = sum(sizes)
    mdat = MediaDataBox(data=bytes(total) if payload is None else payload)
    mdat_header = len(write_header("mdat", total))
    if moov_last:
        return [ftyp, mdat, movie_box(sizes, samples_per_chunk, len(ftyp.to_bytes()) + mdat_header)]
    placeholder = movie_box(sizes, samples_per_chunk, 0)
    # Chunk offsets are fixed-width, so the moov's size does not depend on their values.
    first = len(ftyp.to_bytes()) + len(placeholder.to_bytes()) + mdat_header
    return [ftyp, movie_box(sizes, samples_per_chunk, first), mdat]


def write_movie(path: str | os.PathLike, sizes: list[int], samples_per_chunk: int = 10) -> int:
    """Write the movie with a sparse (unwritten, zero) mdat payload; returns the file size."""
    ftyp, moov, _ = movie_boxes(sizes, samples_per_chunk, payload=b"")
    total = sum(sizes)
    head = ftyp.to_bytes() + moov.to_bytes() + write_header("mdat", total)
    with open(path, "wb") as fp:
        fp.write(head)
        fp.truncate(len(head) + total)
    return len(head) + total
