"""Tracks of a parsed movie and their samples: the sample tables (through the stbl read view of
bmff.boxes.sample_table) and the movie fragments (ISO/IEC 14496-12 §8.6-8.8), plus reading a sample's bytes.

Track runs are resolved per run, never per sample, so a run that claims billions of samples costs nothing
until a caller iterates them.
"""

from __future__ import annotations

import bisect
import itertools
import operator
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Iterator, NamedTuple

from .box import BmffError, Box, UnknownBox
from .boxes.sample_table import SampleTable
from .io import File


@dataclass(frozen=True)
class Track:
    trak: Box
    track_ID: int | None  # None when 'tkhd' is missing or unreadable
    handler_type: str | None

    @property
    def name(self) -> str:
        return f"track {self.track_ID}" if self.track_ID is not None else "track ?"


class Sample(NamedTuple):
    """One sample (a tuple: millions are made per track, and a frozen dataclass costs several times more)."""

    number: int  # 1-based, as stss/sbgp count samples
    offset: int
    size: int
    sync: bool
    sample_description_index: int
    decode_time: int | None  # in the media timescale (None: a fragment without 'tfdt' and no earlier time)


def _parsed(box: Box | None) -> Box | None:
    """The box when its own parser read it; None when missing or kept as raw bytes (unknown, damaged)."""
    return None if box is None or isinstance(box, UnknownBox) else box


def track_id(trak: Box) -> int | None:
    """The track_ID of a 'trak' (None when 'tkhd' is missing or unreadable)."""
    return getattr(_parsed(trak.find("tkhd")), "track_ID", None)


def tracks(f: File) -> list[Track]:
    """Every 'trak' of the movie, in file order."""
    out = []
    for trak in f.find_all("moov/trak"):
        hdlr = _parsed(trak.find("mdia/hdlr"))
        out.append(Track(trak, track_id(trak), getattr(hdlr, "handler_type", None)))
    return out


TABLES = ("stsd", "stts", "ctts", "stsc", "stsz", "stz2", "stco", "co64", "stss")


def sample_table(trak: Box) -> SampleTable:
    """The read view of the track's 'stbl'; BmffError when it or one of its tables could not be read."""
    stbl = _parsed(trak.find("mdia/minf/stbl"))
    if stbl is None:
        raise BmffError("the track has no readable 'mdia/minf/stbl'")
    unread = [c.type for c in stbl.boxes if c.type in TABLES and _parsed(c) is None]
    if unread:
        raise BmffError(f"sample table box(es) {unread} could not be read (unknown version?)")
    return SampleTable(stbl)


def sample_entries(trak: Box) -> list[Box]:
    """The sample entries of 'stsd' (1-based sample_description_index i is element i-1)."""
    stsd = _parsed(trak.find("mdia/minf/stbl/stsd"))
    return list(stsd.boxes) if stsd is not None else []


def sample_count(trak: Box) -> int:
    return sample_table(trak).sample_count


class SampleList(Sequence):
    """The samples of a track's sample tables, resolved from the tables' own runs: per chunk (offset, first
    sample, count, sample_description_index), the sizes (one constant, or the 'stsz' entries), the 'stts' runs
    and the 'stss' numbers. Memory grows with the tables' entries, never with the samples a constant-size run
    claims (a 200-byte 'moov' may claim 2^24); iterating streams through C-level itertools, indexing bisects,
    and a Sample is made only for the one asked for. Slices are lists of Samples."""

    def __init__(self, st: SampleTable):
        self._chunk_offsets, self._firsts, self._counts, self._descriptions = st.chunk_columns()
        self._sync = st.sync_numbers()
        self._run_counts, self._deltas = st.time_runs()
        self._constant, self._sizes = st.size_table()  # every table is checked before any sample is resolved
        self._count = st.sample_count
        self._prefix: array | None = None  # bytes of the samples before each one, made on the first index
        self._run_starts = list(itertools.accumulate(self._run_counts, initial=0))
        self._run_times = list(itertools.accumulate(map(operator.mul, self._run_counts, self._deltas),
                                                    initial=0))

    def __len__(self) -> int:
        return self._count

    def _size_iter(self) -> Iterator[int]:
        return itertools.repeat(self._constant, self._count) if self._sizes is None else iter(self._sizes)

    def _before(self) -> Sequence[int]:
        """The bytes of the samples before each sample (and after the last): a range for a constant size, else
        a running sum made once (8 bytes a sample, for a table that stores 4 bytes a sample in the file)."""
        if self._sizes is None:
            return range(0, (self._count + 1) * self._constant, self._constant)
        if self._prefix is None:
            self._prefix = array("Q", itertools.accumulate(self._sizes, initial=0))
        return self._prefix

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if not -len(self) <= i < len(self):
            raise IndexError(f"sample index {i} out of range ({len(self)} samples)")
        i %= len(self)
        c, r = bisect.bisect_right(self._firsts, i) - 1, bisect.bisect_right(self._run_starts, i) - 1
        before = self._before()
        return Sample(i + 1, self._chunk_offsets[c] + before[i] - before[self._firsts[c]],
                      self._constant if self._sizes is None else self._sizes[i],
                      self._sync is None or _contains(self._sync, i + 1), self._descriptions[c],
                      self._run_times[r] + (i - self._run_starts[r]) * self._deltas[r])

    def __iter__(self) -> Iterator[Sample]:
        rows = zip(itertools.count(1), *self._fields())
        return map(tuple.__new__, itertools.repeat(Sample), rows)  # Sample(*row) without its Python-level __new__

    def columns(self) -> dict[str, array | bytearray]:
        """Every sample's Sample fields but `number`, as one array each (`sync` a bytearray of 0/1): all samples
        resolved in C-level passes, no object per sample; for code that reads whole tracks."""
        codes = ("Q", "I", None, "I", "Q")
        try:
            return {name: bytearray(values) if code is None else array(code, values)
                    for name, code, values in zip(Sample._fields[1:], codes, self._fields())}
        except OverflowError:
            raise BmffError("sample offsets or decode times run past 64 bits") from None

    def _fields(self) -> tuple[Iterator[int], ...]:
        """Iterators over every sample's offset, size, sync, sample_description_index and decode_time."""
        per_sample, repeat = itertools.chain.from_iterable, itertools.repeat
        # a sample's offset is its chunk's offset plus the bytes of its chunk's samples before it: the bytes of
        # all samples before it less those before its chunk
        if self._counts.count(1) == len(self._counts) == self._count:  # a chunk per sample (common): as stored
            offsets, descriptions = self._chunk_offsets, self._descriptions
        else:
            before = self._before()
            shifts = map(operator.sub, self._chunk_offsets, map(before.__getitem__, self._firsts))
            offsets = map(operator.add, before, per_sample(map(repeat, shifts, self._counts)))
            descriptions = per_sample(map(repeat, self._descriptions, self._counts))
        sync = repeat(True, self._count)
        if self._sync is not None:  # runs of non-sync samples, each ended by a sync sample; then the rest
            gaps = map(operator.sub, self._sync, [1, *(n + 1 for n in self._sync[:-1])])
            sync = itertools.chain(per_sample(map(itertools.chain, map(repeat, repeat(False), gaps),
                                                  repeat((True,)))), repeat(False))
        times = itertools.accumulate(per_sample(map(repeat, self._deltas, self._run_counts)), initial=0)
        # sync (its last run is endless) and times (its accumulate starts with the 0 before the first sample)
        # run past the last sample: every field stops at it
        fields = (offsets, self._size_iter(), sync, descriptions, times)
        return tuple(itertools.islice(it, self._count) for it in fields)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))


def _contains(sorted_values: list[int], value: int) -> bool:
    k = bisect.bisect_left(sorted_values, value)
    return k < len(sorted_values) and sorted_values[k] == value


def samples(trak: Box) -> SampleList:
    """Every sample of the track's sample tables in decode order; BmffError when the tables disagree."""
    return SampleList(sample_table(trak))


def read_sample(f: File, sample: Sample) -> bytes:
    """The bytes of one sample from the file's source."""
    if f.source is None:
        raise BmffError("the file was not parsed from a source: sample bytes are not available")
    if sample.offset < 0 or sample.offset + sample.size > f.source.size:
        raise BmffError(f"sample {sample.number} [{sample.offset}, {sample.offset + sample.size}) runs outside "
                        f"the file ({f.source.size} bytes)", sample.offset)
    return f.source.read_at(sample.offset, sample.size)


@dataclass(frozen=True)
class SampleSizes:
    """A run's sample sizes as a sequence: a default (constant) size is never expanded, its count may be huge."""

    count: int
    constant: int  # used when `entries` is None
    entries: list[int] | None

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int) -> int:
        return self.constant if self.entries is None else self.entries[i]

    def total(self) -> int:
        return self.count * self.constant if self.entries is None else sum(self.entries)


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
        return self.sizes.total()


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
                sizes = SampleSizes(trun.sample_count, _default(tfhd, trex, "sample_size"), trun.sample_size)
                run = Run(moof_offset, tfhd.track_ID, traf, trun, j == 0, position, sizes, sdi)
                position += run.data_size
                if track_ID is None or tfhd.track_ID == track_ID:
                    yield run
            previous_end = position


def track_fragments(f: File, track_ID: int) -> list[tuple[Box, int]]:
    """(traf, its number of samples) for each track fragment of the track, in file order."""
    out = []
    for moof in (b for b in f.boxes if b.type == "moof"):
        for traf in (t for t in moof.boxes if t.type == "traf"):
            tfhd = _parsed(traf.find("tfhd"))
            if tfhd is not None and tfhd.track_ID == track_ID:
                truns = [t for t in traf.boxes if t.type == "trun" and _parsed(t) is not None]
                out.append((traf, sum(t.sample_count for t in truns)))
    return out


def fragment_samples(f: File, track_ID: int) -> Iterator[Sample]:
    """The samples of one track stored in movie fragments, numbered after the moov's own samples."""
    trak = next((t.trak for t in tracks(f) if t.track_ID == track_ID), None)
    try:
        number = sample_count(trak) if trak is not None else 0
    except BmffError:
        number = 0  # the moov's own tables are unreadable: number the fragments' samples from 1
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
