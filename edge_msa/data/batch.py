"""MSAData: the one in-memory dataset layout every reader produces and every consumer takes.

Arrays follow the model I/O contract: text is int64 token ids [N, T] (token FeatureSpecs) or
float32 features [N, T, D]; audio/vision float32 [N, T, D]; masks float32 [N, T] (1 = present);
labels float32 [N] on the dataset's scale.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # training only: readers and bundle evaluation run without torch (lean install)
    import torch


def _pad_time(arrays: list[np.ndarray]) -> list[np.ndarray]:
    if arrays[0].ndim < 2:
        return arrays
    t = max(a.shape[1] for a in arrays)
    return [np.pad(a, [(0, 0), (0, t - a.shape[1])] + [(0, 0)] * (a.ndim - 2)) for a in arrays]


def padded_frames(frames: list[np.ndarray], max_len: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Variable-length [T_i, dim] frame sequences -> ([n, max_len, dim] cut to max_len and
    zero-padded, [n, max_len] masks: 1 where a frame is)."""
    out = np.zeros((len(frames), max_len, dim), np.float32)
    mask = np.zeros((len(frames), max_len), np.float32)
    for i, x in enumerate(frames):
        x = x[:max_len]
        out[i, : len(x)], mask[i, : len(x)] = x, 1.0
    return out, mask


ARRAY_FIELDS = ("text", "text_mask", "audio", "audio_mask", "vision", "vision_mask", "labels")


@dataclass
class MSAData:
    text: np.ndarray
    text_mask: np.ndarray
    audio: np.ndarray
    audio_mask: np.ndarray
    vision: np.ndarray
    vision_mask: np.ndarray
    labels: np.ndarray
    ids: list[str] = field(default_factory=list)
    raw_text: list[str] = field(default_factory=list)
    scale: str = "mosi"  # label scale: "mosi" (-3..3) or "sims" (-1..1)
    label_note: str = ""  # how the source's labels were mapped onto `scale`, said wherever a metric is

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: np.ndarray | list[int] | slice) -> MSAData:
        idx = np.arange(len(self))[index]
        arrays = {k: getattr(self, k)[idx] for k in ARRAY_FIELDS}
        ids = [self.ids[i] for i in idx] if self.ids else []
        raw = [self.raw_text[i] for i in idx] if self.raw_text else []
        return replace(self, **arrays, ids=ids, raw_text=raw)

    def sample(self, n: int | None, seed: int) -> MSAData:
        """A seeded random subset of `n` rows in their original order (all rows when n is None or
        at least len): `--max-train` everywhere."""
        if n is None or n >= len(self):
            return self
        return self.subset(np.sort(np.random.default_rng(seed).choice(len(self), n, replace=False)))

    def inputs(self, index=slice(None)) -> tuple[torch.Tensor, ...]:
        """The model's forward tuple for the selected rows."""
        import torch

        return tuple(torch.from_numpy(np.ascontiguousarray(getattr(self, k)[index]))
                     for k in ARRAY_FIELDS[:-1])

    def batches(self, batch_size: int, shuffle: bool = False, seed: int = 0):
        """Yield (inputs tuple, labels tensor) mini-batches."""
        import torch

        order = np.arange(len(self))
        if shuffle:
            np.random.default_rng(seed).shuffle(order)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            yield self.inputs(idx), torch.from_numpy(self.labels[idx])

    @staticmethod
    def concat(parts: list[MSAData]) -> MSAData:
        """Stack datasets with the same FeatureSpec (e.g. text-only and audio-only corpora).

        Readers store an absent modality as one zero frame ([N, 1, D], mask 0) to save memory;
        here every time axis is zero-padded (mask 0) to the longest part.
        """
        arrays = {k: np.concatenate(_pad_time([getattr(p, k) for p in parts]))
                  for k in ARRAY_FIELDS}
        return MSAData(**arrays, ids=sum((p.ids for p in parts), []),
                       raw_text=sum((p.raw_text or [""] * len(p) for p in parts), []),
                       scale=parts[0].scale,
                       label_note="; ".join(dict.fromkeys(p.label_note for p in parts if p.label_note)))

    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in fields(self))
