"""The Whisper voice expert at run time (numpy only) and the per-person baseline it reads against.

The expert (fitted by `edge_msa.train.whisper_voice`, weights in
edge_msa/assets/voice/whisper-tiny-en-valence.npz) scores one utterance's pooled Whisper encoder
states (`edge_msa.features.whisper_voice.pooled_voice_features`):

    z = (features - baseline mean) / baseline std        # how this utterance differs from the person
    valence = softmax(coef z + intercept) . (-1, 0, +1)   # expected EmoDB valence level
    score = scale x (valence - centre)                    # MOSI scale; centre: z = 0 reads 0

It was trained on features standardised by each EmoDB speaker's own mean and std, because absolute
scores do not transfer between corpora (measured by others: a new corpus's neutral speech read
anywhere from -0.65 to +1.0) while per-speaker standardisation kept the ranking. At run time a
`SpeakerBaseline` supplies the person's statistics: a running estimate over the session's
utterances, shrunk toward the expert's prior while it has seen few (weight: `prior_utterances`,
20 in the shipped file, chosen on EmoDB's validation speakers). The prior: mean = the features of
neutral English read speech (the five LibriVox clips), std = the training speakers' average
std; enrolment replaces the prior mean with the person's own. Without a baseline the prior stands in.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_msa.errors import UserError
from edge_msa.features.whisper_voice import SpeakerBaseline, check_features, expected_valence

__all__ = ["SpeakerBaseline", "WhisperVoiceExpert"]

DEFAULT_WEIGHTS = Path(__file__).resolve().parents[1] / "assets" / "voice" / "whisper-tiny-en-valence.npz"
_KEYS = ("coef", "intercept", "levels", "centre", "scale", "error",
         "prior_mean", "prior_std", "prior_utterances")


class WhisperVoiceExpert:
    """Valence on the MOSI scale from pooled Whisper encoder states (see the module docstring)."""

    def __init__(self, weights: dict[str, np.ndarray], source: str = "") -> None:
        self.source = source
        self.coef = np.asarray(weights["coef"], np.float64)
        self.intercept = np.asarray(weights["intercept"], np.float64)
        self.levels = np.asarray(weights["levels"], np.float64)
        self.centre, self.scale = float(weights["centre"]), float(weights["scale"])
        self.error = float(weights["error"])
        self.prior_mean = np.asarray(weights["prior_mean"], np.float64)
        self.prior_std = np.asarray(weights["prior_std"], np.float64)
        self.prior_utterances = float(weights["prior_utterances"])
        dim = self.prior_mean.shape[0]
        if (self.coef.shape != (len(self.levels), dim) or self.intercept.shape != (len(self.levels),)
                or self.prior_std.shape != (dim,)):
            raise UserError(f"{source or 'voice weights'}: inconsistent shapes {self.coef.shape}, "
                            f"{self.intercept.shape}, {self.prior_mean.shape}, {self.prior_std.shape}")

    @classmethod
    def load(cls, path: str | Path | None = None) -> WhisperVoiceExpert:
        """The weights file (default: the shipped Whisper tiny.en expert)."""
        path = Path(path) if path is not None else DEFAULT_WEIGHTS
        if not path.is_file():
            raise UserError(f"voice expert weights not found: {path}")
        try:
            with np.load(path, allow_pickle=False) as z:
                missing = [k for k in _KEYS if k not in z.files]
                if missing:
                    raise UserError(f"{path} is not a voice expert file: missing {', '.join(missing)}")
                weights = {k: z[k] for k in _KEYS}
        except (ValueError, OSError) as e:
            raise UserError(f"{path} is not a voice expert file ({type(e).__name__})") from None
        return cls(weights, str(path))

    @property
    def dim(self) -> int:
        return self.prior_mean.shape[0]

    def new_baseline(self) -> SpeakerBaseline:
        """An empty per-person baseline with this expert's prior."""
        return SpeakerBaseline(self.prior_mean, self.prior_std, self.prior_utterances)

    def evidence(self, features: np.ndarray, baseline: SpeakerBaseline | None = None) -> tuple[float, float]:
        """(score on the MOSI scale, its error for fusion: the validation RMSE) of one utterance."""
        x = check_features(features, self.dim)
        mean, std = (self.prior_mean, self.prior_std) if baseline is None else (baseline.mean, baseline.std)
        return float(self.score((x - mean) / std)), self.error

    def score(self, z: np.ndarray) -> np.ndarray:
        """MOSI-scale scores of features already standardised by the person's statistics ([..., 2d])."""
        return self.scale * (expected_valence(z, self.coef, self.intercept, self.levels) - self.centre)

