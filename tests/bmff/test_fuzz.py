"""Robustness: damaged input gives a BmffError — never another exception, an unbounded allocation or a hang."""

import json
import struct
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bmff
from bmff.box import _REGISTRY, MAX_DEPTH, FullBox, write_header
from bmff.testing import fuzz
from bmff.validate import parse_lenient, run_checks

FIXTURES = {p.name: p.read_bytes() for p in sorted((Path(__file__).parent / "fixtures").iterdir())
            if p.suffix in (".mp4", ".mov", ".heic")}


def box(box_type, body=b""):
    return write_header(box_type, len(body)) + body


def exercise(raw: bytes) -> None:
    """Everything a user can run on a file: only BmffError may be raised, and what parses writes back exactly."""
    assert fuzz.exercise(raw) is None


def test_fixtures_parse_and_round_trip():
    assert len(FIXTURES) == 5
    for name, raw in FIXTURES.items():
        assert bmff.parse(raw).to_bytes() == raw, name


def test_child_overflowing_parent():
    raw = box("moov", struct.pack(">I", 64) + b"trak" + bytes(8))
    with pytest.raises(bmff.BmffError, match="overflows its parent") as e:
        bmff.parse(raw)
    assert e.value.offset == 8 and e.value.path == "moov"


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_every_truncation_is_an_error_or_a_clean_parse(name):
    raw = FIXTURES[name]
    for cut in range(0, len(raw), max(1, len(raw) // 400)):
        exercise(raw[:cut])


def test_absurd_largesize_and_small_sizes():
    for header in (struct.pack(">I4sQ", 1, b"mdat", 1 << 63), struct.pack(">I4sQ", 1, b"mdat", 15),
                   struct.pack(">I4s", 7, b"free"), struct.pack(">I4sQ", 1, b"moov", 0xFFFFFFFFFFFFFFFF)):
        with pytest.raises(bmff.BmffError):
            bmff.parse(header + bytes(32))


def test_nesting_deeper_than_the_limit():
    raw = b""
    for _ in range(MAX_DEPTH + 5):
        raw = box("moov", raw)
    with pytest.raises(bmff.BmffError, match="nested deeper"):
        bmff.parse(raw)
    f, damage = parse_lenient(raw)  # the lenient parse stops at the same depth instead of recursing
    assert f.to_bytes() == raw and len(damage) == 1


def test_absurd_entry_counts_allocate_nothing():
    """Count fields of every registered FullBox set to 0xFFFFFFFF over a tiny body: each parse fails fast
    (or keeps the bytes) without allocating anything near the promised size."""
    types = sorted({t for (_, t), cls in _REGISTRY.items() if issubclass(cls, FullBox)})
    tracemalloc.start()
    try:
        for t in types:
            for body in (b"\xff" * 12, bytes(4) + b"\xff" * 12, bytes(8) + b"\xff" * 8, bytes(12) + b"\xff" * 8):
                try:
                    bmff.parse(box(t, body))
                except bmff.BmffError:
                    pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, f"{peak} bytes allocated for 16-byte boxes"


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_every_early_word_of_every_box_at_max_allocates_little(name):
    """Each of the first six 32-bit words after every box header set to 0xFFFFFFFF, in its real context
    (entry counts, sizes, flags of sample tables, entries, items...): an error or a clean parse, and never an
    allocation that follows the promised count instead of the bytes present."""
    raw = FIXTURES[name]
    f = bmff.parse(raw)
    positions = sorted({b.header.body_offset + k for b in f.walk() if b.header is not None for k in range(0, 24, 4)})
    tracemalloc.start()
    try:
        worst = 0
        for at in positions:
            mutated = raw[:at] + b"\xff\xff\xff\xff" + raw[at + 4:]
            tracemalloc.reset_peak()
            try:
                bmff.parse(mutated)
            except bmff.BmffError:
                pass
            worst = max(worst, tracemalloc.get_traced_memory()[1])
    finally:
        tracemalloc.stop()
    assert worst < 8 << 20, f"{worst} bytes for a {len(raw)}-byte file"


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(FIXTURES)),
       edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=6),
       cut=st.one_of(st.none(), st.floats(0, 1)))
def test_mutated_real_files_raise_only_bmff_error(name, edits, cut):
    raw = bytearray(FIXTURES[name])
    for where, value in edits:
        raw[int(where * len(raw))] = value
    if cut is not None:
        raw = raw[: int(cut * len(raw))]
    exercise(bytes(raw))


HEADERS = {name: fuzz.header_offsets(raw) for name, raw in FIXTURES.items()}  # size fields hurt most


@settings(max_examples=200, deadline=None, derandomize=True)
@given(name=st.sampled_from(sorted(FIXTURES)), pick=st.floats(0, 1, exclude_max=True),
       size=st.sampled_from([0, 1, 7, 8, 9, 16, 0x7FFFFFFF, 0xFFFFFFFF]) | st.integers(0, (1 << 32) - 1),
       field_offset=st.sampled_from(fuzz.WORD_OFFSETS))
def test_mutated_size_and_count_fields(name, pick, size, field_offset):
    """Box sizes and the first count-like words of bodies set to edge values."""
    raw = bytearray(FIXTURES[name])
    offsets = HEADERS[name]
    at = offsets[int(pick * len(offsets))] + field_offset
    raw[at : at + 4] = struct.pack(">I", size)[: len(raw[at : at + 4])]
    exercise(bytes(raw))


def test_iloc_with_odd_field_sizes_writes_back():
    body = bytes([0, 0, 0, 0, 0x9A, 0x30, 0, 0])  # v0, offset_size 9, length_size 10, base 3, no items
    raw = write_header("meta", 4 + 8 + len(body)) + bytes(4) + write_header("iloc", len(body)) + body
    assert bmff.parse(raw).to_bytes() == raw


# --------------------------------------------------------------------------------------------- coverage-guided

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "bmff_fuzz.py"


def test_seeds_carry_post_filters_and_pass_the_exercise():
    """The fuzz corpus reaches the Amd 1 readers: each video fixture again with an 'nnr1' item and 'nfcs'
    groups (in the 'traf's for the fragmented one)."""
    seeds = fuzz.seeds()
    annotated = [bmff.parse(s) for s in seeds[len(FIXTURES):]]
    assert len(annotated) == 4 and all(f.find("meta/iinf") is not None for f in annotated)
    assert any(f.find("moof/traf/sbgp") is not None for f in annotated)
    for raw in seeds:
        exercise(raw)


def _coverage_run(seconds: int) -> dict:
    pytest.importorskip("atheris")
    run = subprocess.run([sys.executable, str(BENCHMARK), "--coverage", "--seconds", str(seconds)],
                         capture_output=True, text=True, timeout=seconds + 180)
    result = json.loads(run.stdout.splitlines()[-1])
    assert run.returncode == 0, result
    assert result["non_bmff_exceptions"] == 0 and result["round_trip_mismatches"] == 0, result["examples"]
    assert result["inputs"] > len(fuzz.seeds()) and result["slowest_input_s"] < 1.0
    assert result["rss_growth_MB"] <= result["rss_bound_MB"]
    return result


def test_coverage_guided_smoke_run():
    _coverage_run(1)


@pytest.mark.slow
def test_coverage_guided_ten_minutes():
    _coverage_run(600)


def test_an_unreadable_nfcs_entry_stops_the_reconstruction_with_a_bmff_error():
    """Coverage-guided finding: an 'nfcs' entry kept as bytes reached the 4.19.7 reconstruction as if typed
    (AttributeError 'num_items')."""
    from bmff import amd1
    from bmff.boxes.sample_groups import UnknownSampleGroupEntry

    f = bmff.parse(fuzz.seeds()[len(FIXTURES)])  # the first fixture with a post-filter
    trak = f.find("moov/trak")
    for _, box in amd1.group_containers(f, trak):
        sgpd = box.find("sgpd") or box.find("mdia/minf/stbl/sgpd")
        if sgpd is not None:
            sgpd.entries[0] = UnknownSampleGroupEntry(b"\x01", parse_error="truncated")
    with pytest.raises(bmff.BmffError, match="'nfcs' entry 1 could not be read: truncated"):
        list(amd1.reconstruct_track(f, trak))


def test_nfcs_rules_refuse_a_sample_count_the_tables_do_not_back():
    """Coverage-guided finding: a constant-size 'stsz' claiming 2^24 samples under a post-filter made the nfcs
    rules build lists of 16M group indices per filter (390 MB, 3 s for a 5 KB file)."""
    raw = fuzz.seeds()[len(FIXTURES) + 1]  # h264.mp4 with a post-filter and its update
    f = bmff.parse(raw)
    stsz = f.find("moov/trak/mdia/minf/stbl/stsz")
    stsz.sample_size, stsz.sample_count, stsz.entry_size = 1, 1 << 24, []
    f = bmff.parse(f.to_bytes())
    tracemalloc.start()
    try:
        findings = run_checks(f)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000, f"{peak / 1e6:.0f} MB"
    assert any("the sample size table lists 16777216" in x.message for x in findings if x.check == "sample-tables")
    assert [x.message for x in findings if x.check == "nfcs-update-needs-base"] == \
        ["could not be checked: stts covers 10 samples, the track has 16777216"]
