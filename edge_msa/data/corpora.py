"""Human-rated text corpora (VADER ground truth, MELD transcripts) as text-only MSAData.

Both are read from files a user points at (default `../shared/data`); nothing is copied or
downloaded. Text is tokenized for the spec's token kind (one batched call); audio and vision are
absent: one zero frame per sample with mask 0, as the MSAData contract says.

Labels on the MOSI scale (-3..3):
- VADER: the mean human rating (about -4..4) times 0.75.
- MELD: `Sentiment` negative/neutral/positive -> -1/0/+1. MELD rates polarity, not strength, so
  these are weak labels: the sign is meaningful, the magnitude is not comparable to VADER's.

Splits:
- VADER has none: each sentence goes to train/valid/test (80/10/10 in expectation) by a hash of
  `seed` and its id (sha256), so the split is the same on every machine and numpy version and
  does not move when another corpus is added. Ids are prefixed by the corpus ("movie/17").
- MELD: `train_sent_emo.csv` -> train, `dev_sent_emo.csv` -> valid. MELD's test set is not in
  the data folder (held out on purpose), so there is no "test" split.
"""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path

import numpy as np

from edge_msa.data.batch import MSAData
from edge_msa.errors import UserError
from edge_msa.features.spec import FeatureSpec
from edge_msa.features.text import tokenize

VADER_FOLDER = "vader_icwsm2014"
VADER_FILES = {"movie": "movieReviewSnippets_GroundTruth.txt",
               "amazon": "amazonReviewSnippets_GroundTruth.txt"}
VADER_CORPORA = {"both": ("movie", "amazon"), "movie": ("movie",), "amazon": ("amazon",)}
VADER_TO_MOSI = 0.75
VADER_NOTE = f"labels: VADER's -4..4 ratings x {VADER_TO_MOSI} onto the MOSI scale -3..3"
MELD_FOLDER = "meld"
MELD_FILES = {"train": "train_sent_emo.csv", "valid": "dev_sent_emo.csv"}
MELD_SENTIMENT = {"negative": -1.0, "neutral": 0.0, "positive": 1.0}
SPLIT_FRACTIONS = (("train", 0.8), ("valid", 0.1), ("test", 0.1))


def read_text_file(path: Path) -> str:
    """UTF-8 (with or without BOM); files saved by Windows tools fall back to cp1252."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def fix_mojibake(s: str) -> str:
    """Undo UTF-8 text that was decoded as cp1252 once ("donâ€™t" -> "don’t"), as in some MELD copies."""
    if "â€" not in s and "Ã" not in s:
        return s
    try:
        return s.encode("cp1252").decode("utf-8")
    except UnicodeError:
        return s


def find_file(path: str | Path, folder: str, name: str) -> Path:
    """`name` given itself, or inside `path`, or inside `path/folder`."""
    path = Path(path)
    for candidate in (path, path / name, path / folder / name):
        if candidate.is_file() and candidate.name == name:
            return candidate
    raise UserError(f"cannot find {name} at {path} (looked in {path}/ and {path / folder}/)")


def text_only(ids: list[str], labels: np.ndarray, texts: list[str], spec: FeatureSpec) -> MSAData:
    """Tokenized text with absent audio/vision (one zero frame, mask 0)."""
    if not spec.text.is_tokens:
        raise UserError(f"text corpora hold sentences, not features: spec {spec.name!r} has text kind "
                        f"{spec.text.kind!r}; use a tokens:* spec")
    n = len(texts)
    ids_arr, mask = tokenize(texts, spec.text.max_len)
    absent = {m: np.zeros((n, 1, spec.modality(m).dim), np.float32) for m in ("audio", "vision")}
    return MSAData(text=ids_arr, text_mask=mask, **absent,
                   audio_mask=np.zeros((n, 1), np.float32), vision_mask=np.zeros((n, 1), np.float32),
                   labels=np.asarray(labels, np.float32), ids=list(ids), raw_text=list(texts), scale="mosi")


def hash_split(ids: list[str], seed: int = 0) -> dict[str, np.ndarray]:
    """Row indices per split, from sha256(seed:id): stable everywhere, independent of row order."""
    u = np.array([int.from_bytes(hashlib.sha256(f"{seed}:{i}".encode()).digest()[:8], "big") / 2.0**64
                  for i in ids])
    bucket = np.searchsorted(np.cumsum([f for _, f in SPLIT_FRACTIONS])[:-1], u, side="right")
    return {name: np.flatnonzero(bucket == k) for k, (name, _) in enumerate(SPLIT_FRACTIONS)}


def read_vader(path: Path, prefix: str) -> tuple[list[str], np.ndarray, list[str]]:
    """(ids, VADER-scale scores, sentences) from one `id<TAB>score<TAB>sentence` file."""
    ids, scores, texts = [], [], []
    for lineno, line in enumerate(read_text_file(path).splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("\t", 2)
        try:
            score = float(parts[1])
        except (IndexError, ValueError):
            raise UserError(f"{path}:{lineno}: expected 'id<TAB>score<TAB>sentence'") from None
        ids.append(f"{prefix}/{parts[0]}")
        scores.append(score)
        texts.append(parts[2].strip() if len(parts) > 2 else "")
    if not ids:
        raise UserError(f"{path}: no rows")
    return ids, np.asarray(scores, np.float32), texts


def load_vader(path: str | Path, spec: FeatureSpec, corpus: str = "both",
               seed: int = 0) -> dict[str, MSAData]:
    """VADER ground truth on the MOSI scale, hashed into train/valid/test.

    corpus: "movie", "amazon" or "both"; `path` is the data folder, `vader_icwsm2014/`, or one
    file, which is then read alone: one of VADER's two (which must match a corpus other than
    "both"), or any other file in their `id<TAB>score<TAB>sentence` format (a user's own sentences,
    rated on VADER's -4..4 scale; ids are prefixed by the file's name).
    """
    if corpus not in VADER_CORPORA:
        raise UserError(f"unknown VADER corpus {corpus!r}; expected one of {sorted(VADER_CORPORA)}")
    path = Path(path)
    if path.is_file():
        by_name = {v: k for k, v in VADER_FILES.items()}
        own = by_name.get(path.name, path.stem)
        if corpus != "both" and own != corpus:
            what = f"the {own} corpus" if path.name in by_name else f"not VADER's {corpus} file"
            raise UserError(f"{path} is {what}; use --dataset vader for any file in VADER's format")
        files = {own: path}
    else:
        files = {c: find_file(path, VADER_FOLDER, VADER_FILES[c]) for c in VADER_CORPORA[corpus]}
    ids, scores, texts = [], [], []
    for prefix, file in files.items():
        i, s, t = read_vader(file, prefix)
        ids += i
        scores.append(s)
        texts += t
    data = text_only(ids, np.concatenate(scores) * VADER_TO_MOSI, texts, spec)
    data.label_note = VADER_NOTE
    return {name: data.subset(idx) for name, idx in hash_split(ids, seed).items()}


def read_meld(path: Path, split: str) -> tuple[list[str], np.ndarray, list[str]]:
    """(ids, labels on the MOSI scale, utterances) from one MELD `*_sent_emo.csv`."""
    rows = csv.DictReader(io.StringIO(read_text_file(path), newline=""))
    need = {"Utterance", "Sentiment", "Dialogue_ID", "Utterance_ID"}
    if not need <= set(rows.fieldnames or ()):
        raise UserError(f"{path}: MELD csv needs columns {sorted(need)}; found {rows.fieldnames}")
    ids, labels, texts = [], [], []
    for lineno, row in enumerate(rows, 2):
        sentiment = (row["Sentiment"] or "").strip().lower()
        if sentiment not in MELD_SENTIMENT:
            raise UserError(f"{path}:{lineno}: unknown Sentiment {row['Sentiment']!r}")
        ids.append(f"meld-{split}/dia{row['Dialogue_ID']}_utt{row['Utterance_ID']}")
        labels.append(MELD_SENTIMENT[sentiment])
        texts.append(fix_mojibake(row["Utterance"].strip()))
    if not ids:
        raise UserError(f"{path}: no rows")
    return ids, np.asarray(labels, np.float32), texts


def load_meld(path: str | Path, spec: FeatureSpec) -> dict[str, MSAData]:
    """MELD train -> "train", dev -> "valid"; `path` is the data folder, `meld/` or one of its csv files."""
    path = Path(path)
    folder = path.parent if path.is_file() else path
    files = {split: find_file(folder, MELD_FOLDER, name) for split, name in MELD_FILES.items()}
    out = {split: text_only(*read_meld(file, split), spec) for split, file in files.items()}
    for data in out.values():
        data.label_note = "labels: MELD's Sentiment negative/neutral/positive -> -1/0/+1 (sign only)"
    return out
