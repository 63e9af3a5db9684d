"""SentimentEvent: what the live runtime emits, one per utterance (or per interval).

Times are seconds on the pipeline's clock: from the start of the run for live sensors, from the
start of the file for media files. An event names its modalities the way people do (text, voice,
face) in `modalities`, `masked` and `evidence`; the model contract inside (features/spec.py
MODALITIES: text, audio, vision) keeps its own names, and the event's constructor renames them
(`event_keys`): fusion builds events with the model's names. Reading the old keys (`audio`,
`vision`: JSON lines of earlier releases, code that indexes `evidence["audio"]`) still works for
one release, with a DeprecationWarning.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass, field

EVENT_MODALITIES = ("text", "voice", "face")
EVENT_NAME = {"text": "text", "audio": "voice", "vision": "face"}  # model contract -> event
SCALE_MAX = {"mosi": 3.0, "sims": 1.0}  # the label scale's range: -max..+max
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


def tone(score: float, scale: str = "mosi") -> tuple[str, int]:
    """How to colour a score (the dashboard's and the overlay's evidence badges): its label (sign,
    with the neutral band) and a strength 1..3, the thirds of the scale's range |score| reaches."""
    strength = min(3, 1 + int(3 * abs(score) / SCALE_MAX.get(scale, SCALE_MAX["mosi"])))
    return label_for(score, scale), strength


class ModalityKeys(dict):
    """A per-modality dict keyed text / voice / face that still reads the old keys (audio, vision)
    for one release, with a DeprecationWarning."""

    @staticmethod
    def _new(key):
        if key in ("audio", "vision"):
            warnings.warn(f"event key {key!r} is now {EVENT_NAME[key]!r} (the old key goes in the next "
                          "release)", DeprecationWarning, stacklevel=3)
            return EVENT_NAME[key]
        return key

    def __missing__(self, key):
        new = self._new(key)
        if new == key:
            raise KeyError(key)
        return self[new]

    def __contains__(self, key) -> bool:
        old = key in ("audio", "vision")
        return super().__contains__(key) or (old and super().__contains__(self._new(key)))

    def get(self, key, default=None):
        return super().get(self._new(key), default)


def event_keys(per_modality: dict) -> ModalityKeys:
    """The same dict keyed by the event's names (text, voice, face); model-contract names (audio,
    vision) are renamed."""
    return ModalityKeys((EVENT_NAME.get(k, k), v) for k, v in per_modality.items())


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
    # the person's baselines when the event was made (calibrated path): face frames seen and the
    # resting-face offset subtracted, the voice baseline, whether enrolment is on or done
    baseline: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.modalities, self.masked = event_keys(self.modalities), event_keys(self.masked)
        self.evidence = event_keys(self.evidence)

    @property
    def used(self) -> list[str]:
        return [m for m in EVENT_MODALITIES if self.modalities.get(m)]

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: dict) -> SentimentEvent:
        d = dict(d)
        d["evidence"] = {m: Evidence(**e) for m, e in d.get("evidence", {}).items()}
        return cls(**d)  # keys audio / vision (events of earlier releases) become voice / face

    def summary_line(self) -> str:
        """One human line: times, label, fused score, per-modality evidence, transcript."""
        parts = []
        for m in EVENT_MODALITIES:
            ev = self.evidence.get(m)
            if ev is not None and ev.present and ev.score is not None:
                parts.append(f"{m} {ev.score:+.2f}")
            else:
                parts.append(f"{m} -")
        return (f"{self.start:7.2f}-{self.end:7.2f}s  {self.label:<8} {self.score:+.2f} "
                f"(+/-{self.uncertainty:.2f})  [{', '.join(parts)}]  \"{self.transcript}\"")
