"""Regression metrics of the MSA field, with the conventions of MMSA's `MetricsTop`.

MOSI/MOSEI (labels -3..3):
- `acc2_has0`, `f1_has0`: negative (< 0) vs non-negative (>= 0) on every sample.
- `acc2_non0`, `f1_non0`: samples whose TRUE label is exactly 0 are dropped, then negative vs
  positive (> 0). NaN when every true label is 0 (nothing to score).
- `acc7`: predictions and labels clipped to [-3, 3] and rounded (numpy rounds halves to even,
  as MMSA does); `acc5`: the same on [-2, 2].
- `mae` on the raw (unclipped) values; `corr`: Pearson correlation.

SIMS (labels -1..1): predictions and labels are clipped to [-1, 1] first (MAE and Corr too).
Classes are left-open bins (lo, hi]: acc2 bins (-1.01, 0], (0, 1.01] (so 0 counts as negative),
acc3 (-1.01, -0.1], (-0.1, 0.1], (0.1, 1.01], acc5 with edges -0.7, -0.1, 0.1, 0.7; `f1` is the
weighted F1 of the two-class split.

F1 is "weighted" F1 (per-class F1 weighted by the class's support in y_true), as
`sklearn.metrics.f1_score(y_true, y_pred, average='weighted')`: the argument order matters
because weights come from y_true. A class never predicted has F1 0. Pearson is 0.0 when either
side is constant (undefined). Accuracies and F1 are fractions in [0, 1], not percentages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from edge_msa.errors import UserError

if TYPE_CHECKING:  # annotations only: the lean install scores without torch, which batch.py imports
    from edge_msa.data.batch import MSAData

MOSI_KEYS = ("acc2_has0", "f1_has0", "acc2_non0", "f1_non0", "acc5", "acc7", "mae", "corr")
SIMS_KEYS = ("acc2", "acc3", "acc5", "f1", "mae", "corr")
SIMS_BINS = {
    2: (-1.01, 0.0, 1.01),
    3: (-1.01, -0.1, 0.1, 1.01),
    5: (-1.01, -0.7, -0.1, 0.1, 0.7, 1.01),
}


def weighted_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Per-class F1 averaged with the class frequencies of y_true (sklearn's 'weighted')."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if len(y_true) == 0:
        return float("nan")
    total = 0.0
    for c in np.union1d(y_true, y_pred):
        tp = np.sum((y_true == c) & (y_pred == c))
        fp = np.sum((y_true != c) & (y_pred == c))
        fn = np.sum((y_true == c) & (y_pred != c))
        total += np.sum(y_true == c) * (2 * tp / (2 * tp + fp + fn))
    return float(total / len(y_true))


def _constant(x: np.ndarray) -> bool:
    """No spread beyond float32 rounding: a model that predicts one value gives ~1e-9 jitter, and a
    correlation computed from that jitter is noise, not a relation."""
    return bool(np.ptp(x) <= 1e-6 * (1.0 + np.max(np.abs(x)))) if len(x) else True


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation; 0.0 when either side is constant (no linear relation to measure)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if _constant(a) or _constant(b):
        return 0.0
    a, b = a - np.mean(a), b - np.mean(b)
    return float(np.sum(a * b) / np.sqrt(np.sum(a * a) * np.sum(b * b)))


def _accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.mean(y_true == y_pred)) if len(y_true) else float("nan")


def _mosi(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    non0 = y != 0
    has0_true, has0_pred = y >= 0, p >= 0
    non0_true, non0_pred = y[non0] > 0, p[non0] > 0
    return {
        "acc2_has0": _accuracy(has0_true, has0_pred),
        "f1_has0": weighted_f1(has0_true, has0_pred),
        "acc2_non0": _accuracy(non0_true, non0_pred),
        "f1_non0": weighted_f1(non0_true, non0_pred),
        "acc5": _accuracy(np.round(np.clip(y, -2, 2)), np.round(np.clip(p, -2, 2))),
        "acc7": _accuracy(np.round(np.clip(y, -3, 3)), np.round(np.clip(p, -3, 3))),
        "mae": float(np.mean(np.abs(p - y))),
        "corr": pearson(y, p),
    }


def _sims_class(x: np.ndarray, edges: tuple[float, ...]) -> np.ndarray:
    # bins are (lo, hi]: searchsorted with side="left" puts a value equal to an edge below it
    return np.searchsorted(np.asarray(edges[1:-1]), x, side="left")


def _sims(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    y, p = np.clip(y, -1, 1), np.clip(p, -1, 1)
    cls = {k: (_sims_class(y, e), _sims_class(p, e)) for k, e in SIMS_BINS.items()}
    return {
        "acc2": _accuracy(*cls[2]),
        "acc3": _accuracy(*cls[3]),
        "acc5": _accuracy(*cls[5]),
        "f1": weighted_f1(*cls[2]),
        "mae": float(np.mean(np.abs(p - y))),
        "corr": pearson(y, p),
    }


def msa_metrics(y_true, y_pred, scale: str = "mosi") -> dict[str, float]:
    """The field's metrics for one split. y_true/y_pred: 1-D arrays (or tensors) of scores."""
    y, p = (np.asarray(v.detach().cpu() if hasattr(v, "detach") else v, np.float64).reshape(-1)
            for v in (y_true, y_pred))
    if y.shape != p.shape:
        raise UserError(f"metrics: {len(y)} labels but {len(p)} predictions")
    if len(y) == 0:
        raise UserError("metrics: no samples to score")
    if scale == "mosi":
        return _mosi(y, p)
    if scale == "sims":
        return _sims(y, p)
    raise UserError(f"metrics: unknown label scale {scale!r}; expected 'mosi' or 'sims'")


def metrics_by_part(parts: dict[str, MSAData], y_pred: np.ndarray, scale: str = "mosi") -> dict[str, dict]:
    """Metrics per part of a prediction on `MSAData.concat(list(parts.values()))` (rows in that order)."""
    y_pred = np.asarray(y_pred).reshape(-1)
    if len(y_pred) != sum(len(p) for p in parts.values()):
        raise UserError(f"metrics: {len(y_pred)} predictions for {sum(len(p) for p in parts.values())} rows")
    out, start = {}, 0
    for name, part in parts.items():
        out[name] = msa_metrics(part.labels, y_pred[start:start + len(part)], scale)
        start += len(part)
    return out
