"""Parity of an exported bundle against the eager model, on real samples.

fp32/fp16: the largest absolute difference of score and uncertainty, against the recipe's
`max_abs_diff`. int8: the change of the field's metrics on the same samples (|MAE change| and
the Acc-2 drop in points), against `mae_delta` and `acc2_drop`; the max difference is recorded
too. Acc-2 is `acc2_non0` (negative vs positive, zeros dropped) on the MOSI scale, `acc2` on SIMS.
"""

from __future__ import annotations

import numpy as np
import torch

from edge_msa.export.recipes import ExportRecipe
from edge_msa.train.metrics import msa_metrics


def eager_outputs(model: torch.nn.Module, inputs: tuple[np.ndarray, ...], batch: int = 64
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(score, uncertainty) of the eager fp32 model on every row."""
    scores, uncertainties = [], []
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(inputs[0]), batch):
            s, u = model(*(torch.from_numpy(np.ascontiguousarray(a[start : start + batch])) for a in inputs))
            scores.append(s.float().numpy())
            uncertainties.append(u.float().numpy())
    return np.concatenate(scores), np.concatenate(uncertainties)


def acc2_key(scale: str) -> str:
    return "acc2" if scale == "sims" else "acc2_non0"


def compare(eager: tuple[np.ndarray, np.ndarray], exported: tuple[np.ndarray, np.ndarray],
            labels: np.ndarray, scale: str, recipe: ExportRecipe) -> tuple[dict, dict]:
    """(parity record with "passed", metrics {"eager", "exported"}) for the manifest."""
    score_diff = float(np.max(np.abs(eager[0] - exported[0])))
    unc_diff = float(np.max(np.abs(eager[1] - exported[1])))
    metrics = {"eager": msa_metrics(labels, eager[0], scale),
               "exported": msa_metrics(labels, exported[0], scale)}
    tol = recipe.parity
    parity = {"samples": int(len(labels)), "max_abs_diff_score": score_diff,
              "max_abs_diff_uncertainty": unc_diff, "finite": bool(np.isfinite(exported).all())}
    if recipe.precision == "int8":
        key = acc2_key(scale)
        mae_delta = metrics["exported"]["mae"] - metrics["eager"]["mae"]
        acc2_drop = 100.0 * (metrics["eager"][key] - metrics["exported"][key])
        parity.update(mae_delta=float(mae_delta), acc2_key=key, acc2_drop_points=float(acc2_drop),
                      tolerance={"mae_delta": tol.mae_delta, "acc2_drop": tol.acc2_drop},
                      passed=bool(parity["finite"] and abs(mae_delta) <= tol.mae_delta
                                  and not acc2_drop > tol.acc2_drop))
    else:
        parity.update(tolerance={"max_abs_diff": tol.max_abs_diff},
                      passed=bool(parity["finite"] and max(score_diff, unc_diff) <= tol.max_abs_diff))
    return parity, metrics


def failure_message(parity: dict) -> str:
    if "mae_delta" in parity:
        tol = parity["tolerance"]
        return (f"MAE change {parity['mae_delta']:+.4f} (allowed ±{tol['mae_delta']}), "
                f"{parity['acc2_key']} drop {parity['acc2_drop_points']:.2f} points "
                f"(allowed {tol['acc2_drop']}) on {parity['samples']} samples")
    return (f"max |diff| score {parity['max_abs_diff_score']:.3g}, uncertainty "
            f"{parity['max_abs_diff_uncertainty']:.3g} (allowed {parity['tolerance']['max_abs_diff']}) "
            f"on {parity['samples']} samples")
