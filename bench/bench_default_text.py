"""A shipped tier's text quality next to the VADER rule-based analyser, clean and as noisy transcripts.

    python bench/bench_default_text.py --tier default --data ../shared/data --json default_text.json
    python bench/bench_default_text.py --tier nano

VADER corpora (movie, amazon; labels = mean human rating x 0.75): Pearson r of each model's score
with the human ratings, on our hashed validation split (used to select the checkpoint) and on the
test split (never used in training or selection). VADER's own figure is its `compound` score.
MELD dev (labels negative/neutral/positive): 3-class weighted F1; VADER classes by its standard
thresholds (compound >= 0.05 positive, <= -0.05 negative), the default's by rounding its score
on the -3..3 scale (|score| < 0.5 neutral: halfway between MELD's label values -1, 0, +1).
Every bundle of the tier runs through its own backend (ExecuTorch int8, onnxruntime fp32 / Q/DQ int8).
"noised" rows: the same sentences after `edge_msa.data.transcript_noise.noisy_transcripts` (no
punctuation, 15 % of words dropped, 10 % replaced by common words, seed 7), what a speech
recogniser hands the model live; VADER reads the same noised sentences (decoded from the ids).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from edge_msa.data.batch import MSAData
from edge_msa.data.datasets import DEFAULT_DATA, load_dataset
from edge_msa.data.transcript_noise import noisy_transcripts
from edge_msa.features.text import load_tokenizer
from edge_msa.runtime.backends import load_backend
from edge_msa.runtime.launch import ASSETS
from edge_msa.train.evaluate import predict
from edge_msa.train.metrics import pearson

NOISE_SEED = 7
VADER_POS, VADER_NEG = 0.05, -0.05
MELD_NEUTRAL = 0.5


def vader_compound(texts: list[str]) -> np.ndarray:
    analyser = SentimentIntensityAnalyzer()
    return np.array([analyser.polarity_scores(t)["compound"] for t in texts], np.float32)


def three_class(score: np.ndarray, low: float, high: float) -> np.ndarray:
    return np.where(score >= high, 1, np.where(score <= low, -1, 0))


def noised(data: MSAData) -> tuple[MSAData, list[str]]:
    """The rows as a noisy recogniser would give them, and their text (for VADER)."""
    ids, mask = noisy_transcripts(data.text, data.text_mask, np.random.default_rng(NOISE_SEED))
    tok = load_tokenizer()
    texts = [tok.decode(row[m > 0], skip_special_tokens=True) for row, m in zip(ids, mask, strict=True)]
    return MSAData(**{**data.__dict__, "text": ids, "text_mask": mask, "raw_text": texts}), texts


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
    bundles = sorted(p.name for p in root.iterdir() if (p / "manifest.json").is_file())
    backends = {name: load_backend(root / name, "auto", threads=1) for name in bundles}
    spec = backends[bundles[0]].spec
    rows: dict[str, dict[str, float]] = {}
    for corpus in ("vader-movie", "vader-amazon"):
        splits = load_dataset(corpus, args.data, spec)
        for split in ("valid", "test"):
            clean = splits[split]
            for kind, (data, texts) in (("clean", (clean, clean.raw_text)), ("noised", noised(clean))):
                row = {"n": len(data), "vader": pearson(vader_compound(texts), data.labels)}
                row |= {name: pearson(predict(b, data), data.labels) for name, b in backends.items()}
                rows[f"{corpus}/{split} {kind} (Pearson r)"] = row
    meld = load_dataset("meld", args.data, spec)["valid"]
    truth = meld.labels.astype(int)
    for kind, (data, texts) in (("clean", (meld, meld.raw_text)), ("noised", noised(meld))):
        vader = three_class(vader_compound(texts), VADER_NEG, VADER_POS)
        row = {"n": len(data), "vader": f1_score(truth, vader, average="weighted")}
        row |= {name: f1_score(truth, three_class(predict(b, data), -MELD_NEUTRAL, MELD_NEUTRAL),
                               average="weighted") for name, b in backends.items()}
        rows[f"meld/dev {kind} (3-class weighted F1)"] = row

    cols = ("vader", *bundles)
    print(f"| corpus / split (metric) | n | {' | '.join(cols)} |")
    print("|---|---|" + "---|" * len(cols))
    for name, row in rows.items():
        print(f"| {name} | {row['n']} | " + " | ".join(f"{row[c]:.3f}" for c in cols) + " |")
    if args.json is not None:
        args.json.write_text(json.dumps({"root": str(root), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
