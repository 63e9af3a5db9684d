"""A user's own labelled sentences: a CSV/TSV with `text` and `label` columns, as text-only MSAData.

    edge-msa eval default --dataset text --data my_reviews.csv --split all

Columns (header names, case-insensitive): `text` (or `sentence`, `utterance`), `label` (or `score`,
`sentiment`); optional `id` and `split` (train / valid / test). Without a `split` column the rows
are hashed into train/valid/test exactly as the VADER corpora are (`corpora.hash_split`).

Labels are put on the MOSI scale (-3..3) by a named scale, given with `label_scale` or inferred
from the values; whichever it is, the mapping is stated in `MSAData.label_note` (eval prints it
and writes it into its JSON) so a figure never hides how its labels were read.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from edge_msa.data.batch import MSAData
from edge_msa.data.corpora import VADER_TO_MOSI, hash_split, read_text_file, text_only
from edge_msa.errors import UserError
from edge_msa.features.spec import FeatureSpec

POLARITY_WORDS = {"negative": -1.0, "neg": -1.0, "neutral": 0.0, "neu": 0.0, "positive": 1.0, "pos": 1.0}
# name -> (what it means, its map onto the MOSI scale)
LABEL_SCALES: dict[str, tuple[str, Callable[[np.ndarray], np.ndarray]]] = {
    "mosi": ("-3..3, kept as is", lambda x: x),
    "vader": (f"-4..4 (VADER's raters), x {VADER_TO_MOSI}", lambda x: x * VADER_TO_MOSI),
    "unit": ("-1..1, x 3", lambda x: x * 3.0),
    "stars": ("1..5 stars, (x - 3) x 1.5", lambda x: (x - 3.0) * 1.5),
    "polarity": ("negative/neutral/positive or -1/0/1 -> -1/0/+1 (sign only, as MELD)", lambda x: x),
}
TEXT_COLUMNS = ("text", "sentence", "utterance")
LABEL_COLUMNS = ("label", "score", "sentiment")
SPLIT_NAMES = ("train", "valid", "test")


def infer_scale(values: np.ndarray) -> str:
    """The narrowest named scale that holds every value; words were already read as polarity."""
    lo, hi = float(values.min()), float(values.max())
    integral = bool(np.all(values == np.round(values)))
    if integral and set(np.unique(values)) <= {-1.0, 0.0, 1.0}:
        return "polarity"
    if integral and lo >= 1 and hi <= 5:
        return "stars"
    for name, bound in (("unit", 1.0), ("mosi", 3.0), ("vader", 4.0)):
        if lo >= -bound and hi <= bound:
            return name
    raise UserError(f"labels span {lo:g}..{hi:g}, which fits no known scale; rescale them or name one "
                    f"with --label-scale ({', '.join(LABEL_SCALES)})")


def _column(fields: list[str], names: tuple[str, ...], path: Path, what: str) -> str | None:
    by_lower = {f.strip().lower(): f for f in fields}
    found = next((by_lower[n] for n in names if n in by_lower), None)
    if found is None and what:
        raise UserError(f"{path}: needs a {what} column (one of {', '.join(names)}); found {fields}")
    return found


def _label(raw: str, path: Path, lineno: int) -> tuple[float, bool]:
    """(value, was a polarity word)."""
    word = raw.strip().lower()
    if word in POLARITY_WORDS:
        return POLARITY_WORDS[word], True
    try:
        value = float(word)
    except ValueError:
        raise UserError(f"{path}:{lineno}: label {raw!r} is neither a number nor "
                        f"negative/neutral/positive") from None
    if not np.isfinite(value):
        raise UserError(f"{path}:{lineno}: label {raw!r} is not a finite number")
    return value, False


def read_labelled_text(path: Path, label_scale: str = "auto"
                       ) -> tuple[list[str], np.ndarray, list[str], list[str] | None, str]:
    """(ids, labels on the MOSI scale, texts, splits or None, how the labels were mapped)."""
    if label_scale != "auto" and label_scale not in LABEL_SCALES:
        raise UserError(f"unknown --label-scale {label_scale!r}; expected auto or one of "
                        f"{', '.join(LABEL_SCALES)}")
    content = read_text_file(path)
    first = content.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first else ";" if first.count(";") > first.count(",") else ","
    rows = csv.DictReader(io.StringIO(content, newline=""), delimiter=delimiter)
    fields = list(rows.fieldnames or ())
    text_col = _column(fields, TEXT_COLUMNS, path, "text")
    label_col = _column(fields, LABEL_COLUMNS, path, "label")
    id_col, split_col = _column(fields, ("id",), path, ""), _column(fields, ("split",), path, "")
    ids, values, words, texts, splits = [], [], [], [], []
    for lineno, row in enumerate(rows, 2):
        if row.get(text_col) is None or row.get(label_col) is None:
            raise UserError(f"{path}:{lineno}: the row has fewer columns than the header")
        value, is_word = _label(row[label_col], path, lineno)
        values.append(value)
        words.append(is_word)
        texts.append(row[text_col].strip())
        ids.append(f"{path.stem}/{row[id_col].strip() if id_col else lineno}")
        if split_col:
            split = row[split_col].strip().lower()
            if split not in SPLIT_NAMES:
                raise UserError(f"{path}:{lineno}: split {row[split_col]!r} is not one of "
                                f"{', '.join(SPLIT_NAMES)}")
            splits.append(split)
    if not ids:
        raise UserError(f"{path}: no rows under the header")
    values_arr = np.asarray(values, np.float64)
    if any(words) and not all(words) and label_scale not in ("auto", "polarity"):
        raise UserError(f"{path}: labels mix words and numbers; only the polarity scale reads both")
    scale = "polarity" if any(words) and label_scale == "auto" else label_scale
    inferred = scale == "auto"
    scale = infer_scale(values_arr) if inferred else scale
    meaning, to_mosi = LABEL_SCALES[scale]
    note = f"labels: {scale} scale ({meaning}) onto the MOSI scale -3..3{', inferred' if inferred else ''}"
    return ids, to_mosi(values_arr).astype(np.float32), texts, (splits if split_col else None), note


def load_labelled_text(path: str | Path, spec: FeatureSpec, label_scale: str = "auto",
                       seed: int = 0) -> dict[str, MSAData]:
    """A user's `text,label` file as train/valid/test (its `split` column, else hashed ids)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"dataset 'text' reads one CSV/TSV file with text and label columns; "
                        f"{path} is not a file")
    ids, labels, texts, splits, note = read_labelled_text(path, label_scale)
    data = replace(text_only(ids, labels, texts, spec), label_note=note)
    if splits is None:
        return {name: data.subset(idx) for name, idx in hash_split(ids, seed).items()}
    split_arr = np.asarray(splits)
    return {name: data.subset(np.flatnonzero(split_arr == name)) for name in SPLIT_NAMES
            if np.any(split_arr == name)}
