"""The one timing helper the benchmarks share (run as scripts, so `import timing` finds it beside them)."""

import statistics
import time


def median_seconds(fn, repeats: int, warmup: bool = False) -> float:
    """Median wall time of fn() over `repeats` runs; fn must block on its result (JAX: block_until_ready).
    warmup: one untimed run first (compilation, caches)."""
    if warmup:
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
