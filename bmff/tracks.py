"""Tracks of a parsed movie and their samples, resolved through the sample tables (ISO/IEC 14496-12 §8.6-8.7).

Only the tables are read: per-chunk work is bounded by the chunk offsets present in the file and per-sample
work by the sizes present in the file, so a table that claims billions of samples costs nothing until a
caller iterates them (and `samples` stops where the tables stop agreeing).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Iterator

from .box import Box, BmffError, UnknownBox
from .io import File


@dataclass(frozen=True)
class Track:
    trak: Box
    track_ID: int | None  # None when 'tkhd' is missing or unreadable
    handler_type: str | None

    @property
    def name(self) -> str:
        return f"track {self.track_ID}" if self.track_ID is not None else "track ?"


@dataclass(frozen=True)
class Chunk:
    number: int  # 1-based, as stsc counts chunks
    offset: int  # absolute file offset (stco/co64)
    first_sample: int  # 0-based index of its first sample
    sample_count: int
    sample_description_index: int


@dataclass(frozen=True)
class Sample:
    number: int  # 1-based, as stss/sbgp count samples
    offset: int
    size: int
    sync: bool
    sample_description_index: int
    decode_time: int | None  # in the media timescale, from stts (None past the end of stts)


def _parsed(box: Box | None) -> Box | None:
    """The box when its own parser read it; None when missing or kept as raw bytes (unknown, damaged)."""
    return None if box is None or isinstance(box, UnknownBox) else box


def tracks(f: File) -> list[Track]:
    """Every 'trak' of the movie, in file order."""
    out = []
    for trak in f.find_all("moov/trak"):
        tkhd = _parsed(trak.find("tkhd"))
        hdlr = _parsed(trak.find("mdia/hdlr"))
        out.append(Track(trak, getattr(tkhd, "track_ID", None), getattr(hdlr, "handler_type", None)))
    return out


def stbl(trak: Box) -> Box | None:
    return trak.find("mdia/minf/stbl")


def table(trak: Box, *types: str) -> Box | None:
    """The first parsed box of the given types in the track's 'stbl'."""
    st = stbl(trak)
    if st is None:
        return None
    return next((_parsed(c) for c in st.boxes if c.type in types and _parsed(c) is not None), None)


def sample_entries(trak: Box) -> list[Box]:
    """The sample entries of 'stsd' (1-based sample_description_index i is element i-1)."""
    stsd = table(trak, "stsd")
    return list(stsd.boxes) if stsd is not None else []


@dataclass(frozen=True)
class SampleSizes:
    """stsz/stz2 as a sequence: a constant size is never expanded (its sample_count may be huge)."""

    count: int
    constant: int  # 0: sizes are in `entries`
    entries: list[int]

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int) -> int:
        return self.constant if self.constant else self.entries[i]

    def total(self, start: int, stop: int) -> int:
        """Bytes of samples [start, stop) (0-based)."""
        return (stop - start) * self.constant if self.constant else sum(self.entries[start:stop])


def sample_sizes(trak: Box) -> SampleSizes | None:
    sz = table(trak, "stsz", "stz2")
    if sz is None:
        return None
    if sz.type == "stsz" and sz.sample_size:
        return SampleSizes(sz.sample_count, sz.sample_size, [])
    return SampleSizes(len(sz.entry_size), 0, list(sz.entry_size))


def sample_count(trak: Box) -> int | None:
    sizes = sample_sizes(trak)
    return None if sizes is None else sizes.count


def chunk_offsets(trak: Box) -> list[int] | None:
    co = table(trak, "stco", "co64")
    return list(co.chunk_offset) if co is not None else None


def chunks(trak: Box) -> Iterator[Chunk]:
    """Every chunk with its samples, from stsc over stco/co64; stops at the last chunk offset.

    Raises BmffError when stsc is missing or its first_chunk values do not start at 1 and increase.
    """
    stsc = table(trak, "stsc")
    offsets = chunk_offsets(trak)
    if stsc is None or offsets is None:
        raise BmffError("the track has no readable 'stsc' or 'stco'/'co64'")
    first = list(stsc.first_chunk)
    if first and first[0] != 1 or any(b <= a for a, b in zip(first, first[1:])):
        raise BmffError(f"'stsc' first_chunk values {first[:8]} do not start at 1 and increase")
    sample = 0
    for i, start in enumerate(first):
        stop = first[i + 1] if i + 1 < len(first) else len(offsets) + 1
        for number in range(start, min(stop, len(offsets) + 1)):
            n = stsc.samples_per_chunk[i]
            yield Chunk(number, offsets[number - 1], sample, n, stsc.sample_description_index[i])
            sample += n


def _decode_times(trak: Box) -> Iterator[int]:
    stts = table(trak, "stts")
    t = 0
    for count, delta in zip(stts.sample_count, stts.sample_delta) if stts is not None else ():
        for _ in range(count):
            yield t
            t += delta


def sync_samples(trak: Box) -> set[int] | None:
    """1-based numbers of the sync samples; None when there is no 'stss' (then every sample is one)."""
    stss = table(trak, "stss")
    return set(stss.sample_number) if stss is not None else None


def samples(trak: Box) -> Iterator[Sample]:
    """Every sample in decode order: where it is, how big, whether it is a sync sample, its sample entry.

    Stops after the last size in stsz/stz2; raises BmffError when the chunks run out before the sizes do.
    """
    sizes = sample_sizes(trak)
    if sizes is None:
        raise BmffError("the track has no readable 'stsz'/'stz2'")
    sync = sync_samples(trak)
    times = itertools.chain(_decode_times(trak), itertools.repeat(None))
    index = 0
    for chunk in chunks(trak):
        offset = chunk.offset
        for _ in range(chunk.sample_count):
            if index == len(sizes):
                return
            size = sizes[index]
            index += 1
            yield Sample(index, offset, size, sync is None or index in sync, chunk.sample_description_index,
                         next(times))
            offset += size
    if index < len(sizes):
        raise BmffError(f"the chunks hold {index} samples but 'stsz' sizes {len(sizes)}")


def read_sample(f: File, sample: Sample) -> bytes:
    """The bytes of one sample from the file's source."""
    if f.source is None:
        raise BmffError("the file was not parsed from a source: sample bytes are not available")
    if sample.offset + sample.size > f.source.size:
        raise BmffError(f"sample {sample.number} [{sample.offset}, {sample.offset + sample.size}) runs past the "
                        f"end of the file ({f.source.size} bytes)", sample.offset)
    return f.source.read_at(sample.offset, sample.size)


# --------------------------------------------------------------------------------------------- fragments

NON_SYNC_FLAG = 0x00010000  # sample_is_non_sync_sample in sample_flags (ISO/IEC 14496-12 8.8.3.1)
DEFAULT_BASE_IS_MOOF = 0x020000  # tfhd flag


@dataclass(frozen=True)
class Run:
    """One 'trun' resolved to absolute positions: its data starts at data_start and spans data_size bytes."""

    moof_offset: int
    track_ID: int
    traf: Box
    trun: Box
    first_in_traf: bool
    data_start: int
    sizes: SampleSizes
    sample_description_index: int

    @property
    def data_size(self) -> int:
        return self.sizes.total(0, self.sizes.count)


def _trex(f: File, track_ID: int) -> Box | None:
    return next((t for t in f.find_all("moov/mvex/trex") if getattr(t, "track_ID", None) == track_ID), None)


def _default(tfhd: Box, trex: Box | None, name: str) -> int:
    value = getattr(tfhd, f"default_{name}", None)
    return value if value is not None else getattr(trex, f"default_{name}", 0) if trex is not None else 0


def runs(f: File, track_ID: int | None = None) -> Iterator[Run]:
    """Every track run of every movie fragment (of one track when track_ID is given), in file order.

    Base data offsets follow 8.8.7: an explicit base_data_offset; else the 'moof' when default-base-is-moof is
    set or the 'traf' is the first of its 'moof'; else where the previous traf's data ended. A run without
    data_offset continues where the previous run of its traf ended.
    """
    for moof in (b for b in f.boxes if b.type == "moof"):
        moof_offset = moof.header.offset if moof.header is not None else 0
        previous_end = moof_offset
        for k, traf in enumerate(t for t in moof.boxes if t.type == "traf"):
            tfhd = _parsed(traf.find("tfhd"))
            if tfhd is None:
                continue
            trex = _trex(f, tfhd.track_ID)
            if tfhd.base_data_offset is not None:
                base = tfhd.base_data_offset
            elif tfhd.flags & DEFAULT_BASE_IS_MOOF or k == 0:
                base = moof_offset
            else:
                base = previous_end
            sdi = tfhd.sample_description_index or getattr(trex, "default_sample_description_index", 1)
            position = base
            truns = [t for t in traf.boxes if t.type == "trun" and _parsed(t) is not None]
            for j, trun in enumerate(truns):
                if trun.data_offset is not None:
                    position = base + trun.data_offset
                sizes = SampleSizes(trun.sample_count, 0, trun.sample_size) if trun.sample_size is not None \
                    else SampleSizes(trun.sample_count, _default(tfhd, trex, "sample_size"), [])
                run = Run(moof_offset, tfhd.track_ID, traf, trun, j == 0, position, sizes, sdi)
                position += run.data_size
                if track_ID is None or tfhd.track_ID == track_ID:
                    yield run
            previous_end = position


def fragment_samples(f: File, track_ID: int) -> Iterator[Sample]:
    """The samples of one track stored in movie fragments, numbered after the moov's own samples."""
    trak = next((t.trak for t in tracks(f) if t.track_ID == track_ID), None)
    number = (sample_count(trak) or 0) if trak is not None else 0
    trex = _trex(f, track_ID)
    decode_time = None
    for run in runs(f, track_ID):
        tfhd, tfdt, trun = run.traf.find("tfhd"), _parsed(run.traf.find("tfdt")), run.trun
        if tfdt is not None and run.first_in_traf:
            decode_time = tfdt.baseMediaDecodeTime
        offset = run.data_start
        for i in range(trun.sample_count):
            flags = trun.first_sample_flags if i == 0 and trun.first_sample_flags is not None else \
                trun.sample_flags[i] if trun.sample_flags is not None else _default(tfhd, trex, "sample_flags")
            duration = trun.sample_duration[i] if trun.sample_duration is not None else \
                _default(tfhd, trex, "sample_duration")
            number += 1
            yield Sample(number, offset, run.sizes[i], not flags & NON_SYNC_FLAG, run.sample_description_index,
                         decode_time)
            offset += run.sizes[i]
            decode_time = None if decode_time is None else decode_time + duration
