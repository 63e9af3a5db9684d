"""Time-indexed buffers and the window assembly shared by every modality.

A window [start, end) of a modality sampled at `rate` Hz becomes `max_len` slots; slot k holds the
sample whose time falls in [start + k/rate, start + (k+1)/rate). A slot with no sample (a dropped
frame, a stalled camera) or with a missing one (no face) is zero with mask 0: the same layout as
the time-dropout protocol the models are trained with. Windows longer than `max_len` keep their
most recent part.
"""

from __future__ import annotations

import math
import threading

import numpy as np


class TimedRing:
    """The newest `capacity` samples of one stream: times, feature rows, present flags."""

    def __init__(self, capacity: int, dim: int) -> None:
        self.capacity, self.dim = capacity, dim
        self._t = np.full(capacity, -np.inf)
        self._x = np.zeros((capacity, dim), np.float32)
        self._ok = np.zeros(capacity, bool)
        self._n = 0  # samples ever appended
        self._lock = threading.Lock()

    def append(self, times: np.ndarray, rows: np.ndarray, present: np.ndarray | bool = True) -> None:
        times = np.asarray(times, np.float64).reshape(-1)
        rows = np.asarray(rows, np.float32).reshape(len(times), self.dim)
        present = np.broadcast_to(np.asarray(present, bool), times.shape)
        keep = slice(max(0, len(times) - self.capacity), None)  # a block longer than the ring: its tail
        with self._lock:
            idx = (self._n + np.arange(len(times[keep]))) % self.capacity
            self._t[idx], self._x[idx], self._ok[idx] = times[keep], rows[keep], present[keep]
            self._n += len(idx)

    def between(self, start: float, end: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(times, rows, present) of the samples with start <= t < end, in time order."""
        with self._lock:
            sel = np.nonzero((self._t >= start) & (self._t < end))[0]
            order = sel[np.argsort(self._t[sel], kind="stable")]
            return self._t[order].copy(), self._x[order].copy(), self._ok[order].copy()


def next_sample_time(t: float, rate: float) -> float:
    """The first time on the `rate` Hz grid after `t`: a stream sampled at `rate` takes the first
    frame at or after each grid point (how video frames are thinned to the vision rate)."""
    return (math.floor(t * rate + 1e-6) + 1) / rate


def fill_window(times: np.ndarray, rows: np.ndarray, present: np.ndarray, start: float, end: float,
                rate: float, max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Samples -> (x [max_len, D] float32, mask [max_len] float32) over [start, end)."""
    start = max(start, end - max_len / rate)  # keep the most recent max_len slots
    x = np.zeros((max_len, rows.shape[1]), np.float32)
    mask = np.zeros(max_len, np.float32)
    slots = np.floor((np.asarray(times) - start) * rate + 1e-6).astype(np.int64)
    keep = (slots >= 0) & (slots < max_len) & np.asarray(present, bool) & (np.asarray(times) < end)
    x[slots[keep]] = rows[keep]
    mask[slots[keep]] = 1.0
    return x, mask
