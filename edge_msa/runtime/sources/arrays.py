"""In-memory audio as a sensor: an app's samples run through the same pipeline as a file.

Like a file (not live): the end of the array is the end of the stream, and in fast mode nothing is
dropped. Any sample rate comes in; chunks go out at 16 kHz, 32 ms each, like a microphone's.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from edge_msa.errors import UserError
from edge_msa.features.audio import SAMPLE_RATE, resample
from edge_msa.runtime.clock import Clock
from edge_msa.runtime.sources.base import AudioChunk


def as_16k_mono(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """float32 mono at 16 kHz from [n] or [n, channels] samples at `sample_rate` (ints are scaled)."""
    x = np.asarray(samples)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if x.ndim != 1 or x.size == 0:
        raise UserError(f"audio must be a non-empty [samples] or [samples, channels] array, "
                        f"got shape {x.shape}")
    if np.issubdtype(x.dtype, np.integer):
        x = x / float(np.iinfo(x.dtype).max + 1)
    if not (isinstance(sample_rate, int | np.integer) and sample_rate > 0):
        raise UserError(f"sample_rate must be a positive number of samples per second, got {sample_rate!r}")
    x = x.astype(np.float32)
    return resample(x, int(sample_rate), SAMPLE_RATE) if sample_rate != SAMPLE_RATE else x


class ArrayAudioSource:
    live = False

    def __init__(self, samples: np.ndarray, sample_rate: int, chunk_s: float = 0.032,
                 name: str = "audio-array") -> None:
        self.samples, self.chunk_s, self.name = as_16k_mono(samples, sample_rate), chunk_s, name

    def stream(self, clock: Clock) -> Iterator[AudioChunk]:
        size = round(self.chunk_s * SAMPLE_RATE)
        for i in range(0, len(self.samples), size):
            yield AudioChunk(i / SAMPLE_RATE, self.samples[i : i + size], SAMPLE_RATE)
