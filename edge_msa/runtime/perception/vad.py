"""Voice activity: silero VAD (its 16 kHz ONNX model, shipped in edge_msa/assets/vad and run with
onnxruntime) + a streaming segmenter.

The model file is the one the `silero-vad` wheel carries, committed here so the runtime needs
neither that package nor torch (it imports both). The model scores 32 ms windows (512 samples at
16 kHz, plus the previous window's last 64 samples as context) and keeps a recurrent state (h, c)
between calls.

The segmenter turns per-window speech probabilities into utterances with hysteresis: speech starts
at a window scoring >= threshold, ends after `min_silence_s` of windows below `neg_threshold`;
utterances shorter than `min_speech_s` are dropped, longer than `max_utterance_s` are split (a
fusion window and an ASR pass must stay bounded), and each side is padded by `speech_pad_s`.
Times are seconds since the first sample pushed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from edge_msa.errors import UserError
from edge_msa.features.face_models import pinned_sha256

ASSET_DIR = Path(__file__).resolve().parents[2] / "assets" / "vad"
MODEL_FILE = "silero_vad_16k_sequence.onnx"
SAMPLE_RATE = 16000
WINDOW = 512  # samples the model scores at once (32 ms)
CONTEXT = 64  # samples of the previous window the model expects in front of each window


@dataclass(frozen=True)
class Segment:
    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class VADConfig:
    threshold: float = 0.5
    neg_threshold: float | None = None  # default threshold - 0.15
    min_speech_s: float = 0.25
    min_silence_s: float = 0.3
    speech_pad_s: float = 0.03
    max_utterance_s: float = 6.0  # the live model window (runtime/default.yaml): one utterance, one window

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise UserError(f"VAD threshold must be in (0, 1), got {self.threshold}")
        if self.neg_threshold is not None and not 0.0 <= self.neg_threshold <= self.threshold:
            raise UserError(f"VAD neg_threshold must be in [0, threshold], got {self.neg_threshold}")
        if min(self.min_speech_s, self.min_silence_s, self.speech_pad_s) < 0:
            raise UserError("VAD durations must not be negative")
        if self.max_utterance_s <= self.min_speech_s:
            raise UserError(f"VAD max_utterance_s ({self.max_utterance_s}) must exceed min_speech_s")

    @property
    def off_threshold(self) -> float:
        return self.neg_threshold if self.neg_threshold is not None else max(0.0, self.threshold - 0.15)


def silero_onnx_path() -> Path:
    """The packaged silero VAD model, after checking the sha256 SHA256SUMS pins for it."""
    path = ASSET_DIR / MODEL_FILE
    if not path.is_file():
        raise UserError(f"VAD model file {path} is missing: reinstall edge-msa")
    digest, expected = hashlib.sha256(path.read_bytes()).hexdigest(), pinned_sha256(MODEL_FILE, ASSET_DIR)
    if digest != expected:
        raise UserError(f"VAD model file {path} is corrupted or not the supported version "
                        f"(sha256 {digest[:12]}..., expected {expected[:12]}...)")
    return path


@lru_cache(maxsize=1)
def _session():
    """One onnxruntime session per process (the model is stateless; state lives in SileroVAD, and
    onnxruntime runs one session from several threads)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1  # a 32 ms window is far too small to gain from threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(silero_onnx_path()), sess_options=opts,
                                providers=["CPUExecutionProvider"])


class SileroVAD:
    """Speech probability of consecutive 512-sample windows of one 16 kHz stream."""

    def __init__(self) -> None:
        self._session = _session()
        self.reset()

    def reset(self) -> None:
        self._h = np.zeros((1, 1, 128), np.float32)
        self._c = np.zeros((1, 1, 128), np.float32)
        self._context = np.zeros(CONTEXT, np.float32)

    def __call__(self, window: np.ndarray) -> float:
        if window.shape != (WINDOW,):
            raise ValueError(f"silero-vad scores {WINDOW}-sample windows, got {window.shape}")
        x = np.concatenate([self._context, window.astype(np.float32, copy=False)])[None]
        prob, self._h, self._c = self._session.run(None, {"input": x, "h": self._h, "c": self._c})
        self._context = x[0, -CONTEXT:]
        return float(prob[0])


class VoiceActivity:
    """Streaming utterance segmenter: push 16 kHz float32 chunks of any size, get ended utterances."""

    def __init__(self, config: VADConfig | None = None, model: SileroVAD | None = None) -> None:
        self.config = config or VADConfig()
        self.model = model or SileroVAD()
        self.reset()

    def reset(self) -> None:
        """Forget everything; the next sample pushed is t = 0."""
        self.model.reset()
        self._pending = np.zeros(0, np.float32)
        self._done = 0  # samples scored so far
        self._start: int | None = None  # sample where the current utterance began
        self._silence: int | None = None  # sample where the current pause began
        self._last_end = 0  # end of the last emitted segment (padding never overlaps it)
        self.last_prob = 0.0

    @property
    def in_speech(self) -> bool:
        return self._start is not None

    def push(self, chunk: np.ndarray) -> list[Segment]:
        """Score every complete window; return the utterances that ended in this chunk."""
        self._pending = np.concatenate([self._pending, np.asarray(chunk, np.float32).reshape(-1)])
        n = len(self._pending) // WINDOW
        out: list[Segment] = []
        for i in range(n):
            self.last_prob = self.model(self._pending[i * WINDOW : (i + 1) * WINDOW])
            self._done += WINDOW
            out += self._step(self.last_prob)
        self._pending = self._pending[n * WINDOW :]
        return out

    def flush(self) -> list[Segment]:
        """End of stream: score the zero-padded tail, close an open utterance, then reset."""
        out: list[Segment] = []
        if len(self._pending):
            tail = len(self._pending)
            out += self.push(np.zeros(WINDOW - tail, np.float32))
            self._done -= WINDOW - tail  # the padding is not audio: do not extend past the stream
        if self._start is not None:
            out += self._close(self._silence if self._silence is not None else self._done)
        self.reset()
        return out

    def _step(self, prob: float) -> list[Segment]:
        cfg, sr, window_start = self.config, SAMPLE_RATE, self._done - WINDOW
        if self._start is None:
            if prob >= cfg.threshold:
                self._start, self._silence = window_start, None
            return []
        if prob >= cfg.threshold:
            self._silence = None
        elif prob < cfg.off_threshold and self._silence is None:
            self._silence = window_start
        if self._silence is not None and self._done - self._silence >= cfg.min_silence_s * sr:
            return self._close(self._silence)
        if self._done - self._start >= cfg.max_utterance_s * sr:
            if self._silence is not None:  # already pausing: end there
                return self._close(self._silence)
            seg = self._close(self._done)
            self._start = self._done  # still speaking: the next piece starts here
            return seg
        return []

    def _close(self, end: int) -> list[Segment]:
        """Emit [start, end) with padding, unless too short; the utterance is then over."""
        cfg, sr = self.config, SAMPLE_RATE
        start, self._start, self._silence = self._start, None, None
        if end - start < cfg.min_speech_s * sr:
            return []
        pad = round(cfg.speech_pad_s * sr)
        lo, hi = max(start - pad, self._last_end), min(end + pad, self._done)
        self._last_end = hi
        return [Segment(lo / sr, hi / sr)]


def speech_segments(wave: np.ndarray, config: VADConfig | None = None) -> list[Segment]:
    """Utterances of a whole 16 kHz recording (the streaming segmenter, fed at once)."""
    vad = VoiceActivity(config)
    return vad.push(wave) + vad.flush()
