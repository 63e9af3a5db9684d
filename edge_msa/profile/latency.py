"""The latency harness: warm-up, then timed runs; percentiles, throughput, peak memory."""

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
