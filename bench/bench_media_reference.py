"""A run trained on an extracted dataset next to a simple reference, on the same rows.

    python bench/bench_media_reference.py RUN DATASET [--json OUT]

Reference: the mean training label predicted for every row (what a model that ignores its inputs
scores best on MAE). Both are scored on the valid and test splits of DATASET (the folder written
by `edge-msa data extract`) with the project's metrics.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from edge_msa.data.media_dataset import load_media
from edge_msa.train.evaluate import evaluate
from edge_msa.train.metrics import msa_metrics
from edge_msa.train.run import load_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    model, _ = load_run(args.run)
    splits = load_media(args.dataset, model.spec)
    mean = float(splits["train"].labels.mean())
    result = {"train_label_mean": mean}
    print(f"reference: the mean training label {mean:+.3f} for every row")
    print(f"{'split':6} {'rows':>5} {'predictor':10} {'mae':>6} {'corr':>6} {'acc2':>6} {'acc3':>6}")
    for split in ("valid", "test"):
        rows = splits[split]
        scores = {"model": evaluate(model, rows),
                  "reference": msa_metrics(rows.labels, np.full(len(rows), mean, np.float32), rows.scale)}
        result[split] = scores
        for name, m in scores.items():
            print(f"{split:6} {len(rows):5d} {name:10} {m['mae']:6.3f} {m['corr']:6.3f} {m['acc2']:6.3f} "
                  f"{m['acc3']:6.3f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
