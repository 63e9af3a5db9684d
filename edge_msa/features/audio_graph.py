"""The voice front-end as a torch graph: 16 kHz PCM [1, N] -> `audio:logmel-40-pitch-energy` [1, T, 42].

The same frames as `edge_msa.features.audio.AudioFeaturizer.offline` (T = N // 320; frame i is
centred at sample i * 320 and reads its 640-sample block with 320 zeros prepended), all 42
channels, YIN pitch included, so an app that holds a bundle feeds the model by running this graph
on raw audio. Built only from ops every exporter lowers (slice, gather, cat, matmul, cumsum,
compare, argmax/argmin, gather, where, log): each FFT of the reference is a matmul with a constant
DFT matrix (only the lags YIN reads), framing is a gather, and
YIN's "first dip below the threshold, then its bottom" is masks + argmax/argmin, exactly as in
`edge_msa.features.audio._yin_pitch`. The graph computes in float64 (the reference does too), so
threshold and dip decisions agree with the Python extractor and the outputs differ by float32
rounding only; input and output are float32. Constants, the mel filterbank and the window are
imported from `edge_msa.features.audio`, never copied.

Long streams: run the graph on a chunk that starts 320 samples (one hop) before the first frame
wanted and drop its first output frame; frames 1.. equal the stream's frames exactly.
"""

from __future__ import annotations

import numpy as np
import torch

from edge_msa.features import audio as A

INPUT_NAME, OUTPUT_NAME = "pcm", "frames"
_N_LAGS = A._TAU_MAX + 1  # YIN lags 0 .. TAU_MAX


def _dft(n_in: int, n_fft: int, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """[n_in, n_bins] cos and -sin matrices: x @ C + 1j * (x @ S) == np.fft.rfft(x, n_fft)[:n_bins]."""
    angle = 2.0 * np.pi * np.outer(np.arange(n_in), np.arange(n_bins)) / n_fft
    return np.cos(angle), -np.sin(angle)


def _inverse_dft(n_fft: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """[n_fft//2+1, n_out] matrices: Re @ C + Im @ S == np.fft.irfft(Re + 1j * Im, n_fft)[:n_out]."""
    k = np.arange(n_fft // 2 + 1)
    weight = np.where((k == 0) | (k == n_fft // 2), 1.0, 2.0)[:, None] / n_fft
    angle = 2.0 * np.pi * np.outer(k, np.arange(n_out)) / n_fft
    return weight * np.cos(angle), -weight * np.sin(angle)


class VoiceFrontend(torch.nn.Module):
    """float32 PCM [1, N] at 16 kHz, in [-1, 1] -> float32 frames [1, N // 320, 42]."""

    def __init__(self) -> None:
        super().__init__()
        cos_w, sin_w = _dft(A.WIN, A.N_FFT, A.N_FFT // 2 + 1)
        cos_b, sin_b = _dft(A.BLOCK, A.BLOCK, A.BLOCK // 2 + 1)
        icos, isin = _inverse_dft(A.BLOCK, _N_LAGS)
        tables = {
            "mel_cos": A._HANN[:, None] * cos_w, "mel_sin": A._HANN[:, None] * sin_w,
            "mel_fb": A._MEL_FB_T, "yin_cos": cos_b, "yin_sin": sin_b, "yin_icos": icos, "yin_isin": isin,
            "lags": np.arange(1, _N_LAGS, dtype=np.float64),
        }
        self.register_buffer("block_offsets", torch.arange(A.BLOCK), persistent=False)
        for name, table in tables.items():
            self.register_buffer(name, torch.from_numpy(np.ascontiguousarray(table, np.float64)),
                                 persistent=False)

    def forward(self, pcm: torch.Tensor) -> torch.Tensor:
        x = pcm[0].to(torch.float64)
        signal = torch.cat([x.new_zeros(A.BLOCK // 2), x])
        n_frames = x.shape[0] // A.HOP  # == 1 + (len(signal) - BLOCK) // HOP, never negative
        starts = torch.arange(n_frames, device=x.device) * A.HOP
        blocks = signal[starts[:, None] + self.block_offsets]  # [T, BLOCK]
        win = blocks[:, A._WIN_START : A._WIN_START + A.WIN]
        win = win - win.mean(dim=1, keepdim=True)
        power = (win @ self.mel_cos) ** 2 + (win @ self.mel_sin) ** 2
        logmel = torch.log(power @ self.mel_fb + A.EPS)
        energy = torch.log((win * win).mean(dim=1, keepdim=True) + A.EPS)
        frames = torch.cat([(logmel - A.MEL_MEAN) / A.MEL_STD, self._yin_pitch(blocks),
                            (energy - A.ENERGY_MEAN) / A.ENERGY_STD], dim=1)
        return frames.to(torch.float32).unsqueeze(0)

    def _yin_pitch(self, blocks: torch.Tensor) -> torch.Tensor:
        """[T, BLOCK] -> [T, 1] ln(F0 / 50 Hz), 0 when unvoiced: `audio._yin_pitch` step by step."""
        x = blocks - blocks.mean(dim=1, keepdim=True)
        head = x[:, : A._N_INT]
        re_x, im_x = x @ self.yin_cos, x @ self.yin_sin
        re_a, im_a = head @ self.yin_cos[: A._N_INT], head @ self.yin_sin[: A._N_INT]
        # irfft(conj(A) * X)[:TAU_MAX + 1]: sum_j x[j] x[j + tau] for j < N_INT
        cross = (re_a * re_x + im_a * im_x) @ self.yin_icos + (re_a * im_x - im_a * re_x) @ self.yin_isin
        sq = torch.cat([x.new_zeros(x.shape[0], 1), torch.cumsum(x * x, dim=1)], dim=1)
        energy_tau = sq[:, A._N_INT : A._N_INT + _N_LAGS] - sq[:, :_N_LAGS]
        diff = energy_tau[:, :1] + energy_tau - 2.0 * cross
        diff = torch.clamp(diff[:, 1:], min=0.0)  # lags 1 .. TAU_MAX
        total = torch.cumsum(diff, dim=1)
        cmnd = torch.where(total > 0, diff * self.lags / torch.where(total > 0, total, 1.0), 1.0)
        cmnd = torch.where(self.lags < A._TAU_MIN, 1.0, cmnd)  # lags shorter than 1/F0_MAX

        below = cmnd < A.YIN_THRESHOLD
        rms = torch.sqrt((x * x).mean(dim=1))
        voiced = (below.any(dim=1) & (rms >= A.VOICED_MIN_RMS)).unsqueeze(1)
        idx = self.lags - 1.0  # 0 .. TAU_MAX - 1
        first = torch.argmax(below.to(torch.int32), dim=1, keepdim=True)
        after_run = (~below) & (idx > first)
        run_end = torch.where(after_run.any(dim=1, keepdim=True),
                              torch.argmax(after_run.to(torch.int32), dim=1, keepdim=True), cmnd.shape[1])
        in_dip = (idx >= first) & (idx < run_end)
        best = torch.argmin(torch.where(in_dip, cmnd, torch.inf), dim=1, keepdim=True)

        last = cmnd.shape[1] - 1
        left = torch.gather(cmnd, 1, torch.clamp(best - 1, min=0))
        mid = torch.gather(cmnd, 1, best)
        right = torch.gather(cmnd, 1, torch.clamp(best + 1, max=last))
        curv = left - 2.0 * mid + right
        shift = torch.where(curv > 0, 0.5 * (left - right) / torch.where(curv > 0, curv, 1.0), 0.0)
        tau = best.to(torch.float64) + 1.0 + torch.clamp(shift, -1.0, 1.0)
        return torch.where(voiced, torch.log(A.SAMPLE_RATE / tau / 50.0), 0.0)


def frontend_frames(pcm: np.ndarray) -> np.ndarray:
    """Eager run of the graph on a 1-D 16 kHz wave: [T, 42] float32 (for tests and comparisons)."""
    with torch.no_grad():
        out = VoiceFrontend()(torch.from_numpy(np.asarray(pcm, np.float32))[None])
    return out[0].numpy()
