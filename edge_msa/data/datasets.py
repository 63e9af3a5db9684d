"""One entry point from a dataset name to its splits: `load_dataset(name, path, spec)`.

Names:
- "mmsa": MMSA feature file (`.pkl` with trust_pickle=True, or a converted `.npz`); `path` is the
  file or a folder holding exactly one such file. train/valid/test.
- "vader" (movie + amazon), "vader-movie", "vader-amazon": VADER ground truth, hashed
  train/valid/test (see `edge_msa.data.corpora`).
- "meld": MELD transcripts, train/valid.
- "text": a user's own CSV/TSV of sentences with `text` and `label` columns (see
  `edge_msa.data.labelled_text`); `label_scale` says how to read its labels (default: inferred).
- "emodb": EmoDB speech (see `edge_msa.data.emodb`).
- "media": a folder written by `edge-msa data extract` (live features of labelled recordings, see
  `edge_msa.data.media_dataset`); its own splits.
- "synthetic": generated data for `spec` (256/64/64 rows), for smoke runs; `path` is ignored.
Corpora default to `../shared/data` relative to the working directory.
"""

from __future__ import annotations

from pathlib import Path

from edge_msa.data.batch import MSAData
from edge_msa.errors import UserError
from edge_msa.features.spec import FeatureSpec, get_spec

DEFAULT_DATA = Path("../shared/data")
DATASETS = ("mmsa", "vader", "vader-movie", "vader-amazon", "meld", "text", "emodb", "media", "synthetic")
SYNTHETIC_SIZES = {"train": 256, "valid": 64, "test": 64}
MMSA_SUFFIXES = (".pkl", ".npz")


def _mmsa_file(path: Path) -> Path:
    if not path.is_dir():
        return path
    found = sorted(p for p in path.iterdir() if p.suffix in MMSA_SUFFIXES)
    if len(found) != 1:
        names = [p.name for p in found] or "none"
        raise UserError(f"{path}: need exactly one MMSA .pkl/.npz file there, found {names}; name the file")
    return found[0]


def dataset_of_path(path: str | Path | None) -> str | None:
    """"mmsa" when `path` names an MMSA feature file (the suffix says so), else None."""
    return "mmsa" if path is not None and Path(path).suffix in MMSA_SUFFIXES else None


def load_dataset(name: str, path: str | Path | None, spec: FeatureSpec | str | dict | None, *,
                 trust_pickle: bool = False, seed: int = 0, label_scale: str = "auto") -> dict[str, MSAData]:
    """Splits ("train", "valid" and, when the data has one, "test") of dataset `name`.

    spec: a FeatureSpec, a named spec or None; for "mmsa" None keeps the file's own features
    (BERT text), elsewhere None means the live spec.
    """
    if name not in DATASETS:
        raise UserError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")
    if name == "mmsa":
        if path is None:
            raise UserError("dataset 'mmsa' needs a path to its .pkl or .npz file")
        from edge_msa.data.mmsa import load_mmsa

        return load_mmsa(_mmsa_file(Path(path)), trust_pickle=trust_pickle,
                         spec=None if spec is None else get_spec(spec))
    spec = get_spec(spec)
    if name == "synthetic":
        from edge_msa.data.synthetic import synthetic_data

        return {split: synthetic_data(spec, n, seed=seed + i)
                for i, (split, n) in enumerate(SYNTHETIC_SIZES.items())}
    path = Path(path) if path is not None else DEFAULT_DATA
    if not path.exists():
        raise UserError(f"data path {path} does not exist (point --data at the shared data folder)")
    if name.startswith("vader"):
        from edge_msa.data.corpora import load_vader

        return load_vader(path, spec, corpus=name.partition("-")[2] or "both", seed=seed)
    if name == "meld":
        from edge_msa.data.corpora import load_meld

        return load_meld(path, spec)
    if name == "text":
        from edge_msa.data.labelled_text import load_labelled_text

        return load_labelled_text(path, spec, label_scale=label_scale, seed=seed)
    if name == "media":
        from edge_msa.data.media_dataset import load_media

        return load_media(path, spec)
    from edge_msa.data.emodb import load_emodb  # owned by the audio helper

    return load_emodb(path, spec, seed=seed)


def load_datasets(names: list[str], path: str | Path | None, spec: FeatureSpec, split_seed: int = 0
                  ) -> tuple[dict[str, MSAData], dict[str, MSAData]]:
    """Several datasets at once: their train and valid splits concatenated in the order of `names`,
    and each dataset's own valid split (`metrics_by_part` scores a prediction on the concatenation
    per dataset)."""
    if not names:
        raise UserError("name at least one --dataset")
    if path is not None and not Path(path).exists():
        raise UserError(f"no such data folder: {path}")
    loaded = {n: load_dataset(n, path, spec, seed=split_seed) for n in names}
    splits = {s: MSAData.concat([d[s] for d in loaded.values()]) for s in ("train", "valid")}
    return splits, {n: d["valid"] for n, d in loaded.items()}
