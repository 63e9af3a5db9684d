"""Missing-modality protocols: random token/frame drop (LNLN), whole-modality subsets, bursts.

All of them are deterministic given a seed (numpy Generator) or a torch.Generator.

(a) `lnln_drop(data, rate, seed)`, the evaluation protocol of LNLN (NeurIPS 2024): each present
    token/frame of every modality is dropped independently with probability `rate`. Dropped
    token ids become [UNK] (100); [CLS], [SEP] and padding are never touched. With BERT-feature
    text the first and last present frames play [CLS]/[SEP] and are kept; other dropped frames
    become 0. Dropped audio/vision frames become 0. Masks are NOT changed: as in LNLN's loader
    the mask marks padding, and the model must notice the lost content itself (a live sensor
    cannot tell it either). The field reports r = 0, 0.1 .. 0.9 with seeds 1111-1113
    (`LNLN_RATES`, `LNLN_SEEDS`), per rate and the mean.
(b) `random_missing(inputs, max_rate, generator)`: the training-time augmentation, per batch on
    torch tensors: a `complete_frac` share of the samples is left complete, the others get
    r ~ U(0, max_rate) and the drop of (a).
(c) `drop_modalities(x, subset)`: keep only the modalities in `subset` (one of `SUBSETS`, the 7
    non-empty subsets of L, A, V); the others are zeroed with an all-zero mask, which is how the
    model contract marks an absent modality.
(d) `burst_drop(data, prob, min_frames, max_frames, seed)`: sensor dropout in time: with
    probability `prob` per sample and modality, one contiguous run of frames inside the present
    span is lost: values 0 AND mask 0 (the runtime knows when its sensor was silent).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from edge_msa.data.batch import ARRAY_FIELDS, MSAData
from edge_msa.errors import UserError
from edge_msa.features.text import CLS_ID, PAD_ID, SEP_ID, UNK_ID

if TYPE_CHECKING:  # the drops below run on tensors; subsets and bursts are numpy (lean install)
    import torch

SUBSETS = ("LAV", "LA", "LV", "AV", "L", "A", "V")
LNLN_RATES = tuple(round(0.1 * i, 1) for i in range(10))
LNLN_SEEDS = (1111, 1112, 1113)
_LETTER = {"L": ("text", "text_mask"), "A": ("audio", "audio_mask"), "V": ("vision", "vision_mask")}

Inputs = tuple["torch.Tensor", ...]  # (text, text_mask, audio, audio_mask, vision, vision_mask)


def _text_droppable(text: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Positions whose content may be dropped: present, and not [CLS]/[SEP] (or their frames)."""
    import torch

    present = mask > 0
    if text.dim() == 2:  # token ids
        special = (text == CLS_ID) | (text == SEP_ID) | (text == PAD_ID)
        return present & ~special
    t = torch.arange(mask.shape[1], device=mask.device)
    first = present.int().argmax(1, keepdim=True)
    last = mask.shape[1] - 1 - present.flip(1).int().argmax(1, keepdim=True)
    return present & (t != first) & (t != last)


def _drop(inputs: Inputs, rates: torch.Tensor, uniform: Callable[[tuple[int, ...]], torch.Tensor]) -> Inputs:
    """Drop each droppable token/frame of row i with probability rates[i] (masks unchanged)."""
    import torch

    text, text_mask, audio, audio_mask, vision, vision_mask = inputs
    rate = rates.reshape(-1, 1)
    hit = (uniform(tuple(text_mask.shape)) < rate) & _text_droppable(text, text_mask)
    if text.dim() == 2:
        text = torch.where(hit, torch.full_like(text, UNK_ID), text)
    else:
        text = text * (~hit).unsqueeze(-1).to(text.dtype)
    out = [text, text_mask]
    for x, m in ((audio, audio_mask), (vision, vision_mask)):
        hit = (uniform(tuple(m.shape)) < rate) & (m > 0)
        out += [x * (~hit).unsqueeze(-1).to(x.dtype), m]
    return tuple(out)


def _with_inputs(data: MSAData, inputs: Inputs) -> MSAData:
    return replace(data, text=inputs[0].numpy(), audio=inputs[2].numpy(), vision=inputs[4].numpy())


def lnln_drop(data: MSAData, rate: float, seed: int) -> MSAData:
    """A copy of `data` with every token/frame dropped with probability `rate` (protocol a)."""
    if not 0.0 <= rate <= 1.0:
        raise UserError(f"missing rate must be in [0, 1], got {rate}")
    import torch

    rng = np.random.default_rng(seed)
    rates = torch.full((len(data),), float(rate), dtype=torch.float64)
    return _with_inputs(data, _drop(data.inputs(), rates, lambda shape: torch.from_numpy(rng.random(shape))))


def random_missing(inputs: Inputs, max_rate: float = 0.9, complete_frac: float = 0.5,
                   generator: torch.Generator | None = None) -> Inputs:
    """Training augmentation for one batch (protocol b); tensors may live on any device."""
    if not (0.0 <= max_rate <= 1.0 and 0.0 <= complete_frac <= 1.0):
        raise UserError(f"max_rate and complete_frac must be in [0, 1], got {max_rate}, {complete_frac}")
    import torch

    device = inputs[1].device
    b = inputs[1].shape[0]
    rates = torch.rand(b, generator=generator) * max_rate
    rates[torch.randperm(b, generator=generator)[: round(b * complete_frac)]] = 0.0
    return _drop(inputs, rates.to(device),
                 lambda shape: torch.rand(shape, generator=generator).to(device))


def _check_subset(subset: str) -> set[str]:
    letters = set(subset.upper())
    if not letters or not letters <= set("LAV") or len(letters) != len(subset):
        raise UserError(f"modality subset {subset!r} must be one of {SUBSETS}")
    return letters


def drop_modalities(x: MSAData | Inputs, subset: str) -> MSAData | Inputs:
    """Keep the modalities in `subset` (e.g. "LA"); zero the others and their masks (protocol c).

    Takes and returns an MSAData or a forward-input tuple (numpy arrays or torch tensors).
    """
    absent = set("LAV") - _check_subset(subset)
    names = [n for letter in sorted(absent) for n in _LETTER[letter]]
    if isinstance(x, MSAData):
        return replace(x, **{n: np.zeros_like(getattr(x, n)) for n in names})
    dropped = {ARRAY_FIELDS.index(n) for n in names}
    if isinstance(x[0], np.ndarray):
        return tuple(np.zeros_like(v) if i in dropped else v for i, v in enumerate(x))
    import torch

    zeros = torch.zeros_like
    return tuple(zeros(v) if i in dropped else v for i, v in enumerate(x))


def burst_drop(data: MSAData, prob: float, min_frames: int, max_frames: int,
               modalities: tuple[str, ...] = ("audio", "vision"), seed: int = 0) -> MSAData:
    """Per sample and modality, with probability `prob` lose one run of min..max frames (protocol d).

    The run lies inside the span of present frames (clipped when the span is shorter); lost frames
    get value 0 and mask 0. At 50 Hz audio, 1 s of sensor dropout is 50 frames.
    """
    if not 0.0 <= prob <= 1.0 or not 1 <= min_frames <= max_frames:
        raise UserError(f"burst: need 0 <= prob <= 1 and 1 <= min_frames <= max_frames, "
                        f"got {prob}, {min_frames}, {max_frames}")
    if not set(modalities) <= {"audio", "vision"}:
        raise UserError(f"bursts apply to audio/vision frames, not {modalities}")
    rng = np.random.default_rng(seed)
    changes = {}
    for m in modalities:
        x, mask = getattr(data, m), getattr(data, f"{m}_mask")
        n, t = mask.shape
        present = mask > 0
        first = present.argmax(1)
        span = np.where(present.any(1), t - present[:, ::-1].argmax(1) - first, 0)
        length = rng.integers(min_frames, max_frames + 1, n)
        start = first + (rng.random(n) * (np.maximum(span - length, 0) + 1)).astype(np.int64)
        happens = (rng.random(n) < prob) & (span > 0)
        steps = np.arange(t)[None, :]
        lost = happens[:, None] & (steps >= start[:, None]) & (steps < (start + length)[:, None])
        lost &= steps < (first + span)[:, None]
        changes[m] = np.where(lost[..., None], np.zeros((), x.dtype), x)
        changes[f"{m}_mask"] = np.where(lost, np.zeros((), mask.dtype), mask)
    return replace(data, **changes)
