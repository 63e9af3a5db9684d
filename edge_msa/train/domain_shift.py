"""Leave-one-domain-out: for each fold of `edge_msa.data.domains`, train a fresh model on the other
domains (checkpoint selected on their validation rows), score it once on the held-out domain,
and score the simple references of `edge_msa.train.probe` on the same held-out rows.

The result has the layout of `edge_msa.train.sweep` ({"protocol", "n", "scale", "rows"}), so the
same table printer and Markdown writer serve it. Rows: one per held-out domain and "mean" (over
the folds) for the model, then "<domain> | <reference>" and "mean | <reference>".
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from edge_msa.data.domains import Fold, seeded_subset
from edge_msa.models.base import MSAModel
from edge_msa.train.probe import reference_metrics
from edge_msa.train.sweep import mean_metrics
from edge_msa.train.trainer import train


def leave_one_domain_out(build_model: Callable[[], MSAModel], folds: list[Fold], out_dir: str | Path, *,
                         domains: str, seed: int = 0, max_train: int | None = None, progress: bool = True,
                         **train_options) -> dict:
    """Train `build_model()` once per fold (run folders `out_dir/<held-out domain>`); see the module doc.

    train_options go to `edge_msa.train.trainer.train` (epochs, batch_size, lr, select, ...);
    max_train: train on a seeded random subset of that many training rows per fold.
    """
    out_dir = Path(out_dir)
    rows: dict[str, dict[str, float]] = {}
    references: dict[str, dict[str, dict[str, float]]] = {}
    sizes = {}
    for fold in folds:
        fold_train = seeded_subset(fold.train, max_train, seed)
        torch.manual_seed(seed)  # the same initialisation in every fold
        model = build_model()
        data = {"train": fold_train, "valid": fold.valid, "test": fold.test}
        result = train(model, data, out_dir / fold.held_out, seed=seed, progress=progress,
                       data_info={"protocol": "domains", "domains": domains, "held_out": fold.held_out},
                       **train_options)
        rows[fold.held_out] = result["test"]
        for name, metrics in reference_metrics(fold_train, fold.test, fold.test.scale).items():
            references.setdefault(name, {})[fold.held_out] = metrics
        sizes[fold.held_out] = {split: len(d) for split, d in data.items()}
    rows["mean"] = mean_metrics(rows[f.held_out] for f in folds)
    for name, per_fold in references.items():
        rows |= {f"{held_out} | {name}": m for held_out, m in per_fold.items()}
        rows[f"mean | {name}"] = mean_metrics(per_fold.values())
    return {"protocol": "domains", "domains": domains, "n": sum(s["test"] for s in sizes.values()),
            "scale": folds[0].test.scale, "rows": rows, "folds": sizes, "references": sorted(references)}
