"""Calibration sets for static int8: real samples, with the missing-modality mix of a recipe.

Calibrating on complete inputs only gives activation ranges that do not hold when a sensor
drops out at run time (an absent modality zeroes a whole branch), so a recipe mixes conditions:
complete rows, LNLN-style token/frame drop at a rate, whole modalities absent
(`edge_msa.data.missing`). The set is saved as `.npz` (no pickle): the six forward inputs at the
spec's static shapes plus a JSON `meta` string.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from edge_msa.data.batch import MSAData
from edge_msa.data.missing import SUBSETS, drop_modalities, lnln_drop
from edge_msa.data.samples import DataSource, spec_arrays
from edge_msa.errors import UserError
from edge_msa.features.spec import FeatureSpec
from edge_msa.models.base import INPUT_NAMES
from edge_msa.user_files import StrictModel


class MissingCondition(StrictModel):
    share: float = Field(gt=0, le=1)  # fraction of the calibration samples in this condition
    rate: float = Field(0.0, ge=0, le=1)  # LNLN drop: each token/frame lost with this probability
    keep: str = "LAV"  # modalities present (edge_msa.data.missing.SUBSETS); the others are absent

    @model_validator(mode="after")
    def _subset(self) -> MissingCondition:
        if self.keep not in SUBSETS:
            raise ValueError(f"keep {self.keep!r} must be one of {SUBSETS}")
        return self


class CalibrationRecipe(StrictModel):
    name: str
    description: str = ""
    dataset: str | None = None  # None: the run's own dataset
    path: str | None = None  # None: the run's (or the reader's default)
    split: Literal["train", "valid", "test"] = "train"  # never the split parity is measured on
    samples: int = Field(256, ge=1)
    seed: int = 0
    mix: list[MissingCondition] = Field(default_factory=lambda: [MissingCondition(share=1.0)])

    @model_validator(mode="after")
    def _shares(self) -> CalibrationRecipe:
        total = sum(c.share for c in self.mix)
        if not self.mix or abs(total - 1.0) > 1e-6:
            raise ValueError(f"mix shares must add up to 1 (they add up to {total:g})")
        return self



def _counts(shares: list[float], total: int) -> list[int]:
    """Split `total` by shares, largest remainders first, so the counts add up exactly."""
    raw = np.asarray(shares) * total
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts))[: total - counts.sum()]:
        counts[i] += 1
    return counts.tolist()


def mix_conditions(data: MSAData, recipe: CalibrationRecipe) -> MSAData:
    """`recipe.samples` rows of `data`, each condition of the mix applied to its share."""
    rng = np.random.default_rng(recipe.seed)
    n = min(recipe.samples, len(data))
    order = rng.permutation(len(data))[:n]
    parts, start = [], 0
    for i, (cond, count) in enumerate(zip(recipe.mix, _counts([c.share for c in recipe.mix], n),
                                          strict=True)):
        part = data.subset(order[start : start + count])
        start += count
        if count == 0:
            continue
        if cond.rate > 0:
            part = lnln_drop(part, cond.rate, seed=recipe.seed + i)
        parts.append(drop_modalities(part, cond.keep) if cond.keep != "LAV" else part)
    return MSAData.concat(parts)


def build_calibration_set(recipe: CalibrationRecipe, spec: FeatureSpec,
                          source: DataSource | None = None) -> tuple[tuple[np.ndarray, ...], dict]:
    """(arrays at the spec's shapes, meta) from the recipe's dataset, else from `source` (the run's).

    A recipe naming the run's own dataset inherits the run's path and split seed.
    """
    if recipe.dataset is not None:
        same = source is not None and source.dataset == recipe.dataset
        source = DataSource(recipe.dataset, recipe.path if recipe.path is not None else
                            (source.path if same else None), source.seed if same else 0,
                            source.trust_pickle if source else False)
    if source is None:
        raise UserError(f"calibration recipe {recipe.name!r} names no dataset; pass --dataset NAME "
                        "(or --run RUN)")
    data = mix_conditions(source.split(recipe.split, spec), recipe)
    meta = {"recipe": recipe.model_dump(), "source": source.describe(), "samples": len(data),
            "spec": spec.to_dict()}
    return spec_arrays(data, spec), meta


def save_calibration(path: str | Path, arrays: tuple[np.ndarray, ...], meta: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **dict(zip(INPUT_NAMES, arrays, strict=True)), meta=json.dumps(meta))
    return path


def load_calibration(path: str | Path, spec: FeatureSpec) -> tuple[tuple[np.ndarray, ...], dict]:
    """A saved set, checked against the model's spec (shapes and kinds)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"calibration set {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = tuple(f[name] for name in INPUT_NAMES)
            meta = json.loads(str(f["meta"]))
    except (KeyError, ValueError, OSError) as e:
        raise UserError(f"{path} is not an edge-msa calibration set: {e}") from None
    if FeatureSpec.from_dict(meta.get("spec", {})) != spec:
        raise UserError(f"calibration set {path} was built for FeatureSpec {meta['spec'].get('name')!r}, "
                        f"not the model's {spec.name!r}")
    return arrays, meta
