"""Pooled Whisper encoder states of one utterance: the voice expert's features (numpy only).

`edge_msa.features.whisper.encode_short` gives one encoder state per 20 ms of audio (state j reads
the log-mel frames 2j and 2j+1, i.e. samples [320 j, 320 j + 320) at 16 kHz). The voice expert
reads the mean and the standard deviation of the states over the frames that hold speech:
- with the utterance's audio: a frame holds speech when the RMS of its 20 ms of samples is within
  SPEECH_RANGE_DB of the utterance's loudest frame and above SPEECH_FLOOR_RMS. The threshold is
  relative so that gain means nothing (the augmentation plays crops at 0.3-2x); the floor drops
  digital silence and padding. Fewer than MIN_SPEECH_FRAMES such frames: all frames are used.
- without audio (a caller that kept only the states): all frames.
The VAD has already cut the utterance, so the frames left out are pauses and breaths inside it.
"""

from __future__ import annotations

import numpy as np

from edge_msa.errors import UserError

SAMPLES_PER_STATE = 320  # 20 ms at 16 kHz: one encoder state per two 10 ms log-mel frames
SPEECH_RANGE_DB = 30.0
SPEECH_FLOOR_RMS = 1e-3  # -60 dBFS, the voiced floor of edge_msa.features.audio too
MIN_SPEECH_FRAMES = 3


def speech_frames(samples_16k: np.ndarray, n_states: int) -> np.ndarray:
    """Boolean [n_states]: which encoder states hold speech (see the module docstring)."""
    wave = np.asarray(samples_16k, np.float32).reshape(-1)
    wave = np.pad(wave, (0, max(0, n_states * SAMPLES_PER_STATE - wave.size)))[: n_states * SAMPLES_PER_STATE]
    rms = np.sqrt(np.mean(wave.reshape(n_states, SAMPLES_PER_STATE).astype(np.float64) ** 2, axis=1))
    db = 20 * np.log10(rms + 1e-12)
    speech = (db >= db.max() - SPEECH_RANGE_DB) & (rms >= SPEECH_FLOOR_RMS)
    return speech if speech.sum() >= MIN_SPEECH_FRAMES else np.ones(n_states, bool)


def pooled_voice_features(states: np.ndarray, samples_16k: np.ndarray | None = None) -> np.ndarray:
    """[2 d] float32: mean then std of the encoder states [T', d] over the speech frames."""
    states = np.asarray(states, np.float32)
    if states.ndim != 2 or states.shape[0] < 1:
        raise UserError(f"encoder states must be [frames, dim] with at least one frame, got {states.shape}")
    if samples_16k is not None:
        states = states[speech_frames(samples_16k, states.shape[0])]
    return np.concatenate([states.mean(0), states.std(0)]).astype(np.float32)


def expected_valence(z: np.ndarray, coef: np.ndarray, intercept: np.ndarray,
                     levels: np.ndarray) -> np.ndarray:
    """The voice expert's read-out of standardised features z [..., 2d]: the expected valence level
    under the softmax of the linear logits (coef [levels, 2d], intercept [levels]). Shared by the
    fit (edge_msa.train.whisper_voice) and the runtime (edge_msa.runtime.voice_expert)."""
    logits = np.asarray(z, np.float64) @ np.asarray(coef, np.float64).T + intercept
    p = np.exp(logits - logits.max(-1, keepdims=True))
    return (p / p.sum(-1, keepdims=True)) @ np.asarray(levels, np.float64)


class SpeakerBaseline:
    """A running estimate of one person's voice-feature mean and std over the session.

    With n utterances seen and a prior worth k = `prior_utterances` utterances (the voice expert's:
    see edge_msa.runtime.voice_expert; or the person's enrolled mean):
        mean = (k prior_mean + sum x) / (k + n)
        var  = (k prior_std^2 + sum (x - own mean)^2) / (k + max(n - 1, 0))
    so one utterance moves the mean by 1/(k+1) of its distance and leaves the spread at the prior's
    (a single utterance says nothing about spread); after many the person's own figures dominate.
    Call `update` after scoring an utterance (the utterance is then not part of its own reference).
    """

    def __init__(self, prior_mean: np.ndarray, prior_std: np.ndarray, prior_utterances: float) -> None:
        if prior_utterances <= 0:
            raise UserError(f"prior_utterances must be > 0, got {prior_utterances}")
        self.prior_mean = np.asarray(prior_mean, np.float64)
        self.prior_std = np.asarray(prior_std, np.float64)
        self.prior_utterances = float(prior_utterances)
        self.reset()

    def reset(self) -> None:
        """Forget the utterances heard (a new speaker or session): back to the prior."""
        self.n = 0
        self._sum = np.zeros_like(self.prior_mean)
        self._sum_sq = np.zeros_like(self.prior_mean)

    def update(self, features: np.ndarray) -> None:
        """Add one utterance's pooled features."""
        x = check_features(features, self.prior_mean.shape[0])
        self.n += 1
        self._sum += x
        self._sum_sq += x * x

    def enrol(self, utterances: list[np.ndarray]) -> None:
        """Set the person's prior from a few utterances of them speaking neutrally (enrolment): the
        prior mean becomes their mean (what the prior stands for: this person's neutral voice), the
        prior spread stays the training speakers' (a few utterances cannot measure spread), and the
        running estimate starts over. `reset` keeps the enrolled prior."""
        if not utterances:
            raise UserError("enrolment needs at least one utterance")
        dim = self.prior_mean.shape[0]
        self.prior_mean = np.mean([check_features(x, dim) for x in utterances], axis=0)
        self.reset()

    @property
    def mean(self) -> np.ndarray:
        k = self.prior_utterances
        return (k * self.prior_mean + self._sum) / (k + self.n)

    @property
    def std(self) -> np.ndarray:
        k = self.prior_utterances
        own_ss = np.maximum(self._sum_sq - self._sum ** 2 / max(self.n, 1), 0.0)  # sum (x - own mean)^2
        return np.sqrt((k * self.prior_std ** 2 + own_ss) / (k + max(self.n - 1, 0)))


def check_features(features: np.ndarray, dim: int) -> np.ndarray:
    """The pooled features as a float64 vector of `dim` finite numbers (else UserError)."""
    x = np.asarray(features, np.float64).reshape(-1)
    if x.shape != (dim,) or not np.isfinite(x).all():
        raise UserError(f"voice features must be {dim} finite numbers, got shape {np.shape(features)}")
    return x
