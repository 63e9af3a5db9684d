"""One monotonic time base per pipeline run.

Live sensors stamp their items with `now()` (seconds since the run started); media files stamp
theirs with media time and, when paced, are released at `now() == media time`, so audio and
video of one run always share one clock.
"""

from __future__ import annotations

import threading
import time


class Clock:
    def __init__(self) -> None:
        self.restart()

    def restart(self) -> None:
        """Time 0 is now (the run starts: warm-up before it must not eat into paced media)."""
        self._t0 = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self._t0

    def wait_until(self, t: float, stop: threading.Event) -> bool:
        """Sleep until `now() >= t`; False when `stop` was set first."""
        delay = t - self.now()
        if delay <= 0:
            return not stop.is_set()
        return not stop.wait(delay)
