"""Several datasets in one training run, weighted by sampling.

Text corpora (audio and vision absent) and speech corpora (text and vision absent) have different
time axes; concatenating them pads every text row with 300 empty audio frames (about 1 GB for the
text corpora at the live spec). So the parts stay separate and each mini-batch is drawn from ONE
part: batches are homogeneous in which modalities are present (the missing-modality regime),
trim to little padding, and the mix is set by how many rows each part contributes per epoch:

    rows of part p per epoch = round(epoch_rows * weight_p / sum(weights))

drawn without replacement while a part has rows left, then with a fresh permutation (a small
corpus with a large weight is repeated, a large one with a small weight is subsampled). Batch
order across parts is shuffled. Labels are put on one scale by each part's `label_scale` factor.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from edge_msa.data.batch import MSAData
from edge_msa.errors import UserError


@dataclass
class MixPart:
    name: str
    data: MSAData
    weight: float

    def __post_init__(self) -> None:
        if self.weight <= 0:
            raise UserError(f"mix part {self.name!r}: weight must be > 0, got {self.weight}")
        if len(self.data) == 0:
            raise UserError(f"mix part {self.name!r} has no rows")


def rescale(data: MSAData, factor: float, scale: str) -> MSAData:
    """Labels times `factor`, relabelled as `scale` (e.g. EmoDB valence -1..1 -> x2 on -3..3)."""
    return replace(data, labels=(data.labels * np.float32(factor)).astype(np.float32), scale=scale)


def rows_per_epoch(parts: list[MixPart], epoch_rows: int) -> list[int]:
    total = sum(p.weight for p in parts)
    return [max(1, round(epoch_rows * p.weight / total)) for p in parts]


def _draw(n_rows: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` row indices of a part: whole permutations, then part of one more."""
    reps = [rng.permutation(n_rows) for _ in range(-(-count // n_rows))]
    return np.concatenate(reps)[:count]


def mixed_batches(parts: list[MixPart], batch_size: int, epoch_rows: int,
                  rng: np.random.Generator) -> list[tuple[int, np.ndarray]]:
    """One epoch: (part index, row indices) per batch, each batch from a single part, shuffled."""
    if batch_size < 1 or epoch_rows < 1:
        raise UserError("batch size and rows per epoch must be at least 1")
    batches = []
    for i, (part, count) in enumerate(zip(parts, rows_per_epoch(parts, epoch_rows), strict=True)):
        rows = _draw(len(part.data), count, rng)
        batches += [(i, rows[s : s + batch_size]) for s in range(0, len(rows), batch_size)]
    order = rng.permutation(len(batches))
    return [batches[k] for k in order]
