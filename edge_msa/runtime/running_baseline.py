"""A person's running baseline of one signal's evidence: a robust estimate of what the signal says
when this person is at rest, shrunk toward a prior while little of them has been seen.

    offset = (n * median(last `keep` values) + prior_weight * prior) / (n + prior_weight)

The prior is where a person is assumed to rest before any of them is seen (0, or a centre measured
on neutral speech) until an enrolment replaces it with the person's own. Values older than a gap of
`reset_after_s` are forgotten (the person may have changed); the prior is kept. The runtime uses one
for the face (values: frames at 10 Hz) and one for the log-mel voice (values: utterances).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np


@dataclass
class BaselineState:
    """What a baseline holds now (events carry it; the dashboard shows it)."""

    frames: int  # values seen (face frames, or utterances for the voice)
    offset: float
    enrolled: bool

    def to_dict(self) -> dict:
        return {"frames": self.frames, "offset": round(self.offset, 4), "enrolled": self.enrolled}


class RunningBaseline:
    """Robust running estimate of one person's evidence from one signal, shrunk toward a prior."""

    def __init__(self, prior_weight: float = 50, keep: int = 600, reset_after_s: float = 10.0,
                 prior: float = 0.0) -> None:
        if prior_weight < 0 or keep < 1 or reset_after_s <= 0:
            raise ValueError("prior_weight >= 0, keep >= 1 and reset_after_s > 0")
        self.prior_weight, self.reset_after_s = prior_weight, reset_after_s
        self._values: deque[float] = deque(maxlen=keep)
        self._last_t = -np.inf
        self._prior, self._enrolled = float(prior), False
        self._unenrolled_prior = float(prior)  # what `forget` returns to

    def observe(self, times: np.ndarray, values: np.ndarray) -> None:
        """Add values (time order); values at or before the last time seen are skipped, so
        overlapping windows count each one once."""
        for t, v in zip(np.asarray(times, float), np.asarray(values, float), strict=True):
            if t <= self._last_t:
                continue
            if t - self._last_t > self.reset_after_s:
                self._values.clear()
            self._values.append(float(v))
            self._last_t = float(t)

    def offset(self) -> float:
        """The evidence this person shows at rest: the median shrunk toward the prior."""
        n = len(self._values)
        if n == 0:
            return self._prior
        median = float(np.median(np.fromiter(self._values, float, n)))
        return (n * median + self.prior_weight * self._prior) / (n + self.prior_weight)

    def enrol(self, values: np.ndarray) -> None:
        """Values of this person at rest: their median becomes the prior (kept across resets)."""
        values = np.asarray(values, float)
        if values.size == 0:
            raise ValueError("enrolment needs at least one value")
        self._prior, self._enrolled = float(np.median(values)), True
        self._values.clear()

    def recentre(self, prior: float) -> None:
        """Move the prior where the evidence read against it rests (an enrolled prior stays)."""
        self._unenrolled_prior = float(prior)
        if not self._enrolled:
            self._prior = float(prior)

    def reset(self) -> None:
        """Forget the running values (not the prior)."""
        self._values.clear()
        self._last_t = -np.inf

    def forget(self) -> None:
        """Forget the person: the running values and an enrolled prior (a new person sat down)."""
        self.reset()
        self._prior, self._enrolled = self._unenrolled_prior, False

    def state(self) -> BaselineState:
        return BaselineState(len(self._values), self.offset(), self._enrolled)
