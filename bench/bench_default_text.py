"""The shipped default's text quality next to the VADER rule-based analyser, int8 and fp32.

    python bench/bench_default_text.py --data ../shared/data --json default_text.json

VADER corpora (movie, amazon; labels = mean human rating x 0.75): Pearson r of each model's score
with the human ratings, on our hashed validation split (used to select the checkpoint) and on the
test split (never used in training or selection). VADER's own figure is its `compound` score.
MELD dev (labels negative/neutral/positive): 3-class weighted F1; VADER classes by its standard
thresholds (compound >= 0.05 positive, <= -0.05 negative), the default's by rounding its score
on the -3..3 scale (|score| < 0.5 neutral: halfway between MELD's label values -1, 0, +1).
Every bundle runs through its own backend (ExecuTorch int8, onnxruntime fp32 and Q/DQ int8).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from edge_msa.data.datasets import load_dataset
from edge_msa.runtime.backends import load_backend
from edge_msa.runtime.launch import default_bundle_path
from edge_msa.train.evaluate import predict

BUNDLES = ("executorch-int8", "onnx-int8", "onnx-fp32")
VADER_POS, VADER_NEG = 0.05, -0.05
MELD_NEUTRAL = 0.5


def vader_compound(texts: list[str]) -> np.ndarray:
    analyser = SentimentIntensityAnalyzer()
    return np.array([analyser.polarity_scores(t)["compound"] for t in texts], np.float32)


def three_class(score: np.ndarray, low: float, high: float) -> np.ndarray:
    return np.where(score >= high, 1, np.where(score <= low, -1, 0))


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=default_bundle_path().parent,
                        help="folder holding the default's bundles (default: the shipped one)")
    parser.add_argument("--data", type=Path, default=Path("../shared/data"), help="the corpora folder")
    parser.add_argument("--json", type=Path, default=None, help="write the table as JSON here")
    args = parser.parse_args()

    backends = {name: load_backend(args.root / name, "auto", threads=1) for name in BUNDLES}
    spec = backends[BUNDLES[0]].spec
    rows: dict[str, dict[str, float]] = {}
    for corpus in ("vader-movie", "vader-amazon"):
        splits = load_dataset(corpus, args.data, spec)
        for split in ("valid", "test"):
            data = splits[split]
            row = {"n": len(data), "vader": pearson(vader_compound(data.raw_text), data.labels)}
            row |= {name: pearson(predict(b, data), data.labels) for name, b in backends.items()}
            rows[f"{corpus}/{split} (Pearson r)"] = row
    meld = load_dataset("meld", args.data, spec)["valid"]
    truth = meld.labels.astype(int)
    row = {"n": len(meld), "vader": f1_score(truth, three_class(vader_compound(meld.raw_text), VADER_NEG,
                                                                VADER_POS), average="weighted")}
    row |= {name: f1_score(truth, three_class(predict(b, meld), -MELD_NEUTRAL, MELD_NEUTRAL),
                           average="weighted") for name, b in backends.items()}
    rows["meld/dev (3-class weighted F1)"] = row

    cols = ("vader", *BUNDLES)
    print(f"| corpus / split (metric) | n | {' | '.join(cols)} |")
    print("|---|---|" + "---|" * len(cols))
    for name, row in rows.items():
        print(f"| {name} | {row['n']} | " + " | ".join(f"{row[c]:.3f}" for c in cols) + " |")
    if args.json is not None:
        args.json.write_text(json.dumps({"root": str(args.root), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
