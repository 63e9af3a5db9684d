"""A shipped tier's voice next to a simple baseline, on EmoDB speakers it never trained on.

    python bench/bench_voice_baseline.py --tier default --data ../shared/data --json default_voice.json

Baseline: per utterance, the mean, the standard deviation and the standard deviation of the
frame-to-frame change of each of the 40 log-mel bands over voiced frames (the same
`edge_msa.features.audio` frames the model reads, channels 0-39) -> standardised
-> scikit-learn LogisticRegression over EmoDB's valence levels (-1, -0.5, 0, +1, as
`edge_msa.data.emodb` maps the seven emotions), trained on the same training speakers as the
default. Its valence score is the expected level under the predicted class probabilities.
Tier: each bundle's score with text and vision absent (voice only), through its own backend.
Metrics on the validation speakers (12, 14: used to select the tier's voice expert) and the
test speakers (15, 16: never used for a choice): ROC AUC of positive (happiness) vs negative
(valence < 0) utterances, and Pearson r with the valence level. "shifted" rows: the same
speakers through one random channel each (`edge_msa.data.augment`: noise, telephone band, speed,
crop; seed 11), which neither model heard in that draw. "narration" rows: the five LibriVox
sentences (`tests/data/librivox`, calm English read speech), mean and max |score|: a voice model
that transfers should call them near 0.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from edge_msa.data.augment import augment
from edge_msa.data.batch import MSAData, padded_frames
from edge_msa.data.datasets import DEFAULT_DATA
from edge_msa.data.emodb import _build, load_emodb, split_files
from edge_msa.features.audio import SAMPLE_RATE, AudioFeaturizer
from edge_msa.features.media import read_audio
from edge_msa.features.spec import LIVE
from edge_msa.runtime.backends import load_backend
from edge_msa.runtime.launch import ASSETS
from edge_msa.train.evaluate import predict

MEL_BANDS = 40
SHIFT_SEED = 11
LIBRIVOX = Path(__file__).resolve().parents[1] / "tests" / "data" / "librivox"


def shifted(files: list[Path]) -> MSAData:
    """The files through one random channel each (seed SHIFT_SEED), as EmoDB rows."""
    rng, featurizer = np.random.default_rng(SHIFT_SEED), AudioFeaturizer()
    frames = {f.name: featurizer.offline(augment(read_audio(f, SAMPLE_RATE), rng)) for f in files}
    return _build(files, frames, LIVE)


def narration() -> MSAData:
    """The LibriVox sentences as voice-only rows, each cut to the model's window, label 0."""
    featurizer, t = AudioFeaturizer(), LIVE.audio.max_len
    frames = [featurizer.offline(read_audio(f, SAMPLE_RATE)) for f in sorted(LIBRIVOX.glob("*.wav"))]
    n = len(frames)
    audio, mask = padded_frames(frames, t, LIVE.audio.dim)
    return MSAData(text=np.zeros((n, 1), np.int64), text_mask=np.zeros((n, 1), np.float32), audio=audio,
                   audio_mask=mask, vision=np.zeros((n, 1, LIVE.vision.dim), np.float32),
                   vision_mask=np.zeros((n, 1), np.float32), labels=np.zeros(n, np.float32))


def logmel_stats(audio: np.ndarray, audio_mask: np.ndarray) -> np.ndarray:
    """[N, 120]: mean, std and delta-std over voiced frames (pitch > 0; all present frames when
    fewer than 3 are voiced) of each log-mel band (audio [N, T, 42], mask [N, T])."""
    mel = audio[..., :MEL_BANDS]
    voiced = (audio[..., MEL_BANDS] > 0) * audio_mask
    use = np.where(voiced.sum(1, keepdims=True) >= 3, voiced, audio_mask)[..., None]
    n = use.sum(1).clip(min=1.0)
    mean = (mel * use).sum(1) / n
    std = np.sqrt((((mel - mean[:, None]) ** 2) * use).sum(1) / n)
    delta, pairs = np.diff(mel, axis=1), (audio_mask[:, 1:] * audio_mask[:, :-1])[..., None]
    m = pairs.sum(1).clip(min=1.0)
    dmean = (delta * pairs).sum(1) / m
    dstd = np.sqrt((((delta - dmean[:, None]) ** 2) * pairs).sum(1) / m)
    return np.concatenate([mean, std, dstd], axis=1)


def fit_baseline(train: MSAData, seed: int = 0):
    levels = np.unique(train.labels)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    model.fit(logmel_stats(train.audio, train.audio_mask), np.searchsorted(levels, train.labels))
    return lambda audio, mask: model.predict_proba(logmel_stats(audio, mask)) @ levels


def valence_metrics(score: np.ndarray, valence: np.ndarray) -> dict[str, float]:
    polar = valence != 0
    auc = roc_auc_score(valence[polar] > 0, score[polar])
    return {"auc_pos_vs_neg": float(auc), "pearson_r": float(np.corrcoef(score, valence)[0, 1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tier", default="default", help="shipped tier: default or nano")
    parser.add_argument("--root", type=Path, default=None,
                        help="folder holding a tier's bundles (default: the shipped tier's)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the corpora folder")
    parser.add_argument("--json", type=Path, default=None, help="write the table as JSON here")
    args = parser.parse_args()

    root = args.root or ASSETS / args.tier
    splits = load_emodb(args.data, LIVE)
    files = split_files(args.data)
    baseline = fit_baseline(splits["train"])
    bundles = sorted(p.name for p in root.iterdir() if (p / "manifest.json").is_file())
    backends = {name: load_backend(root / name, "auto", threads=1) for name in bundles}
    rows = {}
    sets = [(f"{split} ({speakers})", splits[split]) for split, speakers in (("valid", "12, 14"),
                                                                           ("test", "15, 16"))]
    sets += [(f"{split} shifted", shifted(files[split])) for split in ("valid", "test")]
    for label, data in sets:
        scores = {"log-mel stats + LR": baseline(data.audio, data.audio_mask)}
        scores |= {f"{args.tier} {n}": predict(b, data) for n, b in backends.items()}
        for name, score in scores.items():
            rows[f"{label} / {name}"] = {"n": len(data), **valence_metrics(score, data.labels)}
    print("| EmoDB speakers / model | n | ROC AUC pos vs neg | Pearson r with valence |")
    print("|---|---|---|---|")
    for name, row in rows.items():
        print(f"| {name} | {row['n']} | {row['auc_pos_vs_neg']:.3f} | {row['pearson_r']:.3f} |")
    read = narration()
    scores = {"log-mel stats + LR": baseline(read.audio, read.audio_mask)}
    scores |= {f"{args.tier} {n}": predict(b, read) for n, b in backends.items()}
    print("\n| LibriVox narration (5 sentences) / model | mean score | max abs score |\n|---|---|---|")
    for name, score in scores.items():
        rows[f"narration / {name}"] = {"n": len(read), "mean": float(score.mean()),
                                       "max_abs": float(np.abs(score).max())}
        print(f"| {name} | {score.mean():+.2f} | {np.abs(score).max():.2f} |")
    if args.json is not None:
        args.json.write_text(json.dumps({"root": str(root), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
