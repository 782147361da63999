"""Fuzz bmff with mutated real files: every input must give a clean parse or a BmffError.

Mutations of the small real files in tests/bmff/fixtures (bit flips, edge values written over box sizes and
the count-like words after them, truncation, deleted/duplicated/spliced ranges). Each input runs through what
a user can run: parse (the lenient parse where it fails), write back (must be byte-exact), validate, and for
every 8th input the JSON dump. Prints one JSON
line: inputs/s, the count of exceptions other than BmffError (must be 0), round-trip mismatches (must be 0),
and as baseline the rate of parsing the unmutated seeds.
"""

from __future__ import annotations

import argparse
import collections
import json
import multiprocessing
import os
import random
import re
import struct
import sys
import time
import traceback
from pathlib import Path

import bmff
from bmff.dump import file_json
from bmff.validate import parse_lenient, run_checks

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "bmff" / "fixtures"
EDGE_U32 = (0, 1, 7, 8, 9, 15, 16, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF)
EDGE_U8 = (0, 1, 0x7F, 0x80, 0xFF)


def header_offsets(raw: bytes) -> list[int]:
    return [b.header.offset for b in bmff.parse(raw).walk() if b.header is not None]


def mutate(rng: random.Random, raw: bytes, headers: list[int], seeds: list[bytes]) -> bytes:
    """One to three random mutations of raw."""
    data = bytearray(raw)
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(6)
        if not data:
            break
        if op == 0:  # bit flips
            for _ in range(rng.randint(1, 4)):
                i = rng.randrange(len(data))
                data[i] ^= 1 << rng.randrange(8)
        elif op == 1:  # edge byte
            data[rng.randrange(len(data))] = rng.choice(EDGE_U8)
        elif op == 2:  # edge u32 over a box size, a version/flags word or the first count-like fields
            at = rng.choice(headers) + rng.choice((0, 8, 12, 16, 20, 24))
            value = rng.choice(EDGE_U32) if rng.random() < 0.7 else rng.getrandbits(32)
            data[at : at + 4] = struct.pack(">I", value)[: len(data[at : at + 4])]
        elif op == 3:  # truncation
            del data[rng.randrange(len(data)) :]
        elif op == 4:  # delete or duplicate a short range
            i = rng.randrange(len(data))
            j = min(len(data), i + rng.randint(1, 64))
            if rng.random() < 0.5:
                del data[i:j]
            else:
                data[i:i] = data[i:j]
        else:  # splice a range from another seed
            other = rng.choice(seeds)
            i, k = rng.randrange(len(data)), rng.randrange(len(other))
            data[i : i + rng.randint(1, 64)] = other[k : k + rng.randint(1, 64)]
    return bytes(data)


def exercise(raw: bytes, dump: bool) -> str | None:
    """None when the input was handled properly; otherwise what went wrong. The lenient parse runs where the
    strict one failed (elsewhere it builds the same tree)."""
    try:
        f = bmff.parse(raw)
    except bmff.BmffError:
        f, _ = parse_lenient(raw)
    try:
        if f.to_bytes() != raw:
            return "round-trip mismatch"
    except bmff.BmffError as e:  # it parsed, so it must write back
        return f"round-trip mismatch: writing back raised {e}"
    run_checks(f)
    if dump:
        file_json(f)
    return None


SEEDS = [p.read_bytes() for p in sorted(FIXTURES.iterdir()) if p.suffix in (".mp4", ".mov", ".heic")]


def fuzz_shard(job: tuple[int, int, int, str | None]) -> dict:
    """Inputs [start, stop) of one run; input n's mutations come from Random((seed, n)), so any failing input
    is reproducible on its own whatever the number of workers."""
    seed, start, stop, save = job
    headers = [header_offsets(s) for s in SEEDS]
    crashes, mismatches, examples, kinds = 0, 0, [], collections.Counter()
    for n in range(start, stop):
        rng = random.Random(f"{seed}:{n}")
        k = rng.randrange(len(SEEDS))
        raw = mutate(rng, SEEDS[k], headers[k], SEEDS)
        try:
            problem = exercise(raw, dump=n % 8 == 0)
        except Exception as e:  # noqa: BLE001 — counting exactly these is the point
            crashes += 1
            where = traceback.extract_tb(e.__traceback__)[-1]
            problem = f"input {n}: {type(e).__name__}: {e} @ {Path(where.filename).name}:{where.lineno}"
        if problem is None:
            continue
        problem = problem if problem.startswith("input") else f"input {n}: {problem}"
        mismatches += "mismatch" in problem
        kinds[re.sub(r"\d+", "N", problem.split(": ", 1)[1])] += 1
        if len(examples) < 5:
            examples.append(problem)
        if save:
            Path(save).mkdir(parents=True, exist_ok=True)
            (Path(save) / f"fail_{n}.bin").write_bytes(raw)
    return {"crashes": crashes, "mismatches": mismatches, "examples": examples, "kinds": kinds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--save", type=Path, help="folder to write failing inputs to")
    args = ap.parse_args()

    t0 = time.perf_counter()
    for _ in range(20):
        for s in SEEDS:
            bmff.parse(s)
    baseline_rate = 20 * len(SEEDS) / (time.perf_counter() - t0)

    shards = 8 * args.workers
    bounds = [args.inputs * i // shards for i in range(shards + 1)]
    jobs = [(args.seed, a, b, str(args.save) if args.save else None) for a, b in zip(bounds, bounds[1:])]
    t0 = time.perf_counter()
    with multiprocessing.Pool(args.workers) as pool:
        results = pool.map(fuzz_shard, jobs)
    elapsed = time.perf_counter() - t0
    crashes = sum(r["crashes"] for r in results)
    mismatches = sum(r["mismatches"] for r in results)
    rate = args.inputs / elapsed
    print(json.dumps({
        "benchmark": "bmff_fuzz", "inputs": args.inputs, "workers": args.workers, "seconds": round(elapsed, 1),
        "inputs_per_s": round(rate, 1), "non_bmff_exceptions": crashes, "round_trip_mismatches": mismatches,
        "baseline_seed_parses_per_s_one_worker": round(baseline_rate, 1),
        "ratio_inputs_vs_seed_parses_per_worker": round(rate / args.workers / baseline_rate, 3),
        "seeds": len(SEEDS), "examples": [e for r in results for e in r["examples"]][:5],
        "problem_kinds": dict(sum((r["kinds"] for r in results), collections.Counter()).most_common(10)),
    }))
    sys.exit(1 if crashes or mismatches else 0)


if __name__ == "__main__":
    main()
