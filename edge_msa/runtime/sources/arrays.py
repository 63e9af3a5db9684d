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

# Rates an app hands over (telephone to studio); outside them resampling is the wrong tool (True
# taken as 1 Hz upsamples 16000 times; 10**8 Hz took 5.8 GB of filter taps before MemoryError).
MIN_RATE, MAX_RATE = 8_000, 192_000
# Samples per channel an array may hold (70 min at 16 kHz, 23 min at 48 kHz); longer: a file, which
# streams. Resampling works in float64 beside its input: at this size a call adds 1.5 GiB at 48 kHz
# (measured) and about 2.8 GiB at 8 kHz (8x a measured 2**23-sample call: upsampling doubles it).
MAX_SAMPLES = 1 << 26
MAX_CHANNELS = 16


def check_sample_rate(sample_rate: int) -> int:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int | np.integer) \
            or not MIN_RATE <= sample_rate <= MAX_RATE:
        raise UserError(f"sample_rate must be a positive whole number of samples per second, "
                        f"{MIN_RATE}..{MAX_RATE}, got {sample_rate!r}")
    return int(sample_rate)


def as_16k_mono(samples: np.ndarray, sample_rate: int, max_s: float | None = None) -> np.ndarray:
    """float32 mono at 16 kHz from an array of audio at `sample_rate` (an int, 8000..192000).

    Layout: [samples], [samples, channels] or [channels, samples] (the longer axis is time; a
    square array is refused as ambiguous); up to 16 channels, averaged. Values: floats at full
    scale -1..1, or integer PCM (signed; unsigned is centred on its midpoint, like 8-bit WAV).
    Refused: other dtypes, an empty array, more than MAX_SAMPLES (or `max_s` seconds) per channel,
    and any NaN or inf (in any channel, or a float64 beyond float32's range): garbage is never
    scored."""
    rate = check_sample_rate(sample_rate)
    max_samples = MAX_SAMPLES if max_s is None else min(MAX_SAMPLES, int(max_s * rate))
    try:
        x = np.asarray(samples)
    except (ValueError, TypeError) as e:  # ragged nested lists
        raise UserError(f"audio must be an array of numbers: {e}") from None
    if x.dtype.kind not in "fiu":
        raise UserError(f"audio must hold floats (-1..1) or integer PCM, got dtype {x.dtype}")
    if x.ndim not in (1, 2) or x.size == 0 or (x.ndim == 2 and x.shape[0] == x.shape[1]):
        raise UserError(f"audio must be a non-empty [samples] or [samples, channels] array (the longer "
                        f"axis is time), got shape {x.shape}")
    time_axis = int(np.argmax(x.shape))
    if x.ndim == 2 and x.shape[1 - time_axis] > MAX_CHANNELS:
        raise UserError(f"audio of shape {x.shape} has {x.shape[1 - time_axis]} channels; at most "
                        f"{MAX_CHANNELS} (the longer axis is time)")
    if x.shape[time_axis] > max_samples:
        raise UserError(f"audio holds {x.shape[time_axis]} samples per channel; an array takes at most "
                        f"{max_samples} ({max_samples / rate / 60:.1f} min at {rate} Hz): score a longer "
                        "recording from a file")
    with np.errstate(over="ignore", invalid="ignore"):  # overflow becomes inf, refused below
        mono = x.mean(axis=1 - time_axis, dtype=np.float32) if x.ndim == 2 else x.astype(np.float32)
    if x.dtype.kind in "iu":  # PCM: full scale is 2**(bits-1); unsigned zero sits at its midpoint
        half = float(1 << (8 * x.dtype.itemsize - 1))
        mono = (mono - half) / half if x.dtype.kind == "u" else mono / half
    bad = int(np.count_nonzero(~np.isfinite(mono)))
    if bad:
        raise UserError(f"audio has {bad} non-finite samples (NaN or inf, or values beyond float32's "
                        "range); replace or drop them before scoring")
    return resample(mono, rate, SAMPLE_RATE) if rate != SAMPLE_RATE else mono


class ArrayAudioSource:
    live = False

    def __init__(self, samples: np.ndarray, sample_rate: int, chunk_s: float = 0.032,
                 name: str = "audio-array") -> None:
        self.samples, self.chunk_s, self.name = as_16k_mono(samples, sample_rate), chunk_s, name

    def stream(self, clock: Clock) -> Iterator[AudioChunk]:
        size = round(self.chunk_s * SAMPLE_RATE)
        for i in range(0, len(self.samples), size):
            yield AudioChunk(i / SAMPLE_RATE, self.samples[i : i + size], SAMPLE_RATE)
