"""SentimentEvent: what the live runtime emits, one per utterance (or per interval).

Times are seconds on the pipeline's clock: from the start of the run for live sensors, from the
start of the file for media files. Modality names follow the model contract (text, audio,
vision); people read them as text, voice and face.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from edge_msa.features.spec import MODALITIES

DISPLAY_NAMES = {"text": "text", "audio": "voice", "vision": "face"}
# Half-width of the neutral band per label scale: scores that round to 0 on MOSI's 7-point scale
# (|s| < 0.5), and SIMS's 3-class cut (|s| <= 0.1).
NEUTRAL_BAND = {"mosi": 0.5, "sims": 0.1}


def label_for(score: float, scale: str = "mosi") -> str:
    """negative / neutral / positive, with the field's neutral band for the label scale."""
    band = NEUTRAL_BAND.get(scale, NEUTRAL_BAND["mosi"])
    if score > band:
        return "positive"
    if score < -band:
        return "negative"
    return "neutral"


@dataclass
class Evidence:
    """What one modality alone says: the backend run with only its mask on (same window)."""

    present: bool
    score: float | None = None
    uncertainty: float | None = None


@dataclass
class SentimentEvent:
    index: int
    kind: str  # "utterance" (VAD end) or "interval" (periodic, e.g. no usable audio)
    start: float
    end: float
    score: float
    label: str
    uncertainty: float
    transcript: str
    modalities: dict[str, bool]  # which modalities the fused score used
    masked: dict[str, str] = field(default_factory=dict)  # absent modality -> why
    evidence: dict[str, Evidence] = field(default_factory=dict)
    latency_ms: dict[str, float] = field(default_factory=dict)
    emitted_at: float = 0.0  # unix time, for sinks that show wall-clock time

    @property
    def used(self) -> list[str]:
        return [m for m in MODALITIES if self.modalities.get(m)]

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: dict) -> SentimentEvent:
        d = dict(d)
        d["evidence"] = {m: Evidence(**e) for m, e in d.get("evidence", {}).items()}
        return cls(**d)

    def summary_line(self) -> str:
        """One human line: times, label, fused score, per-modality evidence, transcript."""
        parts = []
        for m in MODALITIES:
            ev = self.evidence.get(m)
            name = DISPLAY_NAMES[m]
            if ev is not None and ev.present and ev.score is not None:
                parts.append(f"{name} {ev.score:+.2f}")
            else:
                parts.append(f"{name} -")
        return (f"{self.start:7.2f}-{self.end:7.2f}s  {self.label:<8} {self.score:+.2f} "
                f"(+/-{self.uncertainty:.2f})  [{', '.join(parts)}]  \"{self.transcript}\"")
