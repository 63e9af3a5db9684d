"""Context prompts for the MMSLF teacher: a sentence per sample about the speaker's vocal and
visual cues. The student never sees them; only the teacher reads them, during training.

Providers (anything with `prompts(data) -> list[str]`, one string per row, "" = no prompt):
- `JsonlPrompts(path)`: a JSON-lines file `{"id": ..., "prompt": ...}` keyed by sample id, e.g.
  written by any multimodal LLM a user has. Rows without an entry get "".
- `FeatureDescriber(spec)`: template sentences from the sample's own live audio/vision features
  (pitch level/trend/variability, loudness, pauses; smile, frown, brows, eyes, nods), so the
  mechanism works with no LLM at all. Feature kinds it does not know and absent modalities are
  simply not described; a text-only sample gets "".
- `NoPrompts()`: "" everywhere.
`attach_prompts(data, provider)` returns a `PromptedData` whose batches carry the tokenized prompt
as two extra inputs (prompt ids, prompt mask), which `MMSLFTeacher.forward` accepts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from edge_msa.data.batch import MSAData
from edge_msa.errors import UserError
from edge_msa.features.spec import FeatureSpec
from edge_msa.features.text import tokenize
from edge_msa.user_files import jsonl_objects

PROMPT_TOKENS = 48  # describer sentences are 20-40 MiniLM tokens
VOICE_KIND = "audio:logmel-40-pitch-energy"  # edge_msa.features.audio.KIND
FACE_KIND = "vision:blendshapes-52-pose-3-expr-7"  # edge_msa.features.face (FEATURE_NAMES order)


class PromptProvider(Protocol):
    def prompts(self, data: MSAData) -> list[str]: ...


class NoPrompts:
    def prompts(self, data: MSAData) -> list[str]:
        return [""] * len(data)


class JsonlPrompts:
    """Prompts from a JSON-lines file of `{"id": str, "prompt": str}` objects."""

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        if not path.is_file():
            raise UserError(f"prompt file {path} does not exist")
        self.path = path
        self.table: dict[str, str] = {}
        for n, row in jsonl_objects(path, path.read_text(encoding="utf-8")):
            if not (isinstance(row.get("id"), str | int) and isinstance(row.get("prompt"), str)):
                raise UserError(f'{path}, line {n}: expected {{"id": ..., "prompt": "..."}}, got {row!r:.80}')
            key = str(row["id"])
            if key in self.table:
                raise UserError(f"{path}, line {n}: id {key!r} appears twice")
            self.table[key] = row["prompt"].strip()

    def prompts(self, data: MSAData) -> list[str]:
        if not data.ids:
            raise UserError("this dataset has no sample ids, so prompts cannot be looked up by id")
        return [self.table.get(str(i), "") for i in data.ids]

    def coverage(self, data: MSAData) -> float:
        """Share of rows of `data` that have a prompt in the file."""
        return float(np.mean([str(i) in self.table for i in data.ids])) if data.ids else 0.0


# Thresholds of the describer, on the live features' scales (edge_msa.features.audio / .face).
VOICED = 0.18  # pitch channel = ln(F0 / 50 Hz): above ln(60/50) the frame is voiced
MIN_VOICED_SHARE = 0.1
HIGH_HZ, LOW_HZ = 220.0, 120.0
TREND = 0.08  # last-third minus first-third mean ln F0: about +-8 % pitch change
LIVELY, MONOTONE = 0.2, 0.07  # std of voiced ln F0
LOUD, SOFT, PAUSE = 0.8, -0.5, -1.0  # normalised log energy (0 = the corpus mean, 1 = one std)
MANY_PAUSES = 0.4
FACE_CUES = (  # (channels averaged, threshold, phrase), scores are in [0, 1]
    (("mouthSmileLeft", "mouthSmileRight"), 0.5, "smiling broadly"),
    (("mouthSmileLeft", "mouthSmileRight"), 0.2, "smiling slightly"),
    (("mouthFrownLeft", "mouthFrownRight"), 0.2, "mouth corners pulled down"),
    (("browDownLeft", "browDownRight"), 0.3, "brows lowered"),
    (("browInnerUp",), 0.3, "inner brows raised"),
    (("eyeWideLeft", "eyeWideRight"), 0.3, "eyes wide open"),
    (("noseSneerLeft", "noseSneerRight"), 0.2, "nose wrinkled"),
    (("jawOpen",), 0.4, "mouth open wide"),
)
NOD, SHAKE = 0.05, 0.08  # std of head pitch / yaw in radians


def describe_voice(frames: np.ndarray) -> str:
    """Present `audio:logmel-40-pitch-energy` frames [T, 42] -> one sentence."""
    pitch, energy = frames[:, 40], frames[:, 41]
    parts = []
    voiced = pitch[pitch > VOICED]
    if len(voiced) < max(2, MIN_VOICED_SHARE * len(pitch)):
        parts.append("barely any voiced speech")
    else:
        hz = 50.0 * float(np.exp(np.median(voiced)))
        level = "high" if hz > HIGH_HZ else "low" if hz < LOW_HZ else "medium"
        third = max(1, len(voiced) // 3)
        change = float(voiced[-third:].mean() - voiced[:third].mean())
        trend = "rising" if change > TREND else "falling" if change < -TREND else "steady"
        spread = float(voiced.std())
        tone = ("lively, varied intonation" if spread > LIVELY else
                "flat, monotone intonation" if spread < MONOTONE else "moderate intonation")
        parts.append(f"{level} pitch (about {hz:.0f} Hz), {trend}, with {tone}")
    loud = float(energy.mean())
    parts.append("a loud, energetic voice" if loud > LOUD else
                 "a soft, quiet voice" if loud < SOFT else "moderate loudness")
    if float(np.mean(energy < PAUSE)) > MANY_PAUSES:
        parts.append("many pauses")
    return "The speaker's voice has " + "; ".join(parts) + "."


def describe_face(frames: np.ndarray) -> str:
    """Present live vision frames [T, 62] (`edge_msa.features.face.FEATURE_NAMES`) -> one sentence."""
    from edge_msa.features.face import FEATURE_NAMES

    col = {n: i for i, n in enumerate(FEATURE_NAMES)}
    cues, seen = [], set()
    for channels, threshold, phrase in FACE_CUES:
        value = float(frames[:, [col[c] for c in channels]].mean())
        if value > threshold and channels not in seen:  # first (strongest) phrase per channel set
            cues.append(phrase)
            seen.add(channels)
    pose = frames[:, [col["headYaw"], col["headPitch"]]] * np.pi  # stored divided by pi
    if len(frames) > 1 and float(pose[:, 1].std()) > NOD:
        cues.append("nodding")
    if len(frames) > 1 and float(pose[:, 0].std()) > SHAKE:
        cues.append("shaking the head")
    return "The speaker's face shows " + (", ".join(cues) if cues else "a neutral expression") + "."


DESCRIBERS = {VOICE_KIND: describe_voice, FACE_KIND: describe_face}


class FeatureDescriber:
    """Template prompts from a sample's own audio and vision features (no LLM needed)."""

    def __init__(self, spec: FeatureSpec) -> None:
        self.audio = DESCRIBERS.get(spec.audio.kind)
        self.vision = DESCRIBERS.get(spec.vision.kind)

    def describe(self, audio: np.ndarray, audio_mask: np.ndarray, vision: np.ndarray,
                 vision_mask: np.ndarray) -> str:
        """One sample (frames [T, D], masks [T]) -> prompt; "" when nothing can be described."""
        out = []
        for fn, frames, mask in ((self.audio, audio, audio_mask), (self.vision, vision, vision_mask)):
            if fn is not None and mask.sum() > 0:
                out.append(fn(frames[mask > 0]))
        return " ".join(out)

    def prompts(self, data: MSAData) -> list[str]:
        return [self.describe(data.audio[i], data.audio_mask[i], data.vision[i], data.vision_mask[i])
                for i in range(len(data))]


def load_provider(source: str, spec: FeatureSpec) -> PromptProvider:
    """'describe' (built-in describer), 'none', or the path of a JSON-lines prompt file."""
    if source == "describe":
        return FeatureDescriber(spec)
    if source == "none":
        return NoPrompts()
    if not source.endswith((".jsonl", ".json")):
        raise UserError(f"prompts must be 'describe', 'none' or a .jsonl file, not {source!r}")
    return JsonlPrompts(source)


def tokenize_prompts(prompts: list[str], max_len: int = PROMPT_TOKENS) -> tuple[np.ndarray, np.ndarray]:
    """Prompts -> (ids [N, max_len], mask [N, max_len]); an empty prompt has an all-zero mask,
    which the teacher reads as "no prompt" (not as the encoding of [CLS][SEP])."""
    ids, mask = tokenize([p or "" for p in prompts], max_len)
    empty = np.array([not p for p in prompts], dtype=bool)
    mask[empty] = 0.0
    return ids, mask


@dataclass
class PromptedData(MSAData):
    """MSAData whose model inputs end with (prompt ids, prompt mask): the teacher's 8 inputs."""

    prompt: np.ndarray | None = None
    prompt_mask: np.ndarray | None = None
    prompt_text: list[str] | None = None

    def subset(self, index) -> PromptedData:
        idx = np.arange(len(self))[index]
        out = super().subset(idx)
        out.prompt, out.prompt_mask = self.prompt[idx], self.prompt_mask[idx]
        out.prompt_text = [self.prompt_text[i] for i in idx]
        return out

    def without_prompts(self) -> MSAData:
        """The six-input view (what a student and the metrics read)."""
        return MSAData(**{f: getattr(self, f) for f in MSAData.__dataclass_fields__})

    def inputs(self, index=slice(None)) -> tuple[torch.Tensor, ...]:
        extra = (torch.from_numpy(np.ascontiguousarray(a[index])) for a in (self.prompt, self.prompt_mask))
        return super().inputs(index) + tuple(extra)


def attach_prompts(data: MSAData, provider: PromptProvider, max_len: int = PROMPT_TOKENS) -> PromptedData:
    """`data` plus each row's tokenized prompt from `provider`."""
    texts = provider.prompts(data)
    if len(texts) != len(data):
        raise UserError(f"prompt provider gave {len(texts)} prompts for {len(data)} samples")
    ids, mask = tokenize_prompts(texts, max_len)
    base = {f: getattr(data, f) for f in MSAData.__dataclass_fields__}
    return PromptedData(**base, prompt=ids, prompt_mask=mask, prompt_text=texts)
