"""Generated data with the real layouts, for tests and smoke runs (never for reported figures).

`make_mmsa_pickle` writes a file with the key layout and shapes of the MMSA feature pickles;
`synthetic_data` builds an MSAData for any FeatureSpec in memory. Labels are drawn first and
every modality carries a noisy copy of them (sentiment words in the text, a fixed direction in
each feature space), so a model can learn something and a bug that scrambles rows shows.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from edge_msa.data.batch import MSAData
from edge_msa.errors import UserError
from edge_msa.features.spec import FeatureSpec
from edge_msa.features.text import tokenize

# Real MMSA shapes: text tokens T, (audio dim, unaligned frames), (vision dim, unaligned frames).
KINDS = {
    "mosi": {"T": 50, "audio": (5, 375), "vision": (20, 500), "scale": "mosi"},
    "mosei": {"T": 50, "audio": (74, 500), "vision": (35, 500), "scale": "mosi"},
    "sims": {"T": 39, "audio": (33, 400), "vision": (709, 55), "scale": "sims"},
}
BERT_DIM = 768
_POSITIVE = ("good", "great", "wonderful", "love", "best", "funny", "enjoyed", "beautiful")
_NEGATIVE = ("bad", "awful", "boring", "hate", "worst", "terrible", "dull", "stupid")
_NEUTRAL = ("the", "movie", "was", "it", "and", "a", "story", "actor", "really", "plot", "i", "film")


def _labels(rng: np.random.Generator, n: int, scale: str) -> np.ndarray:
    top = 3.0 if scale == "mosi" else 1.0
    y = np.round(rng.uniform(-top, top, n) * 5) / 5  # annotator means come in steps of 0.2
    y[rng.random(n) < 0.1] = 0.0  # the field's data has exact zeros (they matter for acc2_non0)
    return y.astype(np.float32)


def _sentences(rng: np.random.Generator, y01: np.ndarray, max_words: int) -> list[str]:
    """One sentence per label; the share of polar words grows with |label|."""
    out = []
    for v in y01:
        n = int(rng.integers(3, max_words + 1))
        polar = _POSITIVE if v > 0 else _NEGATIVE
        words = [polar[rng.integers(len(polar))] if rng.random() < abs(v) else
                 _NEUTRAL[rng.integers(len(_NEUTRAL))] for _ in range(n)]
        out.append(" ".join(words))
    return out


def _direction(dim: int) -> np.ndarray:
    # fixed per feature size, so separately generated splits share the signal
    w = np.random.default_rng(dim).normal(size=dim)
    return (w / np.linalg.norm(w) * np.sqrt(dim)).astype(np.float32)


def _frames(rng: np.random.Generator, y01: np.ndarray, lengths: np.ndarray, t: int, dim: int,
            pad_zero: bool = True) -> np.ndarray:
    """[N, t, dim] noise plus label * direction; frames past each length are zero (padding)."""
    x = rng.normal(size=(len(y01), t, dim)).astype(np.float32)
    # a per-sample offset that pooling over time cannot average away keeps one modality imperfect
    x += rng.normal(size=(len(y01), 1, dim)).astype(np.float32)
    x += 0.5 * y01[:, None, None].astype(np.float32) * _direction(dim)
    if pad_zero:
        x[np.arange(t)[None, :] >= lengths[:, None]] = 0.0
    return x


def _lengths(rng: np.random.Generator, n: int, t: int) -> np.ndarray:
    return rng.integers(max(1, t // 4), t + 1, n)


def _split(rng: np.random.Generator, name: str, n: int, kind: str, aligned: bool) -> dict:
    cfg = KINDS[kind]
    t = cfg["T"]
    y = _labels(rng, n, cfg["scale"])
    y01 = y / (3.0 if cfg["scale"] == "mosi" else 1.0)
    raw = _sentences(rng, y01, max_words=(t - 2) // 3)
    ids, mask = tokenize(raw, t)
    text_len = mask.sum(1).astype(np.int64)
    text_bert = np.stack([ids, mask, np.zeros_like(mask)], axis=1).astype(np.float64)  # MMSA: floats
    split = {
        "raw_text": np.array(raw, dtype=object),
        "id": np.array([f"synth_{name}_{i // 4}$_${i % 4}" for i in range(n)], dtype=object),
        # BERT features are non-zero on padding too, as in the real files: masks must come from text_bert
        "text": _frames(rng, y01, text_len, t, BERT_DIM, pad_zero=False),
        "text_bert": text_bert,
        "regression_labels": y,
        "classification_labels": np.sign(y).astype(np.float32) + 1,  # 0 neg, 1 neu, 2 pos
        "annotations": np.array([("Negative", "Neutral", "Positive")[int(np.sign(v)) + 1] for v in y],
                                dtype=object),
    }
    for m in ("audio", "vision"):
        dim, frames = cfg[m]
        frames = t if aligned else frames
        lengths = text_len if aligned else _lengths(rng, n, frames)
        x = _frames(rng, y01, lengths, frames, dim)
        split[m], split[f"{m}_lengths"] = x, [int(v) for v in lengths]
    # COVAREP/librosa features hold -inf in some present frames (log of silence)
    lengths = np.asarray(split["audio_lengths"])
    present = np.argwhere(np.arange(split["audio"].shape[1])[None, :] < lengths[:, None])
    hit = present[rng.random(len(present)) < 0.05]
    split["audio"][hit[:, 0], hit[:, 1], 0] = -np.inf
    if kind == "sims":  # SIMS also ships unimodal labels
        for m in "TAV":
            split[f"regression_labels_{m}"] = np.clip(y + rng.normal(0, 0.2, n), -1, 1).astype(np.float32)
    return split


def make_mmsa_pickle(path: str | Path, n_per_split: int = 16, kind: str = "mosi",
                     aligned: bool | None = None, seed: int = 0) -> Path:
    """Write an MMSA-layout pickle (train/valid/test) with the real shapes of `kind`.

    kind: "mosi", "mosei" or "sims"; aligned defaults to True for MOSI/MOSEI (aligned_50.pkl)
    and False for SIMS, which the field only releases unaligned (unaligned_39.pkl).
    """
    if kind not in KINDS:
        raise UserError(f"unknown synthetic kind {kind!r}; expected one of {sorted(KINDS)}")
    aligned = kind != "sims" if aligned is None else aligned
    if aligned and kind == "sims":
        raise UserError("SIMS exists only unaligned (unaligned_39.pkl); use aligned=False")
    rng = np.random.default_rng(seed)
    data = {s: _split(rng, s, n_per_split, kind, aligned) for s in ("train", "valid", "test")}
    path = Path(path)
    with path.open("wb") as f:
        pickle.dump(data, f, protocol=pickle.HIGHEST_PROTOCOL)
    return path


def synthetic_data(spec: FeatureSpec, n: int = 64, seed: int = 0, scale: str | None = None) -> MSAData:
    """An in-memory dataset for `spec` (tokens or feature text), every modality present.

    scale defaults to "sims" for specs whose name mentions SIMS, else "mosi".
    """
    scale = scale or ("sims" if "sims" in spec.name else "mosi")
    rng = np.random.default_rng(seed)
    y = _labels(rng, n, scale)
    y01 = y / (3.0 if scale == "mosi" else 1.0)
    tx = spec.text
    if tx.is_tokens:
        raw = _sentences(rng, y01, max_words=max(3, (tx.max_len - 2) // 2))
        text, text_mask = tokenize(raw, tx.max_len)
    else:
        raw = [""] * n
        text_len = _lengths(rng, n, tx.max_len)
        text = _frames(rng, y01, text_len, tx.max_len, tx.dim)
        text_mask = (np.arange(tx.max_len)[None, :] < text_len[:, None]).astype(np.float32)
    mods = {}
    for m in ("audio", "vision"):
        ms = spec.modality(m)
        lengths = _lengths(rng, n, ms.max_len)
        mods[m] = _frames(rng, y01, lengths, ms.max_len, ms.dim)
        mods[f"{m}_mask"] = (np.arange(ms.max_len)[None, :] < lengths[:, None]).astype(np.float32)
    return MSAData(text=text, text_mask=text_mask, labels=y, ids=[f"synth_{seed}_{i}" for i in range(n)],
                   raw_text=raw, scale=scale, **mods)
