"""A dataset extracted from labelled recordings in the live FeatureSpec (`edge-msa data extract`).

Folder layout (written by `edge_msa.workflows.extract_dataset`, read by `load_media`, dataset name
"media"):
- `features.npz` (no pickles): audio [N, 300, 42], audio_mask, vision [N, 60, 62], vision_mask,
  labels [N] and string arrays ids, paths, texts, text_sources, speakers, splits, emotions.
- `dataset.json`: format, the FeatureSpec, label scale and what the labels were, the valence
  table used, rows per split and per transcript source, the source (manifest or corpus), bad rows.
- `report.csv`: every row left out (path, start_s, end_s, reason).
Each file is written to a temporary name and renamed, `dataset.json` last: a folder without it
is no dataset. Text is stored as transcripts and tokenized when loaded, exactly as the runtime's
fusion step tokenizes a transcript (none: the text is masked).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edge_msa.data.batch import MSAData
from edge_msa.data.media_sources import SPLITS
from edge_msa.errors import UserError
from edge_msa.features.spec import FeatureSpec

FORMAT = "edge-msa/media-dataset/1"
FEATURES, META, REPORT = "features.npz", "dataset.json", "report.csv"
STRINGS = ("ids", "paths", "texts", "text_sources", "speakers", "splits", "emotions")


def read_meta(folder: str | Path) -> dict:
    folder = Path(folder)
    meta = folder / META
    if not meta.is_file():
        raise UserError(f"{folder} is not a dataset written by `edge-msa data extract` (no {META})")
    try:
        info = json.loads(meta.read_text())
    except json.JSONDecodeError as e:
        raise UserError(f"{meta} is not valid JSON ({e})") from None
    if info.get("format") != FORMAT:
        raise UserError(f"{meta}: format {info.get('format')!r}, expected {FORMAT!r}")
    return info


def load_media(folder: str | Path, spec: FeatureSpec) -> dict[str, MSAData]:
    """The splits present in an extracted dataset, text tokenized for `spec` (a live spec)."""
    from edge_msa.features.spec import check_live_spec

    info = read_meta(folder)
    check_live_spec(spec)
    with np.load(Path(folder) / FEATURES, allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}
    if len(data["labels"]) != info["rows"]:
        raise UserError(f"{folder}: {FEATURES} holds {len(data['labels'])} rows, {META} says {info['rows']}")
    if not np.isfinite(data["labels"]).all():  # extract writes finite labels only: the file was edited
        raise UserError(f"{folder}: {FEATURES} holds labels that are not finite numbers")
    ids, mask = _tokens([str(t) for t in data["texts"]], spec.text.max_len)
    split_of = data["splits"]
    out = {}
    for split in SPLITS:
        index = np.nonzero(split_of == split)[0]
        if len(index):
            out[split] = MSAData(
                text=ids[index], text_mask=mask[index], audio=data["audio"][index],
                audio_mask=data["audio_mask"][index], vision=data["vision"][index],
                vision_mask=data["vision_mask"][index], labels=data["labels"][index],
                ids=[str(data["ids"][i]) for i in index], raw_text=[str(data["texts"][i]) for i in index],
                scale=info["scale"])
    return out


def _tokens(texts: list[str], max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and mask per transcript; an empty one is all padding with mask 0 (text absent)."""
    from edge_msa.features.text import PAD_ID, tokenize

    ids = np.full((len(texts), max_len), PAD_ID, np.int64)
    mask = np.zeros((len(texts), max_len), np.float32)
    said = [i for i, t in enumerate(texts) if t]
    if said:
        ids[said], mask[said] = tokenize([texts[i] for i in said], max_len)
    return ids, mask
