"""Mutation fuzzing of the whole library: what tests/bmff/test_fuzz.py and benchmarks/bmff_fuzz.py run.

`mutate` damages a real file the way broken files are damaged (bit flips, edge values over box sizes and
the count-like words after headers, truncation, dropped/duplicated/spliced ranges); `exercise` runs an
input through everything a user can do with it. Any exception other than BmffError escaping `exercise` is a
bug, and so is a file that parses but does not write back the same bytes.
"""

from __future__ import annotations

import itertools
import random
import struct

from . import tracks
from .box import BmffError
from .dump import file_json, file_lines
from .io import parse
from .validate import parse_lenient, run_checks

EDGE_U32 = (0, 1, 7, 8, 9, 15, 16, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF)
EDGE_U8 = (0, 1, 0x7F, 0x80, 0xFF)
WORD_OFFSETS = (0, 8, 12, 16, 20, 24)  # from a box header: size, version/flags, the first body fields
MAX_FRAGMENT_SAMPLES = 10_000  # fragment samples are lazy and may be claimed by the billion: look at a few


def header_offsets(raw: bytes) -> list[int]:
    """Absolute offsets of every box header of a file that parses."""
    return [b.header.offset for b in parse(raw).walk() if b.header is not None]


def mutate(rng: random.Random, raw: bytes, headers: list[int], seeds: list[bytes]) -> bytes:
    """One to three random mutations of raw (headers: its box header offsets; seeds: files to splice from)."""
    data = bytearray(raw)
    for _ in range(rng.randint(1, 3)):
        if not data:
            break
        op = rng.randrange(6)
        if op == 0:  # bit flips
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        elif op == 1:  # an edge byte anywhere
            data[rng.randrange(len(data))] = rng.choice(EDGE_U8)
        elif op == 2:  # an edge u32 over a box size, a version/flags word or the first count-like fields
            at = rng.choice(headers) + rng.choice(WORD_OFFSETS)
            value = rng.choice(EDGE_U32) if rng.random() < 0.7 else rng.getrandbits(32)
            data[at : at + 4] = struct.pack(">I", value)[: len(data[at : at + 4])]
        elif op == 3:  # truncation
            del data[rng.randrange(len(data)) :]
        elif op == 4:  # drop or duplicate a short range
            i = rng.randrange(len(data))
            j = min(len(data), i + rng.randint(1, 64))
            if rng.random() < 0.5:
                del data[i:j]
            else:
                data[i:i] = data[i:j]
        else:  # splice in a range of another seed
            other = rng.choice(seeds)
            i, k = rng.randrange(len(data)), rng.randrange(len(other))
            data[i : i + rng.randint(1, 64)] = other[k : k + rng.randint(1, 64)]
    return bytes(data)


def _read_tracks(f) -> None:
    """Resolve every track's samples (tables, then fragments) and read the first and last of each."""
    for t in tracks.tracks(f):
        for resolve in (lambda: tracks.samples(t.trak),
                        lambda: list(itertools.islice(tracks.fragment_samples(f, t.track_ID), MAX_FRAGMENT_SAMPLES))):
            try:
                found = resolve()
                for s in found[:1] + found[-1:]:
                    tracks.read_sample(f, s)
            except BmffError:
                pass


def exercise(raw: bytes, dump: bool = True) -> str | None:
    """Parse (leniently where the strict parse fails), write back, validate, read the tracks, dump.

    Returns None when all went as it should, else what went wrong; exceptions other than BmffError escape.
    """
    try:
        f = parse(raw)
    except BmffError:
        f, _ = parse_lenient(raw)
    try:
        if f.to_bytes() != raw:
            return "round-trip mismatch"
    except BmffError as e:  # it parsed, so it must write back
        return f"round-trip mismatch: writing back raised {e}"
    run_checks(f)
    _read_tracks(f)
    if dump:
        file_json(f)
        for _ in file_lines(f):
            pass
    return None
