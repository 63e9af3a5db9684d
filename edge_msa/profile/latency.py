"""The latency harness, the one timing loop of the profiler and every bench: warm-up, then timed runs
(percentiles, throughput, peak memory), or several variants interleaved in rounds so that load from
other processes falls on all of them alike (medians, for ratios measured in one process)."""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable

import numpy as np


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024**2 if sys.platform == "darwin" else peak / 1024


def time_calls(fn: Callable[[], object], runs: int, warmup: int) -> dict[str, float]:
    """Call `fn` warmup times (first call timed separately), then `runs` times; ms statistics."""
    if runs < 1 or warmup < 0:
        raise ValueError("runs must be >= 1 and warmup >= 0")
    t0 = time.perf_counter()
    fn()
    first_ms = (time.perf_counter() - t0) * 1e3
    for _ in range(max(warmup - 1, 0)):
        fn()
    times = np.empty(runs)
    for i in range(runs):
        t0 = time.perf_counter()
        fn()
        times[i] = (time.perf_counter() - t0) * 1e3
    return {
        "first_call_ms": first_ms,
        "p50_ms": float(np.percentile(times, 50)),
        "p90_ms": float(np.percentile(times, 90)),
        "p99_ms": float(np.percentile(times, 99)),
        "mean_ms": float(times.mean()),
        "min_ms": float(times.min()),
        "throughput_per_s": float(1e3 / times.mean()),
        "runs": runs,
    }


def median_ms(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """Median wall time of `fn` in ms over `repeats` timed calls, after `warmup` (at least 1) untimed."""
    return time_calls(fn, repeats, max(warmup, 1))["p50_ms"]


def interleaved_medians(calls: dict[str, Callable[[], object]], total: int, rounds: int,
                        warmup: int = 5) -> dict[str, float]:
    """Median ms per variant: each warmed up, then `rounds` rounds of total/rounds calls each,
    variant after variant, so a burst of load from elsewhere hits every variant, not one."""
    for fn in calls.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {k: [] for k in calls}
    for _ in range(rounds):
        for key, fn in calls.items():
            for _ in range(max(total // rounds, 1)):
                t0 = time.perf_counter()
                fn()
                times[key].append((time.perf_counter() - t0) * 1e3)
    return {k: float(np.median(v)) for k, v in times.items()}
