"""Heartbeats of sources and perception components, and the back-off used to re-open them.

A component is usable when it beat within its timeout. Liveness is judged on the wall clock (a
stalled sensor delivers nothing, so it has no stream time); signal is judged on the stream's own
time (a muted microphone still delivers digital silence), so a file processed as fast as
possible is judged exactly as the same recording played live.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field

OK, STARTING, STALLED, MUTED, FAILED, ENDED, ABSENT = (
    "ok", "starting", "stalled", "muted", "failed", "ended", "absent")


@dataclass
class Backoff:
    """Exponential back-off between re-open attempts, reset after a success."""

    initial_s: float = 0.5
    max_s: float = 10.0
    factor: float = 2.0
    _next: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._next = self.initial_s

    def next_delay(self) -> float:
        delay = self._next
        self._next = min(self._next * self.factor, self.max_s)
        return delay


@dataclass
class ComponentHealth:
    name: str
    timeout_s: float  # no signal (stream time) this long: muted
    stall_s: float  # nothing at all (wall time) this long: stalled
    state: str = STARTING
    last_beat: float | None = None  # time.monotonic() of the last item
    media_t: float | None = None  # stream time of the last item
    signal_t: float | None = None  # stream time of the last item with signal (or of the first item)
    error: str = ""
    reopens: int = 0
    items: int = 0


class HealthMonitor:
    """Thread-safe registry of heartbeats; `usable(name)` decides whether a modality is masked."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parts: dict[str, ComponentHealth] = {}

    def register(self, name: str, timeout_s: float, state: str = STARTING, error: str = "",
                 can_stall: bool = True) -> None:
        """`can_stall`: False for a file, which delivers, ends or fails but never hangs like a device
        (a file raced through as fast as possible may wait on a full queue for any time)."""
        with self._lock:
            stall = timeout_s if can_stall else math.inf
            self._parts[name] = ComponentHealth(name, timeout_s, stall, state=state, error=error)

    def beat(self, name: str, t: float | None = None, signal: bool = True) -> None:
        now = time.monotonic()
        with self._lock:
            p = self._parts[name]
            p.last_beat = now
            p.items += 1
            if t is not None:
                p.media_t = t
                if signal or p.signal_t is None:
                    p.signal_t = t
            if p.state in (STARTING, STALLED, FAILED):
                p.state, p.error, p.signal_t = OK, "", t  # a (re)opened stream starts afresh
            elif p.state == MUTED and signal:
                p.state, p.error = OK, ""

    def touch(self, name: str) -> None:
        """Alive but held back (a full queue in fast mode): not a stall."""
        with self._lock:
            self._parts[name].last_beat = time.monotonic()

    def fail(self, name: str, error: BaseException | str) -> None:
        with self._lock:
            p = self._parts[name]
            p.state, p.error = FAILED, _one_line(error)

    def reopening(self, name: str) -> None:
        with self._lock:
            self._parts[name].reopens += 1

    def end(self, name: str) -> None:
        with self._lock:
            self._parts[name].state = ENDED

    @staticmethod
    def _refresh(p: ComponentHealth, now: float) -> None:
        if p.state != OK or p.last_beat is None:
            return
        if now - p.last_beat > p.stall_s:
            p.state, p.error = STALLED, f"nothing received for {p.stall_s:g} s"
        elif p.media_t is not None and p.media_t - p.signal_t > p.timeout_s:
            p.state, p.error = MUTED, f"no signal for {p.timeout_s:g} s"

    def state(self, name: str) -> str:
        with self._lock:
            p = self._parts.get(name)
            if p is None:
                return ABSENT
            self._refresh(p, time.monotonic())
            return p.state

    def usable(self, name: str) -> bool:
        """True while the component beats (with signal) within its timeout."""
        return self.state(name) == OK

    def reason(self, name: str) -> str:
        """Why a component is not usable, in words ("" when it is)."""
        with self._lock:
            p = self._parts.get(name)
            if p is None:
                return f"{name} absent"
            self._refresh(p, time.monotonic())
            if p.state == OK:
                return ""
            if p.state == STARTING:
                return f"{name} starting"
            return f"{name} {p.state}" + (f": {p.error}" if p.error else "")

    def snapshot(self) -> dict[str, dict]:
        now = time.monotonic()
        with self._lock:
            out = {}
            for p in self._parts.values():
                self._refresh(p, now)
                out[p.name] = {"state": p.state, "error": p.error, "reopens": p.reopens,
                               "items": p.items, "media_t": p.media_t}
            return out


def _one_line(error: BaseException | str) -> str:
    text = str(error) if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return text.strip().splitlines()[0][:200] if text.strip() else text
