"""Voice features `audio:logmel-40-pitch-energy`: 42 values per frame at 50 Hz from 16 kHz audio.

Per frame: 40 log-mel bands, pitch, log energy. The SAME code serves datasets (`offline`) and the
live runtime (`push`), so a model hears at run time exactly what it was trained on.

Framing (why frames are identical live and offline): frame i is centred at t = i * 20 ms. It
reads the analysis block [i*HOP - BLOCK/2, i*HOP + BLOCK/2) of the signal with BLOCK/2 zeros
prepended, so the stream needs BLOCK/2 = 20 ms of look-ahead and no end padding: `offline(x)`
returns exactly the frames that `push` returns after all of x, in any chunk sizes. Each frame
depends only on its own block, and a signal of N samples yields 1 + (N - BLOCK/2) // HOP frames.
- log-mel: 25 ms periodic Hann window centred in the block, DC removed, 512-point FFT, 40 HTK
  triangular mel bands over 20 Hz .. 8 kHz, ln(power + 1e-10).
- pitch: YIN (de Cheveigne & Kawahara 2002: cumulative-mean-normalised difference function,
  absolute threshold, parabolic refinement) on the 40 ms block, F0 in 60 .. 500 Hz;
  value ln(F0 / 50 Hz) (> 0.18 when voiced), 0 when unvoiced or quieter than -60 dBFS.
- log energy: ln(mean square + 1e-10) of the DC-free 25 ms window.
Fixed global normalisation (no per-utterance statistics, so one frame means the same thing
live and offline): log-mel and energy are shifted and scaled by the constants below, measured
once on EmoDB's training speakers and the LibriVox clips; pitch is left as is.
"""

from __future__ import annotations

from math import gcd

import numpy as np

from edge_msa.errors import UserError

KIND = "audio:logmel-40-pitch-energy"
SAMPLE_RATE = 16000
HOP = 320  # 20 ms -> 50 Hz
BLOCK = 640  # 40 ms: the YIN window; the mel window sits in its middle
WIN = 400  # 25 ms mel / energy window
N_FFT = 512
N_MELS = 40
DIM = N_MELS + 2
F0_MIN, F0_MAX = 60.0, 500.0
YIN_THRESHOLD = 0.2
VOICED_MIN_RMS = 1e-3  # -60 dBFS: quieter blocks are unvoiced whatever YIN says
EPS = 1e-10
# Normalisation constants: raw mean/std over EmoDB's 6 training speakers + the 5 LibriVox clips
# (31,635 frames; `python bench/bench_speech.py --stats`). Changing them changes every feature.
MEL_MEAN, MEL_STD = -3.3, 5.5
ENERGY_MEAN, ENERGY_STD = -6.6, 4.3

_TAU_MIN = int(SAMPLE_RATE / F0_MAX)  # 32
_TAU_MAX = int(np.ceil(SAMPLE_RATE / F0_MIN))  # 267
_N_INT = BLOCK - _TAU_MAX  # YIN integration length (373 samples > one period at 60 Hz)


def _hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)


def _mel_filterbank(n_mels: int = N_MELS, fmin: float = 20.0, fmax: float = SAMPLE_RATE / 2) -> np.ndarray:
    """[n_mels, N_FFT//2+1] triangular filters, equally spaced on the HTK mel scale, peak 1."""
    edges_mel = np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2)
    edges = 700.0 * (10.0 ** (edges_mel / 2595.0) - 1.0)
    bins = np.arange(N_FFT // 2 + 1) * SAMPLE_RATE / N_FFT
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None] - lo) / (mid - lo)
    falling = (hi - bins[None]) / (hi - mid)
    return np.clip(np.minimum(rising, falling), 0.0, None)


_MEL_FB_T = _mel_filterbank().T.copy()  # [257, 40]
_HANN = np.hanning(WIN + 1)[:-1]  # periodic
_WIN_START = (BLOCK - WIN) // 2


def _yin_pitch(blocks: np.ndarray) -> np.ndarray:
    """[T, BLOCK] float64 -> ln(F0/50) per frame, 0 when unvoiced. Vectorised over frames."""
    x = blocks - blocks.mean(axis=1, keepdims=True)
    # Cross term sum_j x[j] x[j + tau] (j < _N_INT) by FFT; a BLOCK-point circular correlation is
    # exact here because j + tau <= BLOCK - 1 for every lag used, so nothing wraps around.
    spec_x = np.fft.rfft(x)
    spec_a = np.fft.rfft(x[:, :_N_INT], BLOCK)
    cross = np.fft.irfft(np.conj(spec_a) * spec_x, BLOCK)[:, : _TAU_MAX + 1]
    sq = np.concatenate([np.zeros((len(x), 1)), np.cumsum(x * x, axis=1)], axis=1)
    taus = np.arange(_TAU_MAX + 1)
    energy_tau = sq[:, _N_INT + taus] - sq[:, taus]
    diff = energy_tau[:, :1] + energy_tau - 2.0 * cross  # d(tau), d(0) = 0
    diff = np.maximum(diff[:, 1:], 0.0)  # tau = 1 .. TAU_MAX; FFT round-off can dip below 0
    with np.errstate(divide="ignore", invalid="ignore"):
        cmnd = diff * taus[1:] / np.cumsum(diff, axis=1)
    cmnd = np.where(np.isfinite(cmnd), cmnd, 1.0)
    cmnd[:, : _TAU_MIN - 1] = 1.0  # lags shorter than 1/F0_MAX are not candidates

    # First dip below the threshold, then down to the bottom of that dip.
    below = cmnd < YIN_THRESHOLD
    voiced = below.any(axis=1) & (np.sqrt(np.mean(x * x, axis=1)) >= VOICED_MIN_RMS)
    idx = np.arange(cmnd.shape[1])
    first = np.argmax(below, axis=1)[:, None]
    after_run = (~below) & (idx[None] > first)
    run_end = np.where(after_run.any(axis=1), np.argmax(after_run, axis=1), cmnd.shape[1])[:, None]
    in_dip = (idx[None] >= first) & (idx[None] < run_end)
    best = np.argmin(np.where(in_dip, cmnd, np.inf), axis=1)

    # Parabolic interpolation between neighbours for sub-sample lag precision.
    rows = np.arange(len(cmnd))
    left = cmnd[rows, np.maximum(best - 1, 0)]
    mid = cmnd[rows, best]
    right = cmnd[rows, np.minimum(best + 1, cmnd.shape[1] - 1)]
    curv = left - 2.0 * mid + right
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.where(curv > 0, 0.5 * (left - right) / curv, 0.0)
    tau = best + 1 + np.clip(shift, -1.0, 1.0)
    return np.where(voiced, np.log(SAMPLE_RATE / tau / 50.0), 0.0)


def frames_from_signal(signal: np.ndarray) -> np.ndarray:
    """All complete frames of a signal that already carries the BLOCK/2 zero prefix: [T, 42] f32."""
    n = 0 if len(signal) < BLOCK else 1 + (len(signal) - BLOCK) // HOP
    if n == 0:
        return np.zeros((0, DIM), np.float32)
    blocks = np.lib.stride_tricks.sliding_window_view(signal, BLOCK)[: (n - 1) * HOP + 1 : HOP]
    blocks = blocks.astype(np.float64)
    win = blocks[:, _WIN_START : _WIN_START + WIN]
    win = win - win.mean(axis=1, keepdims=True)
    power = np.abs(np.fft.rfft(win * _HANN, N_FFT)) ** 2
    # einsum, not `@`: a product this small loses badly to BLAS thread start-up and contention
    # when the runtime's other threads are busy.
    logmel = np.log(np.einsum("tf,fm->tm", power, _MEL_FB_T) + EPS)
    energy = np.log(np.mean(win * win, axis=1) + EPS)
    out = np.empty((n, DIM), np.float64)
    out[:, :N_MELS] = (logmel - MEL_MEAN) / MEL_STD
    out[:, N_MELS] = _yin_pitch(blocks)
    out[:, N_MELS + 1] = (energy - ENERGY_MEAN) / ENERGY_STD
    return out.astype(np.float32)


def resample(wave: np.ndarray, sr_in: int, sr_out: int = SAMPLE_RATE, zero_crossings: int = 16) -> np.ndarray:
    """Band-limited resampling by a Kaiser-windowed sinc, evaluated at each output instant.

    Output n sits at input position n * sr_in / sr_out (exact integer arithmetic); the low-pass
    cut-off is 0.95 x the lower Nyquist (anti-aliasing when downsampling). Worked in blocks of
    output samples so memory stays small for long recordings. Used for arrays handed over at
    another rate (e.g. a 48 kHz microphone); files are resampled by FFmpeg in `runtime.media`.
    """
    wave = np.asarray(wave, np.float64)
    if wave.ndim != 1:
        raise UserError(f"expected mono audio (1-D array), got shape {wave.shape}")
    if sr_in <= 0 or sr_out <= 0:
        raise UserError(f"sample rates must be positive, got {sr_in} -> {sr_out}")
    if sr_in == sr_out:
        return wave.astype(np.float32)
    g = gcd(int(sr_in), int(sr_out))
    up, down = int(sr_out) // g, int(sr_in) // g
    cutoff = 0.95 * min(1.0, up / down)  # fraction of the input Nyquist
    half = int(np.ceil(zero_crossings / cutoff))  # taps either side
    beta = 8.6  # Kaiser shape: ~ -90 dB side lobes
    n_out = -(-len(wave) * up // down)
    padded = np.pad(wave, (half, half + 1))
    offsets = np.arange(-half + 1, half + 1)
    out = np.empty(n_out, np.float64)
    for start in range(0, n_out, 8192):
        n = np.arange(start, min(start + 8192, n_out))
        idx = (n * down // up)[:, None] + offsets[None]  # input samples around each output instant
        # Only `up` fractional positions exist: compute each one's taps once per block.
        phases, which = np.unique(n * down % up, return_inverse=True)
        u = (phases / up)[:, None] - offsets[None]  # distance in input samples
        taper = np.i0(beta * np.sqrt(np.clip(1.0 - (u / (half + 1)) ** 2, 0.0, 1.0))) / np.i0(beta)
        weights = cutoff * np.sinc(cutoff * u) * taper
        out[start : start + len(n)] = np.sum(padded[idx + half] * weights[which], axis=1)
    return out.astype(np.float32)


class AudioFeaturizer:
    """`audio:logmel-40-pitch-energy` frames from a whole wave (`offline`) or a stream (`push`)."""

    kind = KIND
    dim = DIM
    rate_hz = SAMPLE_RATE / HOP

    def __init__(self, sample_rate: int = SAMPLE_RATE) -> None:
        if sample_rate != SAMPLE_RATE:
            raise UserError(f"AudioFeaturizer streams {SAMPLE_RATE} Hz audio; resample {sample_rate} Hz "
                            "first (edge_msa.features.audio.resample or runtime.media)")
        self.sample_rate = sample_rate
        self.reset()

    def reset(self) -> None:
        """Start a new stream (frame 0 is centred on the next sample pushed)."""
        self._pending = np.zeros(BLOCK // 2, np.float32)

    def push(self, chunk: np.ndarray) -> np.ndarray:
        """Append 16 kHz mono samples; return the frames completed by them, [n_new, 42]."""
        chunk = _as_mono_f32(chunk)
        signal = np.concatenate([self._pending, chunk])
        frames = frames_from_signal(signal)
        self._pending = signal[len(frames) * HOP :]
        return frames

    def offline(self, wave: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
        """Frames of a whole recording, [T, 42]; other rates are resampled to 16 kHz first."""
        wave = _as_mono_f32(wave)
        if sr != SAMPLE_RATE:
            wave = resample(wave, sr, SAMPLE_RATE)
        return frames_from_signal(np.concatenate([np.zeros(BLOCK // 2, np.float32), wave]))


def _as_mono_f32(wave: np.ndarray) -> np.ndarray:
    wave = np.asarray(wave)
    if wave.ndim != 1:
        raise UserError(f"expected mono audio (1-D array), got shape {wave.shape}")
    if not np.issubdtype(wave.dtype, np.floating):
        raise UserError(f"expected float audio in [-1, 1], got dtype {wave.dtype}")
    return wave.astype(np.float32, copy=False)
