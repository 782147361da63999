"""Fuzz bmff with mutated real files: every input must give a clean parse or a BmffError.

Mutations (bmff.fuzz.mutate) of the small real files in tests/bmff/fixtures. Each input runs through what a
user can run (bmff.fuzz.exercise): parse (the lenient parse where it fails), write back (must be byte-exact),
validate, resolve and read the tracks' samples, and for every 8th input the text and JSON dumps. One JSON
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
import sys
import time
import traceback
from pathlib import Path

import bmff
from bmff.fuzz import exercise, header_offsets, mutate

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "bmff" / "fixtures"
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
