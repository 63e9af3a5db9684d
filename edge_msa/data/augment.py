"""Channel and speaker augmentations of speech, so the voice expert does not learn one recording setup.

EmoDB (the only labelled speech here) is one studio, one language, files cut to 2.00 s. Live speech
comes through other microphones, rooms and phone lines, at other speeds and lengths. Each
augmented copy applies one of, drawn per copy:
- noise: white noise at 10-30 dB SNR;
- telephone: down to 8 kHz, band 300-3400 Hz, back up to 16 kHz (a resampling chain);
- speed: played 0.9-1.1x (tempo and pitch move together, as with a different speaker);
- crop: a random 1-2 s piece at a random gain (0.3-2x), so length and level mean nothing.
All with the project's own resampler (`edge_msa.features.audio.resample`), seeded by the caller.
"""

from __future__ import annotations

import numpy as np

from edge_msa.features.audio import SAMPLE_RATE, resample

KINDS = ("noise", "telephone", "speed", "crop")
PHONE_RATE, PHONE_LOW_HZ, PHONE_HIGH_HZ = 8000, 300.0, 3400.0


def add_noise(wave: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    power = float(np.mean(wave.astype(np.float64) ** 2)) + 1e-12
    return wave + rng.normal(0.0, np.sqrt(power / 10 ** (snr_db / 10)), len(wave))


def telephone(wave: np.ndarray) -> np.ndarray:
    narrow = resample(wave, SAMPLE_RATE, PHONE_RATE)
    spectrum = np.fft.rfft(narrow)
    freqs = np.fft.rfftfreq(len(narrow), 1.0 / PHONE_RATE)
    spectrum[(freqs < PHONE_LOW_HZ) | (freqs > PHONE_HIGH_HZ)] = 0
    return resample(np.fft.irfft(spectrum, len(narrow)), PHONE_RATE, SAMPLE_RATE)


def change_speed(wave: np.ndarray, factor: float) -> np.ndarray:
    """Played `factor` times faster: resampled as if recorded at SAMPLE_RATE * factor."""
    return resample(wave, round(SAMPLE_RATE * factor), SAMPLE_RATE)


def crop(wave: np.ndarray, seconds: float, gain: float, rng: np.random.Generator) -> np.ndarray:
    n = min(len(wave), int(seconds * SAMPLE_RATE))
    start = int(rng.integers(0, len(wave) - n + 1))
    return wave[start:start + n] * gain


def augment(wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One random augmentation of 16 kHz mono speech (see the module docstring), clipped to [-1, 1]."""
    kind = KINDS[int(rng.integers(len(KINDS)))]
    if kind == "noise":
        out = add_noise(wave, rng.uniform(10, 30), rng)
    elif kind == "telephone":
        out = telephone(wave)
    elif kind == "speed":
        out = change_speed(wave, rng.uniform(0.9, 1.1))
    else:
        out = crop(wave, rng.uniform(1.0, 2.0), rng.uniform(0.3, 2.0), rng)
    return np.clip(out, -1.0, 1.0).astype(np.float32)
