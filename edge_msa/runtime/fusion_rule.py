"""Bounded fusion of per-expert evidence: the fused score of the runtime's calibrated path.

The `evidence_fusion` graphs shipped before `fusion: bounded` added the experts' evidence and
clipped at +-3 (a naive-Bayes sum). Three small biases then added up to -3 (issue 27: the CREMA-D
disgust clip read -3.00 though no signal went below -1.64), and the uncertainty was one constant per
set of present modalities. The bounded graphs compute this rule themselves
(`evidence_fusion.bounded_fusion`, its torch twin) with confidence 1 and no baseline. Here:

    r_m   = w_m / max_k w_k                 reliability relative to the most reliable present expert,
                                            w_m = confidence_m / error_m^2 (error from validation)
    score = B * tanh(sum_m r_m * e_m / B)   B = the scale's bound (3 on MOSI)

- one expert alone: score ~ its evidence (tanh is the identity near 0);
- experts that disagree: the r-weighted sum of opposite signs lies between them (r <= 1);
- experts that agree: the sum may go beyond each, but tanh bends it before the bound, so three
  weak signals of -1 give -2.28, not -3.
The uncertainty is the Gaussian posterior's standard deviation (prior PRIOR_STD, the experts'
errors as precisions, each scaled by its confidence) widened by the experts' weighted spread
around their weighted mean: agreement adds nothing, disagreement adds its spread. A transcript
the recogniser doubts (low confidence) counts less and leaves more uncertainty.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

PRIOR_STD = 1.5  # spread of sentiment on the MOSI scale with no evidence (evidence_fusion's prior)
MIN_CONFIDENCE = 0.05  # a reading is never weighted to exactly zero (it was present)


@dataclass(frozen=True)
class Reading:
    """What one expert says: evidence on the label scale, its validation error, its confidence."""

    evidence: float
    error: float
    confidence: float = 1.0

    @property
    def precision(self) -> float:
        return max(self.confidence, MIN_CONFIDENCE) / self.error ** 2

    @property
    def uncertainty(self) -> float:
        """The reading's own standard deviation: its error widened by the confidence it lacks."""
        return self.precision ** -0.5


def fuse(readings: dict[str, Reading], bound: float = 3.0,
         prior_std: float = PRIOR_STD) -> tuple[float, float]:
    """(score, uncertainty) of the present experts' readings; (0, prior_std) when there are none."""
    if not readings:
        return 0.0, prior_std
    precisions = {m: r.precision for m, r in readings.items()}
    top = max(precisions.values())
    rel = {m: p / top for m, p in precisions.items()}
    total = sum(rel[m] * r.evidence for m, r in readings.items())
    score = bound * math.tanh(total / bound)
    mean = sum(rel[m] * r.evidence for m, r in readings.items()) / sum(rel.values())
    spread = sum(rel[m] * (r.evidence - mean) ** 2 for m, r in readings.items()) / sum(rel.values())
    posterior = 1.0 / (1.0 / prior_std ** 2 + sum(precisions.values()))
    return score, math.sqrt(posterior + spread)


def error_from_uncertainty(uncertainty: float, prior_std: float = PRIOR_STD) -> float:
    """An expert's validation error from the uncertainty the evidence_fusion graph reports when
    only that expert is present: u = 1 / sqrt(1 / prior^2 + 1 / err^2)."""
    gap = 1.0 / max(uncertainty, 1e-6) ** 2 - 1.0 / prior_std ** 2
    return 1.0 / math.sqrt(gap) if gap > 1e-9 else prior_std
