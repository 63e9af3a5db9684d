"""The ExecuTorch backend's scores on real rows, to compare its two runtimes across environments.

    python bench/bench_executorch_lite.py --save full.npz          # where the executorch wheel is installed
    python bench/bench_executorch_lite.py --save lite.npz --compare full.npz
        # in a Python >= 3.12 venv with `pip install 'edge-msa[executorch-lite]'` and no torch

Both shipped tiers' `model.pte` on 300 VADER movie snippets and EmoDB's validation recordings
(../shared/data); prints which runtime ran and the largest score difference against --compare.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from edge_msa.data.datasets import DEFAULT_DATA, load_dataset
from edge_msa.export.bundle import load_bundle
from edge_msa.runtime.backends import load_backend
from edge_msa.runtime.tiers import ASSETS
from edge_msa.train.evaluate import predict

DATA = DEFAULT_DATA
ROWS = {"vader-movie": 300, "emodb": None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--save", type=Path, required=True)
    parser.add_argument("--compare", type=Path)
    args = parser.parse_args()
    scores = {}
    for tier in ("default", "nano"):
        bundle = load_bundle(ASSETS / tier / "executorch-int8")
        backend = load_backend(bundle, "executorch", threads=1)
        runtime = "executorch-numpy-runtime" if backend.numpy_runtime else "executorch"
        for dataset, rows in ROWS.items():
            data = load_dataset(dataset, DATA, bundle.spec)["valid"]
            scores[f"{tier}/{dataset}"] = predict(backend, data.subset(slice(0, rows)))
            print(f"{tier} on {dataset}: {len(scores[f'{tier}/{dataset}'])} rows with {runtime}")
    np.savez(args.save, **scores)
    if args.compare is not None:
        other = np.load(args.compare)
        for key, values in scores.items():
            print(f"{key}: max abs difference {float(np.abs(values - other[key]).max()):.3g}")


if __name__ == "__main__":
    main()
