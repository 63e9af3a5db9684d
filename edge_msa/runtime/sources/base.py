"""Source items, the bounded queue between threads, and the thread that runs one source.

Every source is a re-startable generator of timestamped items (`stream()`); `SourceRunner` runs it
in its own thread, beats the health monitor per item, and re-opens a live sensor with back-off
when it fails or ends. Live sensors feed queues that drop the oldest item (fresh data beats
complete data); a file processed as fast as possible feeds blocking queues (nothing is lost).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from edge_msa.runtime.clock import Clock
from edge_msa.runtime.health import Backoff, HealthMonitor


@dataclass
class AudioChunk:
    t: float  # clock time of the first sample, seconds
    samples: np.ndarray  # float32 mono in [-1, 1]
    sr: int


@dataclass
class VideoFrame:
    t: float  # clock time of the frame, seconds
    image: np.ndarray  # HxWx3 uint8 BGR


class Source(Protocol):
    name: str  # health key, e.g. "mic", "camera", "audio-file"
    live: bool  # a device: end of stream means lost (re-open); a file: end means done

    def stream(self, clock: Clock) -> Iterator[AudioChunk | VideoFrame]:
        """Open, yield items until the end or an error, close (in a finally)."""
        ...


class SourceLost(RuntimeError):
    """A live sensor stopped delivering (unplugged, read failed)."""


_END = object()


class ItemQueue:
    """Bounded FIFO between two threads: drop-oldest (live) or blocking (fast file mode)."""

    def __init__(self, maxsize: int, drop_oldest: bool) -> None:
        self.maxsize, self.drop_oldest = maxsize, drop_oldest
        self._items: deque = deque()
        self._cond = threading.Condition()
        self._closed = False
        self.dropped = 0

    def put(self, item, stop: threading.Event, on_wait=None) -> bool:
        """Add an item; False when stopped first. `on_wait` is called while blocked."""
        with self._cond:
            while not self.drop_oldest and len(self._items) >= self.maxsize:
                if stop.is_set():
                    return False
                if on_wait is not None:
                    on_wait()
                self._cond.wait(0.1)
            if len(self._items) >= self.maxsize:
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            self._cond.notify_all()
            return True

    def close(self) -> None:
        """No more items will come; `get` returns None once the queue is drained."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def get(self, timeout: float):
        """The next item, `None` at the end of the stream, or `TIMEOUT` when nothing came."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._items:
                if self._closed:
                    return None
                left = deadline - time.monotonic()
                if left <= 0:
                    return TIMEOUT
                self._cond.wait(left)
            item = self._items.popleft()
            self._cond.notify_all()
            return item

    def __len__(self) -> int:
        return len(self._items)


TIMEOUT = object()


class SourceRunner(threading.Thread):
    """One thread per source: stream -> queue, heartbeats, re-open with back-off."""

    def __init__(self, source: Source, queue: ItemQueue, health: HealthMonitor, clock: Clock,
                 stop: threading.Event, paced: bool, backoff: Backoff,
                 signal_of=None, name: str | None = None) -> None:
        super().__init__(name=f"source-{name or source.name}", daemon=True)
        self.key = name or source.name  # health key
        self.source, self.queue, self.health, self.clock = source, queue, health, clock
        self.stop, self.paced, self.backoff = stop, paced, backoff
        self.signal_of = signal_of  # item -> bool (has signal); None: every item has signal

    def run(self) -> None:
        name = self.key
        try:
            while not self.stop.is_set():
                try:
                    if self._pump() or not self.source.live:
                        self.health.end(name)
                        return
                    raise SourceLost("stream ended")
                except Exception as e:  # noqa: BLE001 - any sensor failure masks, never kills
                    self.health.fail(name, e)
                    if not self.source.live:
                        return
                if self.stop.wait(self.backoff.next_delay()):
                    return
                self.health.reopening(name)
        finally:
            self.queue.close()

    def _pump(self) -> bool:
        """Stream items into the queue; True when stopped on request."""
        name, first = self.key, True
        for item in self.source.stream(self.clock):
            if self.paced and not self.clock.wait_until(item.t, self.stop):
                return True
            signal = True if self.signal_of is None else self.signal_of(item)
            self.health.beat(name, item.t, signal)
            if first:
                self.backoff.reset()
                first = False
            if not self.queue.put(item, self.stop, on_wait=lambda: self.health.touch(name)):
                return True
        return self.stop.is_set()
