"""Fuzz bmff with mutated real files: every input must give a clean parse or a BmffError.

Default mode: mutations (bmff.testing.fuzz.mutate) of the small real files in tests/bmff/fixtures. Each input runs
through what a user can run (bmff.testing.fuzz.exercise): parse (the lenient parse where it fails), write back (must
be byte-exact), validate, resolve and read the tracks' samples, the Amd 1 readers, and for every 8th input the
text and JSON dumps. One JSON line: inputs/s, the count of exceptions other than BmffError (must be 0),
round-trip mismatches (must be 0), and as baseline the rate of parsing the unmutated seeds.

--coverage: the same exercise as a coverage-guided atheris (libFuzzer) target over instrumented bmff, for
--seconds, from the corpus bmff.testing.fuzz.seeds() (fixtures, and copies with a post-filter). It runs in a child
process (libFuzzer ends it with exit()) that counts problems instead of stopping at the first; one JSON line:
inputs, exceptions other than BmffError and round-trip mismatches (with examples; inputs saved under --save),
the slowest input, the largest input, and peak RSS against 8 x the largest input + 20 MB. Exit status 1 when
any exception, mismatch, an input over 1 s or RSS growth over that bound was seen. Needs the `fuzz` extra.
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

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "bmff" / "fixtures"
SEEDS = [p.read_bytes() for p in sorted(FIXTURES.iterdir()) if p.suffix in (".mp4", ".mov", ".heic")]
SLOW_INPUT_S = 1.0
MB = 1 << 20


def fuzz_shard(job: tuple[int, int, int, str | None]) -> dict:
    """Inputs [start, stop) of one run; input n's mutations come from Random((seed, n)), so any failing input
    is reproducible on its own whatever the number of workers."""
    from bmff.testing.fuzz import exercise, header_offsets, mutate

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


def _vm_kb(key: str) -> int:
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith(key))


def coverage_child(stats_path: str, corpus: str, seconds: int, save: str | None) -> None:
    """The atheris target in this process: stats go to stats_path as they change (libFuzzer exits without
    returning), each problem input to `save`."""
    import atheris

    with atheris.instrument_imports(include=["bmff"]):
        from bmff.testing.fuzz import exercise
    stats = {"inputs": 0, "non_bmff_exceptions": 0, "round_trip_mismatches": 0, "examples": [],
             "slowest_input_s": 0.0, "slowest_input_bytes": 0, "largest_input_bytes": 0}
    n_seeds = len(list(Path(corpus).iterdir()))
    last_write = [0.0]

    def record(problem: str, data: bytes) -> None:
        if len(stats["examples"]) < 5:
            stats["examples"].append(problem)
        if save:
            Path(save).mkdir(parents=True, exist_ok=True)
            (Path(save) / f"problem_{stats['inputs']}.bin").write_bytes(data)

    def one_input(data: bytes) -> None:
        t0 = time.perf_counter()
        try:
            problem = exercise(data)
        except Exception as e:  # noqa: BLE001 — counted and kept, so the run goes on
            where = traceback.extract_tb(e.__traceback__)[-1]
            stats["non_bmff_exceptions"] += 1
            record(f"{type(e).__name__}: {e} @ {Path(where.filename).name}:{where.lineno}", data)
        else:
            if problem is not None:
                stats["round_trip_mismatches"] += 1
                record(problem, data)
        elapsed = time.perf_counter() - t0
        stats["inputs"] += 1
        stats["largest_input_bytes"] = max(stats["largest_input_bytes"], len(data))
        if elapsed > stats["slowest_input_s"]:
            stats["slowest_input_s"], stats["slowest_input_bytes"] = round(elapsed, 4), len(data)
            if save and elapsed > SLOW_INPUT_S:
                record(f"slow input: {elapsed:.2f} s", data)
        if stats["inputs"] == n_seeds:  # the seeds ran: every module is loaded, libFuzzer holds its corpus
            stats["rss_after_seeds_MB"] = round(_vm_kb("VmHWM") / 1024, 1)
        if t0 - last_write[0] > 0.5 or stats["inputs"] == n_seeds:
            stats["peak_rss_MB"] = round(_vm_kb("VmHWM") / 1024, 1)
            Path(stats_path).write_text(json.dumps(stats))
            last_write[0] = t0

    atheris.Setup([sys.argv[0], corpus, f"-max_total_time={seconds}", "-rss_limit_mb=4096", "-timeout=30",
                   "-print_final_stats=0"], one_input)
    atheris.Fuzz()


def coverage(seconds: int, save: Path | None) -> int:
    """Run coverage_child for `seconds` from the seed corpus; print its stats as one JSON line."""
    import subprocess
    import tempfile

    from bmff.testing.fuzz import seeds

    with tempfile.TemporaryDirectory() as tmp:
        corpus, stats_path = Path(tmp) / "corpus", Path(tmp) / "stats.json"
        corpus.mkdir()
        for k, raw in enumerate(seeds()):
            (corpus / f"seed_{k}").write_bytes(raw)
        largest_seed = max(len(p.read_bytes()) for p in corpus.iterdir())
        t0 = time.perf_counter()
        child = subprocess.run([sys.executable, __file__, "--coverage-child", str(stats_path), str(corpus),
                                str(seconds), str(save or "")], capture_output=True, text=True,
                               timeout=seconds + 120)
        elapsed = time.perf_counter() - t0
        if not stats_path.exists():
            print(child.stderr[-2000:], file=sys.stderr)
            return 2
        stats = json.loads(stats_path.read_text())
    largest = max(stats["largest_input_bytes"], largest_seed)
    bound_mb = (8 * largest + 20 * MB) / MB
    growth = stats["peak_rss_MB"] - stats["rss_after_seeds_MB"]  # what fuzzing the inputs added
    print(json.dumps({"benchmark": "bmff_fuzz_coverage", "seconds": round(elapsed, 1), **stats,
                      "rss_growth_MB": round(growth, 1), "rss_bound_MB": round(bound_mb, 1),
                      "libfuzzer_exit": child.returncode}))
    bad = stats["non_bmff_exceptions"] or stats["round_trip_mismatches"] or stats["slowest_input_s"] > SLOW_INPUT_S
    return 1 if bad or growth > bound_mb else 0


def main() -> None:
    if len(sys.argv) == 6 and sys.argv[1] == "--coverage-child":
        coverage_child(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5] or None)
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--save", type=Path, help="folder to write failing inputs to")
    ap.add_argument("--coverage", action="store_true", help="coverage-guided atheris run (the fuzz extra)")
    ap.add_argument("--seconds", type=int, default=600, help="length of the --coverage run")
    args = ap.parse_args()
    if args.coverage:
        sys.exit(coverage(args.seconds, args.save))
    import bmff

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
