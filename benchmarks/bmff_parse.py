"""Parse speed and memory of bmff on synthetic MP4s: mdat-heavy (100 MB and 1 GB, same moov) and moov-heavy.

The files are written sparsely (the mdat payload is never written), so making them costs no time. Figures per
file: parse MB/s (median of several parses), tracemalloc peak during a parse, and the max RSS of a fresh
interpreter while it parses it. Peak memory must not grow with the mdat: the
100 MB and 1 GB files share their moov. Like-for-like baseline in the same run: a headers-only box walker
(`header_walk`: every box header, the mdat skipped by a seek, the moov read whole and its containers descended,
no table decoded) — the least any parser must do; the headline is moov MB/s and the parse / walker ratio. A plain
1 MiB read loop over the whole file is reported too, but it reads the mdat the parse never touches.
`sample_view`: a 72,000-sample movie (a chunk per sample, the costliest layout): parse, then `tracks.samples`
(the SampleList over the tables' runs), then every sample resolved as columns and as Sample objects, each a
median. One JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import struct
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from timing import median_seconds

import bmff
from bmff import tracks
from bmff.testing import synth

MB = 1e6
# VmHWM is the peak RSS of this process image alone (ru_maxrss would include the parent's, kept across exec).
RSS_SCRIPT = """
import sys
import bmff
def hwm_kb():
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
before = hwm_kb()
f = bmff.parse(sys.argv[1])
print(hwm_kb() - before)
"""


def sizes_for(n_samples: int, mean: int, seed: int = 0) -> list[int]:
    """Sample sizes around a mean (a variable stsz table, as real video has)."""
    rng = random.Random(seed)
    return [rng.randint(mean // 2, mean * 3 // 2) for _ in range(n_samples)]


def read_loop(path: Path) -> None:
    with open(path, "rb", buffering=0) as fp:
        while fp.read(1 << 20):
            pass


CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"dinf", b"edts", b"mvex", b"udta"}


def _header(buf, pos: int, end: int) -> tuple[int, bytes, int]:
    """(size, type, header length) of the box header at buf[pos:], size 0 meaning 'to end'."""
    size, typ = struct.unpack_from(">I4s", buf, pos)
    if size == 1:
        return struct.unpack_from(">Q", buf, pos + 8)[0], typ, 16
    return (end if size == 0 else size), typ, 8


def _box_headers(buf: memoryview) -> int:
    """Count the box headers in buf, descending into containers."""
    n, pos = 0, 0
    while pos + 8 <= len(buf):
        size, typ, head = _header(buf, pos, len(buf) - pos)
        n += 1
        if typ in CONTAINERS:
            n += _box_headers(buf[pos + head:pos + size])
        pos += max(size, head)
    return n


def header_walk(path: Path) -> int:
    """Headers-only baseline: top-level boxes by seeks (the mdat is never read), the moov read and walked."""
    n = 0
    with open(path, "rb", buffering=0) as fp:
        end, pos = os.fstat(fp.fileno()).st_size, 0
        while pos + 8 <= end:
            fp.seek(pos)
            size, typ, head = _header(fp.read(16), 0, end - pos)
            n += 1
            if typ == b"moov":
                fp.seek(pos + head)
                n += _box_headers(memoryview(fp.read(size - head)))
            pos += max(size, head)
    return n


def peak_rss_growth_kb(path: Path) -> int:
    """How much a fresh interpreter's peak RSS grows while it parses the file (Linux /proc)."""
    out = subprocess.run([sys.executable, "-c", RSS_SCRIPT, str(path)], check=True, capture_output=True,
                         text=True).stdout
    return int(out.split()[-1])


def tracemalloc_peak(path: Path) -> int:
    tracemalloc.start()
    try:
        f = bmff.parse(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del f
    return peak


def measure(path: Path, repeats: int) -> dict:
    size = path.stat().st_size
    parse_s = median_seconds(lambda: bmff.parse(path), repeats)
    walk_s = median_seconds(lambda: header_walk(path), repeats)
    read_s = median_seconds(lambda: read_loop(path), max(1, repeats // 2))
    f = bmff.parse(path)
    moov = next(b for b in f.boxes if b.type == "moov")
    (track,) = tracks.tracks(f)
    t0 = time.perf_counter()
    n = sum(1 for _ in tracks.samples(track.trak))  # every Sample made
    samples_s = time.perf_counter() - t0
    return {
        "file_MB": round(size / MB, 1), "moov_MB": round(moov.header.size / MB, 2), "samples": n,
        "parse_ms": round(parse_s * 1e3, 2), "parse_MB_per_s": round(size / MB / parse_s, 1),
        "moov_parse_MB_per_s": round(moov.header.size / MB / parse_s, 1),
        "baseline_header_walk_ms": round(walk_s * 1e3, 2),
        "baseline_header_walk_moov_MB_per_s": round(moov.header.size / MB / walk_s, 1),
        "ratio_parse_vs_header_walk": round(walk_s / parse_s, 3),
        "baseline_read_MB_per_s": round(size / MB / read_s, 1),
        "ratio_parse_vs_read": round(read_s / parse_s, 2),
        "samples_resolved_per_s": round(n / samples_s),
        "tracemalloc_peak_MB": round(tracemalloc_peak(path) / MB, 2),
        "peak_rss_growth_MB": round(peak_rss_growth_kb(path) * 1024 / MB, 1),
    }


def sample_view(path: Path, repeats: int) -> dict:
    """Parse + resolve every sample of a track (issue 17 item 9: against mp4box.js's ~41 ms on 72,000 samples)."""
    f = bmff.parse(path)
    trak = f.find("moov/trak")
    parse_s = median_seconds(lambda: bmff.parse(path), repeats)
    list_s = median_seconds(lambda: tracks.samples(trak), repeats)
    listed = tracks.samples(trak)
    objects_s = median_seconds(lambda: list(listed), repeats)
    columns_s = median_seconds(listed.columns, repeats)
    return {"samples": len(listed), "parse_ms": round(parse_s * 1e3, 2),
            "sample_list_ms": round(list_s * 1e3, 2),  # tables checked and read as runs; no sample resolved yet
            "sample_objects_ms": round(objects_s * 1e3, 2),
            "sample_columns_ms": round(columns_s * 1e3, 2),  # every sample resolved as arrays, no objects
            "parse_plus_every_sample_in_columns_ms": round((parse_s + list_s + columns_s) * 1e3, 2),
            "parse_plus_every_sample_object_ms": round((parse_s + list_s + objects_s) * 1e3, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=100_000, help="samples of the mdat-heavy files")
    ap.add_argument("--moov-samples", type=int, default=2_000_000, help="samples of the moov-heavy file")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = {
            "mdat_1GB": sizes_for(args.samples, 10_000),
            "mdat_100MB": sizes_for(args.samples, 1_000),
            "moov_heavy": sizes_for(args.moov_samples, 50, seed=1),
        }
        paths = {}
        for name, sizes in files.items():
            paths[name] = folder / f"{name}.mp4"
            synth.write_movie(paths[name], sizes, samples_per_chunk=10)
        results = {name: measure(path, args.repeats) for name, path in paths.items()}
        view = folder / "sample_view.mp4"
        synth.write_movie(view, sizes_for(72_000, 1_000, seed=2), samples_per_chunk=1)
        results["sample_view"] = sample_view(view, args.repeats)
    big, small = results["mdat_1GB"], results["mdat_100MB"]
    heavy = results["moov_heavy"]
    print(json.dumps({
        "benchmark": "bmff_parse", "python": sys.version.split()[0],
        "moov_parse_MB_per_s_moov_heavy": heavy["moov_parse_MB_per_s"],
        "baseline_header_walk_moov_MB_per_s_moov_heavy": heavy["baseline_header_walk_moov_MB_per_s"],
        "ratio_parse_vs_header_walk_moov_heavy": heavy["ratio_parse_vs_header_walk"],
        "ratio_parse_vs_header_walk_1GB": big["ratio_parse_vs_header_walk"], **results,
        "tracemalloc_peak_ratio_1GB_vs_100MB": round(big["tracemalloc_peak_MB"] / small["tracemalloc_peak_MB"], 3),
        "peak_rss_growth_MB_1GB_vs_100MB": [big["peak_rss_growth_MB"], small["peak_rss_growth_MB"]],
        "parse_MB_per_s_1GB": big["parse_MB_per_s"], "baseline_read_MB_per_s_1GB": big["baseline_read_MB_per_s"],
        "ratio_parse_vs_read_1GB": big["ratio_parse_vs_read"],
    }))


if __name__ == "__main__":
    main()
