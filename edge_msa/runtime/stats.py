"""Per-stage timings of a run: bounded (the newest samples only), so a long run keeps flat memory."""

from __future__ import annotations

import threading
import time
from collections import deque
from contextlib import contextmanager

import numpy as np


class StageStats:
    def __init__(self, keep: int = 4096) -> None:
        self.keep = keep
        self._ms: dict[str, deque[float]] = {}
        self._count: dict[str, int] = {}
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self._ms.clear()
            self._count.clear()

    def add(self, stage: str, ms: float) -> None:
        with self._lock:
            if stage not in self._ms:
                self._ms[stage], self._count[stage] = deque(maxlen=self.keep), 0
            self._ms[stage].append(ms)
            self._count[stage] += 1

    @contextmanager
    def time(self, stage: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.add(stage, (time.perf_counter() - t0) * 1e3)

    def summary(self) -> dict[str, dict[str, float]]:
        """stage -> count, p50, p95, max (ms) over the kept samples."""
        with self._lock:
            out = {}
            for stage, values in self._ms.items():
                v = np.fromiter(values, float)
                out[stage] = {"count": self._count[stage], "p50_ms": float(np.percentile(v, 50)),
                              "p95_ms": float(np.percentile(v, 95)), "max_ms": float(v.max())}
            return out
