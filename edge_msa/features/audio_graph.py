"""The voice front-end, a float32 torch graph: 16 kHz PCM [1, N] -> `audio:logmel-40-pitch-energy` [1, T, 42].

The same frames as `edge_msa.features.audio.AudioFeaturizer.offline` (T = N // 320; frame i is
centred at sample i * 320 and reads its 640-sample block with 320 zeros prepended), all 42
channels, YIN pitch included, so an app that holds a bundle feeds the model by running this graph
on raw audio.

Why it is small and float32: every FFT of the reference is a two-stage Cooley-Tukey DFT (N = n1 * n2)
written as two float32 matmuls with n1- and n2-point DFT matrices and a twiddle product between them
(512 = 16 x 32 for the mel FFT, 640 = 20 x 32 for YIN's correlation), so all tables together, the
mel filterbank included, are 75 KB, where one dense DFT matrix pair per FFT is 0.8-1.6 MB in float32
(the first front-end held them in float64: 6.4-6.7 MB per file); XNNPACK takes the matmuls (static
weights: linear). A factorised DFT also rounds like an FFT (error grows with log N, not N), which keeps
float32 within 1.1e-4 of the float64 extractor on log-mel and energy and leaves YIN's threshold and dip
decisions unchanged on 55,608 frames of real speech (docs/results.md). Framing is an unfold (640-sample
blocks every 320 samples); YIN's "first dip below the threshold, then its bottom" is
masks + argmax/argmin, exactly as in `edge_msa.features.audio._yin_pitch`. Constants, the mel
filterbank and the window are imported from `edge_msa.features.audio`, never copied.

Long streams: run the graph on a chunk that starts 320 samples (one hop) before the first frame
wanted and drop its first output frame; frames 1.. equal the stream's frames exactly.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn.functional import linear, pad

from edge_msa.features import audio as A

_N_LAGS = A._TAU_MAX + 1  # YIN lags 0 .. TAU_MAX
_MEL_BINS = A.N_FFT // 2 + 1


def _f32(table: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(table, np.float32))


class FactorisedDFT(torch.nn.Module):
    """DFT of length n1 * n2 as two matmuls: input index n = n2 * i1 + i2, output k = k1 + n1 * k2.

    forward(re, im, n_out2) takes [B, n1 * n2] (im None for real input) and returns the real and
    imaginary parts in natural order, [B, n_out2 * n1]: bins 0 .. n_out2 * n1 - 1.
    """

    def __init__(self, n1: int, n2: int) -> None:
        super().__init__()
        self.n1, self.n2 = n1, n2
        # the stage matrices are symmetric, so each is also linear()'s [out, in] weight
        stage1 = 2 * np.pi * np.outer(np.arange(n1), np.arange(n1)) / n1  # [k1, i1]
        twiddle = 2 * np.pi * np.outer(np.arange(n2), np.arange(n1)) / (n1 * n2)  # [i2, k1]
        stage2 = 2 * np.pi * np.outer(np.arange(n2), np.arange(n2)) / n2  # [k2, i2]
        tables = {"cos1": np.cos(stage1), "sin1": -np.sin(stage1), "tw_cos": np.cos(twiddle),
                  "tw_sin": -np.sin(twiddle), "cos2": np.cos(stage2), "sin2": -np.sin(stage2)}
        for name, table in tables.items():
            self.register_buffer(name, _f32(table), persistent=False)

    def forward(self, re: torch.Tensor, im: torch.Tensor | None,
                n_out2: int) -> tuple[torch.Tensor, torch.Tensor]:
        b = re.shape[0]
        re = re.reshape(b, self.n1, self.n2).transpose(1, 2)  # [B, i2, i1]
        yr, yi = linear(re, self.cos1), linear(re, self.sin1)  # [B, i2, k1]
        if im is not None:
            im = im.reshape(b, self.n1, self.n2).transpose(1, 2)
            yr, yi = yr - linear(im, self.sin1), yi + linear(im, self.cos1)
        zr = (yr * self.tw_cos - yi * self.tw_sin).transpose(1, 2)  # [B, k1, i2]
        zi = (yr * self.tw_sin + yi * self.tw_cos).transpose(1, 2)
        cos2, sin2 = self.cos2[:n_out2], self.sin2[:n_out2]
        out_re = linear(zr, cos2) - linear(zi, sin2)  # [B, k1, k2]
        out_im = linear(zr, sin2) + linear(zi, cos2)
        return out_re.transpose(1, 2).reshape(b, -1), out_im.transpose(1, 2).reshape(b, -1)


class VoiceFrontend(torch.nn.Module):
    """float32 PCM [1, N] at 16 kHz, in [-1, 1] -> float32 frames [1, N // 320, 42]."""

    def __init__(self) -> None:
        super().__init__()
        self.mel_dft = FactorisedDFT(16, A.N_FFT // 16)  # 512 = 16 * 32
        self.yin_dft = FactorisedDFT(20, A.BLOCK // 20)  # 640 = 20 * 32
        for name, table in {"hann": A._HANN, "mel_fb": A._MEL_FB_T.T,
                            "lags": np.arange(1, _N_LAGS)}.items():
            self.register_buffer(name, _f32(table), persistent=False)

    def forward(self, pcm: torch.Tensor) -> torch.Tensor:
        signal = torch.cat([pcm.new_zeros(A.BLOCK // 2), pcm[0]])
        blocks = signal.unfold(0, A.BLOCK, A.HOP)  # [T, BLOCK], T = N // HOP
        win = blocks[:, A._WIN_START : A._WIN_START + A.WIN]
        win = win - win.mean(dim=1, keepdim=True)
        re, im = self.mel_dft(pad(win * self.hann, (0, A.N_FFT - A.WIN)), None, _MEL_BINS // 16 + 1)
        power = (re * re + im * im)[:, :_MEL_BINS]
        logmel = torch.log(linear(power, self.mel_fb) + A.EPS)
        energy = torch.log((win * win).mean(dim=1, keepdim=True) + A.EPS)
        frames = torch.cat([(logmel - A.MEL_MEAN) / A.MEL_STD, self._yin_pitch(blocks),
                            (energy - A.ENERGY_MEAN) / A.ENERGY_STD], dim=1)
        return frames.unsqueeze(0)

    def _cross(self, x: torch.Tensor) -> torch.Tensor:
        """[T, BLOCK] -> [T, TAU_MAX + 1]: sum_j x[j] x[j + tau] for j < N_INT, as `audio._yin_pitch`
        (irfft(conj(A) X)); the inverse DFT is the forward one on the conjugate, real part, / BLOCK."""
        n = x.shape[0]
        head = pad(x[:, : A._N_INT], (0, A.BLOCK - A._N_INT))
        re, im = self.yin_dft(torch.cat([x, head]), None, A.BLOCK // 20)
        re_x, im_x, re_a, im_a = re[:n], im[:n], re[n:], im[n:]
        # conj(conj(A) X) = A conj(X)
        re_p, im_p = re_a * re_x + im_a * im_x, im_a * re_x - re_a * im_x
        cross, _ = self.yin_dft(re_p, im_p, -(-_N_LAGS // 20))
        return cross[:, :_N_LAGS] / A.BLOCK

    def _yin_pitch(self, blocks: torch.Tensor) -> torch.Tensor:
        """[T, BLOCK] -> [T, 1] ln(F0 / 50 Hz), 0 when unvoiced: `audio._yin_pitch` step by step."""
        x = blocks - blocks.mean(dim=1, keepdim=True)
        cross = self._cross(x)
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
        tau = best.to(torch.float32) + 1.0 + torch.clamp(shift, -1.0, 1.0)
        return torch.where(voiced, torch.log(A.SAMPLE_RATE / tau / 50.0), 0.0)


def frontend_frames(pcm: np.ndarray) -> np.ndarray:
    """Eager run of the graph on a 1-D 16 kHz wave: [T, 42] float32 (for tests and comparisons)."""
    with torch.no_grad():
        out = VoiceFrontend()(torch.from_numpy(np.asarray(pcm, np.float32))[None])
    return out[0].numpy()
