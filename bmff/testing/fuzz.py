"""Mutation fuzzing of the whole library: what tests/bmff/test_fuzz.py and benchmarks/bmff_fuzz.py run.

`mutate` damages a real file the way broken files are damaged (bit flips, edge values over box sizes and
the count-like words after headers, truncation, dropped/duplicated/spliced ranges); `exercise` runs an
input through everything a user can do with it, the Amd 1 readers included. Any exception other than
BmffError escaping `exercise` is a bug, and so is a file that parses but does not write back the same bytes.
`seeds` are the test fixtures plus copies carrying a post-filter (an 'nnr1' item, 'resv', 'nfcs' groups in
'stbl' or in every 'traf'), so mutations reach the Amd 1 structures (the corpus of benchmarks/bmff_fuzz.py --coverage).
"""

from __future__ import annotations

import itertools
import random
import struct
from pathlib import Path

from .. import amd1, edit, tracks
from ..box import BmffError
from ..dump import file_json, file_json_chunks, file_lines
from ..io import parse
from ..nnr_units import build_raw_float_bitstream, parse_units
from ..validate import metas, parse_lenient, run_checks

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


def _read_amd1(f) -> None:
    """Every Amd 1 reader over every track and MetaBox: sample groups (movie and fragments), sample entry SEI,
    the 4.19.7 reconstruction, NNR items and their bitstreams."""
    for _, trak in amd1.tracks(f):
        for read in (lambda: amd1.nfcs_entries(f, trak), lambda: amd1.nfcs_groups(f, trak),
                     lambda: [amd1.sample_entry_sei(e) for e in amd1.sample_entries(trak)],
                     lambda: list(itertools.islice(amd1.reconstruct_track(f, trak), MAX_FRAGMENT_SAMPLES))):
            try:
                read()
            except BmffError:
                pass
    for _, meta in metas(f):
        try:
            amd1.properties(meta), list(amd1.references(meta, "pred"))
            for item_id, item_type in amd1.item_types(meta).items():
                amd1.item_properties(meta, item_id)
                if item_type == "nnr1":
                    parse_units(amd1.nnr_bitstream(f, meta, item_id))
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
    _read_amd1(f)
    if dump:
        file_json(f)
        for _ in itertools.chain(file_json_chunks(f), file_lines(f)):
            pass
    return None


FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "bmff" / "fixtures"
SEED_BITSTREAM = build_raw_float_bitstream([("w", [2], struct.pack("<2f", 0.5, -1.0))])


def seeds(folder: Path = FIXTURES) -> list[bytes]:
    """The real files of the fixtures folder, and each video one again with a post-filter and its update."""
    files = [p.read_bytes() for p in sorted(folder.iterdir()) if p.suffix in (".mp4", ".mov", ".heic")]
    annotated = []
    for raw in files:
        f = parse(raw)
        try:
            base = amd1.add_post_filter(f, SEED_BITSTREAM)
            amd1.add_post_filter(f, SEED_BITSTREAM, base_item=base)
        except BmffError:
            continue  # no AVC/HEVC video track
        annotated.append(edit.fix_offsets(f).to_bytes())
    return files + annotated

