"""The shipped default's voice next to a simple baseline, on EmoDB speakers it never trained on.

    python bench/bench_voice_baseline.py --data ../shared/data --json default_voice.json

Baseline: per utterance, the mean and the standard deviation over time of each of the 40 log-mel
bands (the same `edge_msa.features.audio` frames the model reads, channels 0-39) -> standardised
-> scikit-learn LogisticRegression over EmoDB's valence levels (-1, -0.5, 0, +1, as
`edge_msa.data.emodb` maps the seven emotions), trained on the same training speakers as the
default. Its valence score is the expected level under the predicted class probabilities.
Default: the bundle's score with text and vision absent (voice only), through its own backend.
Metrics on the validation speakers (12, 14: used to select the default's checkpoint) and the
test speakers (15, 16: never used): ROC AUC of positive (happiness) vs negative (valence < 0)
utterances, and Pearson r with the valence level.
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

from edge_msa.data.batch import MSAData
from edge_msa.data.emodb import load_emodb
from edge_msa.features.spec import LIVE
from edge_msa.runtime.backends import load_backend
from edge_msa.runtime.launch import default_bundle_path
from edge_msa.train.evaluate import predict

BUNDLES = ("executorch-int8", "onnx-int8", "onnx-fp32")
MEL_BANDS = 40


def logmel_stats(audio: np.ndarray, audio_mask: np.ndarray) -> np.ndarray:
    """[N, 80]: mean and std over present frames of each log-mel band (audio [N, T, 42], mask [N, T])."""
    mel, w = audio[..., :MEL_BANDS], audio_mask[..., None]
    n = w.sum(1).clip(min=1.0)
    mean = (mel * w).sum(1) / n
    std = np.sqrt((((mel - mean[:, None]) ** 2) * w).sum(1) / n)
    return np.concatenate([mean, std], axis=1)


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
    parser.add_argument("--root", type=Path, default=default_bundle_path().parent,
                        help="folder holding the default's bundles (default: the shipped one)")
    parser.add_argument("--data", type=Path, default=Path("../shared/data"), help="the corpora folder")
    parser.add_argument("--json", type=Path, default=None, help="write the table as JSON here")
    args = parser.parse_args()

    splits = load_emodb(args.data, LIVE)
    baseline = fit_baseline(splits["train"])
    backends = {name: load_backend(args.root / name, "auto", threads=1) for name in BUNDLES}
    rows = {}
    for split, speakers in (("valid", "12, 14"), ("test", "15, 16")):
        data = splits[split]
        scores = {"log-mel stats + LR": baseline(data.audio, data.audio_mask)}
        scores |= {f"default {n}": predict(b, data) for n, b in backends.items()}
        for name, score in scores.items():
            rows[f"{split} ({speakers}) / {name}"] = {"n": len(data), **valence_metrics(score, data.labels)}
    print("| EmoDB speakers / model | n | ROC AUC pos vs neg | Pearson r with valence |")
    print("|---|---|---|---|")
    for name, row in rows.items():
        print(f"| {name} | {row['n']} | {row['auc_pos_vs_neg']:.3f} | {row['pearson_r']:.3f} |")
    if args.json is not None:
        args.json.write_text(json.dumps({"root": str(args.root), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
