"""The timing helpers the benchmarks share (run as scripts, so `import timing` finds them beside them)."""

import statistics
import time


def median_seconds(fn, repeats: int, warmup: bool = False) -> float:
    """Median wall time of fn() over `repeats` runs; fn must block on its result (JAX: block_until_ready).
    warmup: one untimed run first (compilation, caches)."""
    return interleaved_medians({"fn": fn}, repeats, warmup)["fn"]


def interleaved_medians(fns: dict, repeats: int, warmup: bool = True) -> dict:
    """Median wall time of each fn() (name -> blocking callable), timed round-robin — one run of each per round —
    so that a machine whose speed drifts during the benchmark (a shared VM) slows every figure alike and the
    in-run ratios stay fair."""
    if warmup:
        for fn in fns.values():
            fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}
