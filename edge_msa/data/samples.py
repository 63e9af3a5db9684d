"""Real samples for export: which dataset a run was trained on, its splits, static-shape arrays.

Parity is measured on a held-out slice of the run's own validation split, and calibration sets
come from its training split, never the other way round. A run records its data in
`config.json` ("data": {"dataset", "path", "split_seed", ...}, written by the trainer);
`--dataset/--data` override it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from edge_msa.data.batch import ARRAY_FIELDS, MSAData
from edge_msa.errors import UserError
from edge_msa.features.spec import FeatureSpec, pad_to_spec


@dataclass(frozen=True)
class DataSource:
    dataset: str
    path: str | None
    seed: int = 0  # the dataset's own split seed (hashed corpus splits)
    trust_pickle: bool = False

    def split(self, name: str, spec: FeatureSpec) -> MSAData:
        splits = _splits(self, spec.to_json())
        if name not in splits or len(splits[name]) == 0:
            raise UserError(f"dataset {self.dataset!r} has no {name!r} split (it has {sorted(splits)})")
        return splits[name]

    def describe(self) -> dict:
        return {"dataset": self.dataset, "path": self.path, "split_seed": self.seed}


@lru_cache(maxsize=2)
def _splits(source: DataSource, spec_json: str) -> dict[str, MSAData]:
    """Loaded once per process: parity and calibration read the same corpus (tokenizing is slow)."""
    from edge_msa.data.datasets import load_dataset

    return load_dataset(source.dataset, source.path, FeatureSpec.from_json(spec_json),
                        trust_pickle=source.trust_pickle, seed=source.seed)


def run_data_source(config: dict, dataset: str | None = None, path: str | None = None,
                    trust_pickle: bool = False) -> DataSource:
    """The run's recorded dataset, or the one named on the command line."""
    recorded = config.get("data") or {}
    name = dataset or recorded.get("dataset")
    if name is None:
        raise UserError("the run does not record which dataset it was trained on; "
                        "name real data with --dataset NAME [--data PATH]")
    same = dataset is None or dataset == recorded.get("dataset")
    return DataSource(name, path if path is not None else (recorded.get("path") if same else None),
                      int(recorded.get("split_seed", 0)) if same else 0, trust_pickle)


def held_out_slice(data: MSAData, samples: int, seed: int = 0) -> MSAData:
    """Up to `samples` rows, drawn without replacement with a fixed seed (in their original order)."""
    if len(data) <= samples:
        return data
    return data.subset(np.sort(np.random.default_rng(seed).choice(len(data), samples, replace=False)))


def spec_arrays(data: MSAData, spec: FeatureSpec) -> tuple[np.ndarray, ...]:
    """The forward inputs at the bundle's static shapes (time axes padded or cut to max_len)."""
    return pad_to_spec(tuple(getattr(data, k) for k in ARRAY_FIELDS[:-1]), spec)
