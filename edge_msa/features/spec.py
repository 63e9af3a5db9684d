"""FeatureSpec: what each modality's input tensor is (kind, dim, frame rate, max length).

A model is trained for one spec; its bundle records it; the runtime refuses a bundle whose
spec it cannot produce live. Kinds are strings such as `tokens:minilm-l6`, `features:bert-768`,
`audio:logmel-40`, `audio:covarep-74`, `vision:blendshapes-52`, `vision:openface-709`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np

from edge_msa.errors import UserError

MODALITIES = ("text", "audio", "vision")
# every model's forward arguments and outputs, in order (also the names inside exported bundles)
INPUT_NAMES = ("text", "text_mask", "audio", "audio_mask", "vision", "vision_mask")
OUTPUT_NAMES = ("score", "uncertainty")
# Bounds a spec read from a file must keep (every spec here is far inside them: 400 frames, 768-d,
# a 30522-word vocabulary): a tampered `max_len` of 1e9 would otherwise allocate 156 GiB per window.
MAX_LEN, MAX_DIM, MAX_RATE_HZ = 10_000, 1_000_000, 1000.0
MAX_WINDOW_VALUES = 1 << 24  # max_len x dim of one modality's window: 64 MiB of float32


@dataclass(frozen=True)
class ModalitySpec:
    kind: str
    dim: int  # feature size per frame; for token kinds, the vocabulary size
    max_len: int  # frames (or tokens) per window
    rate_hz: float = 0.0  # frames per second; 0 for tokens

    @property
    def is_tokens(self) -> bool:
        return self.kind.startswith("tokens:")

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str) or ":" not in self.kind:
            raise UserError(f"feature kind {self.kind!r} must look like 'family:name'")
        for name, value, top in (("dim", self.dim, MAX_DIM), ("max_len", self.max_len, MAX_LEN)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or not 0 < value <= top:
                raise UserError(f"feature {self.kind!r}: {name} must be an integer 1..{top}, got {value!r}")
        frame = 1 if self.is_tokens else self.dim  # a token kind's dim is its vocabulary, not a width
        if self.max_len * frame > MAX_WINDOW_VALUES:
            raise UserError(f"feature {self.kind!r}: a window of {self.max_len} x {frame} values is more "
                            f"than {MAX_WINDOW_VALUES} (max_len x dim)")
        rate = self.rate_hz
        is_number = isinstance(rate, int | float | np.number) and not isinstance(rate, bool)
        if not (is_number and 0 <= rate <= MAX_RATE_HZ):
            raise UserError(f"feature {self.kind!r}: rate_hz must be a number 0..{MAX_RATE_HZ}, got {rate!r}")


@dataclass(frozen=True)
class FeatureSpec:
    text: ModalitySpec
    audio: ModalitySpec
    vision: ModalitySpec
    name: str = ""
    notes: dict[str, str] = field(default_factory=dict)

    def modality(self, name: str) -> ModalitySpec:
        if name not in MODALITIES:
            raise UserError(f"unknown modality {name!r}; expected one of {MODALITIES}")
        return getattr(self, name)

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> FeatureSpec:
        try:
            mods = {m: ModalitySpec(**d[m]) for m in MODALITIES}
            name, notes = d.get("name", ""), dict(d.get("notes", {}))
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise UserError(f"malformed FeatureSpec: {e}") from None
        return cls(**mods, name=str(name), notes=notes)

    @classmethod
    def from_json(cls, text: str) -> FeatureSpec:
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as e:
            raise UserError(f"FeatureSpec is not valid JSON: {e}") from None


# The field's dataset layouts (MMSA feature pickles) and the live layout of this project.
MOSI_BERT = FeatureSpec(
    text=ModalitySpec("features:bert-768", 768, 50),
    audio=ModalitySpec("audio:covarep-5", 5, 50),
    vision=ModalitySpec("vision:facet-20", 20, 50),
    name="mosi-bert-aligned",
)
MOSEI_BERT = FeatureSpec(
    text=ModalitySpec("features:bert-768", 768, 50),
    audio=ModalitySpec("audio:covarep-74", 74, 50),
    vision=ModalitySpec("vision:facet-35", 35, 50),
    name="mosei-bert-aligned",
)
SIMS_BERT = FeatureSpec(
    text=ModalitySpec("features:bert-768", 768, 39),
    audio=ModalitySpec("audio:librosa-33", 33, 400),
    vision=ModalitySpec("vision:openface-709", 709, 55),
    name="sims-bert-unaligned",
)
MINILM_VOCAB = 30522
LIVE = FeatureSpec(
    text=ModalitySpec("tokens:minilm-l6", MINILM_VOCAB, 64),
    audio=ModalitySpec("audio:logmel-40-pitch-energy", 42, 300, 50.0),
    vision=ModalitySpec("vision:blendshapes-52-pose-3-expr-7", 62, 60, 10.0),
    name="live-minilm",
)
NAMED_SPECS = {s.name: s for s in (MOSI_BERT, MOSEI_BERT, SIMS_BERT, LIVE)}


def get_spec(name_or_spec: str | FeatureSpec | dict | None) -> FeatureSpec:
    """Resolve a spec given by name, dict or instance; None means the live spec."""
    if name_or_spec is None:
        return LIVE
    if isinstance(name_or_spec, FeatureSpec):
        return name_or_spec
    if isinstance(name_or_spec, dict):
        return FeatureSpec.from_dict(name_or_spec)
    if name_or_spec not in NAMED_SPECS:
        raise UserError(f"unknown FeatureSpec {name_or_spec!r}; known: {sorted(NAMED_SPECS)}")
    return NAMED_SPECS[name_or_spec]


def pad_to_spec(inputs: tuple[np.ndarray, ...], spec: FeatureSpec) -> tuple[np.ndarray, ...]:
    """Zero-pad (mask 0) or cut each modality's time axis to the spec's max_len."""
    out = []
    for i, modality in enumerate((spec.text, spec.audio, spec.vision)):
        for a in inputs[2 * i : 2 * i + 2]:
            a = np.asarray(a)[:, : modality.max_len]
            pad = [(0, 0), (0, modality.max_len - a.shape[1])] + [(0, 0)] * (a.ndim - 2)
            out.append(np.pad(a, pad))
    return tuple(out)


# A bundle exported with a variable text length takes 2..max_len tokens ([CLS] [SEP] at least):
# torch.export specialises lengths 0 and 1, and the text encoder is almost all of a call's work.
MIN_TEXT_LEN = 2


def used_text_len(text_mask: np.ndarray) -> int:
    """Tokens up to the last one the mask keeps (MIN_TEXT_LEN at least): what a row really uses."""
    kept = np.flatnonzero(np.asarray(text_mask).reshape(-1))
    return max(MIN_TEXT_LEN, int(kept[-1]) + 1 if kept.size else 0)


def trim_text(inputs: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    """One row (batch 1) with the text and its mask cut after the last kept token.

    Exact for every family here: padding is masked out of attention and pooling, and positions
    count from the start, so the tokens after the last kept one change nothing but the cost.
    """
    n = used_text_len(inputs[1])
    return (inputs[0][:, :n], inputs[1][:, :n], *inputs[2:])


def check_live_spec(spec: FeatureSpec) -> None:
    """The runtime produces LIVE's kinds only: refuse a bundle trained on anything else."""
    for m in MODALITIES:
        want, got = LIVE.modality(m), spec.modality(m)
        if (got.kind, got.dim) != (want.kind, want.dim):
            raise UserError(f"bundle's {m} features are {got.kind} ({got.dim}-d) but the live runtime "
                            f"produces {want.kind} ({want.dim}-d): export a model trained on the live spec")
        if m == "audio" and got.rate_hz != want.rate_hz:
            raise UserError(f"bundle's audio runs at {got.rate_hz} Hz; live features are {want.rate_hz} Hz")
