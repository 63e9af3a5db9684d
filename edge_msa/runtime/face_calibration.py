"""Face evidence that reads 0 on a resting face: a neutral-referenced valence mapping and a
per-person baseline.

Why: the FER2013 classifier (`features/face_expression.py`) puts much of a resting face's
probability on sad and angry; neutral is its least certain class and neutral/sad its most common
confusion, so the bundle's table (valence x probability, `export/default/face_valence.yaml`) reads
a calm face as about -1 (issue 27: the CREMA-D neutral clip -1.1). Two corrections, neither
fitted to any clip:

1. Mapping. An expression moves the score by how much the classifier prefers it to "neutral":
       evidence(frame) = sum_c valence_c * max(0, P_c - P_neutral)
   A face the classifier calls sad at 0.40 beside neutral at 0.30 gives 0.10 x valence(sad); a
   clear smile (happy 0.9, neutral 0.05) keeps most of its valence. No labelled faces and no
   published FER2013 confusion matrix with numbers were reachable here, so this is a rule, not a
   fit: the manifest's valence table is used as it is, relative to neutral.
2. Baseline. A person's resting face is not their sentiment: the median of their face evidence
   over the last `keep_frames` face frames, shrunk toward the prior (0, or the enrolled value)
   with the weight of `prior_frames` frames, is subtracted. Early in a run the baseline is small,
   so the first events are not zeroed; it is forgotten when the face is gone longer than
   `reset_after_s` (another person may sit down). Identity is not recognised: a new face in view
   without a gap keeps the old person's baseline until the window rolls over.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from edge_msa.features.face_expression import EXPRESSIONS

NEUTRAL = EXPRESSIONS.index("neutral")


def expression_slice(vision_dim: int) -> slice:
    """The expression probabilities' channels of the live vision features (the last 7)."""
    return slice(vision_dim - len(EXPRESSIONS), vision_dim)


def valence_vector(valence: dict[str, float]) -> np.ndarray:
    """The manifest's {expression: valence} table in EXPRESSIONS order (unnamed classes 0)."""
    return np.array([float(valence.get(e, 0.0)) for e in EXPRESSIONS], np.float64)


def frame_evidence(probs: np.ndarray, valence: np.ndarray) -> np.ndarray:
    """[N, 7] expression probabilities -> [N] neutral-referenced face evidence per frame."""
    probs = np.asarray(probs, np.float64)
    above = np.maximum(probs - probs[:, NEUTRAL:NEUTRAL + 1], 0.0)
    return above @ valence


@dataclass
class BaselineState:
    """What a baseline holds now (events carry it; the dashboard shows it)."""

    frames: int
    offset: float
    enrolled: bool

    def to_dict(self) -> dict:
        return {"frames": self.frames, "offset": round(self.offset, 4), "enrolled": self.enrolled}


class FaceBaseline:
    """Robust running estimate of one person's face evidence, shrunk toward a prior."""

    def __init__(self, prior_frames: int = 50, keep_frames: int = 600, reset_after_s: float = 10.0) -> None:
        if prior_frames < 0 or keep_frames < 1 or reset_after_s <= 0:
            raise ValueError("prior_frames >= 0, keep_frames >= 1 and reset_after_s > 0")
        self.prior_frames, self.reset_after_s = prior_frames, reset_after_s
        self._values: deque[float] = deque(maxlen=keep_frames)
        self._last_t = -np.inf
        self._prior, self._enrolled = 0.0, False

    def observe(self, times: np.ndarray, values: np.ndarray) -> None:
        """Add face frames (time order); frames at or before the last one seen are skipped, so
        overlapping windows count each frame once."""
        for t, v in zip(np.asarray(times, float), np.asarray(values, float), strict=True):
            if t <= self._last_t:
                continue
            if t - self._last_t > self.reset_after_s:
                self._values.clear()
            self._values.append(float(v))
            self._last_t = float(t)

    def offset(self) -> float:
        """The evidence this person's face shows at rest: median shrunk toward the prior."""
        n = len(self._values)
        if n == 0:
            return self._prior
        median = float(np.median(np.fromiter(self._values, float, n)))
        return (n * median + self.prior_frames * self._prior) / (n + self.prior_frames)

    def enrol(self, values: np.ndarray) -> None:
        """Neutral face frames of this person: their median becomes the prior (kept across resets)."""
        values = np.asarray(values, float)
        if values.size == 0:
            raise ValueError("enrolment needs at least one face frame")
        self._prior, self._enrolled = float(np.median(values)), True
        self._values.clear()

    def reset(self) -> None:
        """Forget the running frames (not the enrolled prior)."""
        self._values.clear()
        self._last_t = -np.inf

    def state(self) -> BaselineState:
        return BaselineState(len(self._values), self.offset(), self._enrolled)
