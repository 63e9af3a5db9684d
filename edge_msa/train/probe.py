"""Simple references fitted on the same training rows as a model and scored on the same test rows.

- "train mean": every prediction is the mean training label (what a model that learned nothing
  about the input scores).
- "linear probe": ridge regression on fixed, untrained features of the present modalities:
  VADER's compound score of the sentence (text rows; needs `vaderSentiment`, the `dev` extra)
  and the mean and standard deviation over present frames of each audio/vision channel. The
  features are standardised on the training rows; ridge strength 1.0 (not tuned: a reference).
"""

from __future__ import annotations

import importlib.util

import numpy as np

from edge_msa.data.batch import MSAData
from edge_msa.train.metrics import msa_metrics

TRAIN_MEAN, LINEAR_PROBE = "train mean", "linear probe"
RIDGE = 1.0


def _vader_compound(texts: list[str]) -> np.ndarray:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyser = SentimentIntensityAnalyzer()
    return np.array([[analyser.polarity_scores(t)["compound"]] for t in texts], np.float64)


def _frame_stats(frames: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """[N, T, D] frames -> [N, 2D] mean and std over present frames (0 where none is present)."""
    m = mask[..., None].astype(np.float64)
    n = np.maximum(m.sum(1), 1.0)
    mean = (frames * m).sum(1) / n
    var = (((frames - mean[:, None]) ** 2) * m).sum(1) / n
    return np.concatenate([mean, np.sqrt(var)], axis=1)


def probe_features(data: MSAData, text: bool, frames: tuple[str, ...]) -> np.ndarray:
    """Fixed features: VADER compound when `text`, frame statistics of each modality in `frames`."""
    parts = [_frame_stats(getattr(data, m), getattr(data, f"{m}_mask")) for m in frames]
    if text:
        parts.append(_vader_compound(data.raw_text or [""] * len(data)))
    return np.concatenate(parts, axis=1) if parts else np.zeros((len(data), 0))


def _present(data: MSAData) -> tuple[bool, tuple[str, ...]]:
    """Which fixed features exist in the training rows: text with sentences, audio/vision frames."""
    text = (bool(data.raw_text) and bool(np.any(data.text_mask.sum(1) > 0))
            and importlib.util.find_spec("vaderSentiment") is not None)
    frames = tuple(m for m in ("audio", "vision") if np.any(getattr(data, f"{m}_mask").sum(1) > 0))
    return text, frames


def linear_probe(train: MSAData, test: MSAData) -> np.ndarray | None:
    """Ridge predictions for `test`, fitted on `train`; None when the rows have no fixed feature."""
    text, frames = _present(train)
    if not text and not frames:
        return None
    x_train, x_test = probe_features(train, text, frames), probe_features(test, text, frames)
    mu, sd = x_train.mean(0), x_train.std(0) + 1e-8
    a, b = (x_train - mu) / sd, (x_test - mu) / sd
    y = train.labels.astype(np.float64)
    w = np.linalg.solve(a.T @ a + RIDGE * np.eye(a.shape[1]), a.T @ (y - y.mean()))
    return (b @ w + y.mean()).astype(np.float32)


def reference_metrics(train: MSAData, test: MSAData, scale: str) -> dict[str, dict[str, float]]:
    """{reference name: metrics on `test`} for the train-mean predictor and the linear probe."""
    rows = {TRAIN_MEAN: msa_metrics(test.labels, np.full(len(test), train.labels.mean()), scale)}
    probe = linear_probe(train, test)
    if probe is not None:
        rows[LINEAR_PROBE] = msa_metrics(test.labels, probe, scale)
    return rows
