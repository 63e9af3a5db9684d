"""A dataset extracted from labelled recordings in the live FeatureSpec (`edge-msa data extract`).

Folder layout (written by `extract_dataset`, read by `load_media`, dataset name "media"):
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

import csv
import io
import json
import os
from collections import Counter
from pathlib import Path

import numpy as np

from edge_msa.data.batch import MSAData
from edge_msa.data.media_extract import FileJob, extract_job
from edge_msa.data.media_jobs import run_files
from edge_msa.data.media_sources import SPLITS, Clip, assign_splits, emotion_of, label_values, valence_table
from edge_msa.errors import UserError
from edge_msa.features.spec import LIVE, FeatureSpec

FORMAT = "edge-msa/media-dataset/1"
FEATURES, META, REPORT = "features.npz", "dataset.json", "report.csv"
STRINGS = ("ids", "paths", "texts", "text_sources", "speakers", "splits", "emotions")


def jobs_of(clips: list[Clip], cache_dir: str | Path | None, asr: bool = True) -> list[FileJob]:
    """One job per media file, holding all of its segments (its video is decoded once)."""
    by_path: dict[str, FileJob] = {}
    for c in clips:
        job = by_path.setdefault(c.path, FileJob(c.path, [], [], str(cache_dir) if cache_dir else None, asr))
        job.segments.append(c.segment)
        job.texts.append(c.text)
    return list(by_path.values())


def extract_dataset(clips: list[Clip], out: str | Path, *, source: str, cache_dir: str | Path | None,
                    workers: int = 1, engine: str = "local", asr: bool = True, progress: bool = True) -> dict:
    """Extract every clip, write the dataset folder `out`; returns dataset.json's content."""
    clips = assign_splits(clips)
    values, scale, label_kind = label_values([c.label for c in clips])
    jobs = run_files(extract_job, jobs_of(clips, cache_dir, asr), workers=workers, engine=engine,
                     what="extracting", progress=progress)
    results = {}
    for job in jobs:
        for (segment, result) in zip(job.segments, job.results, strict=False):
            results[(job.path, segment)] = result
    file_errors = {job.path: job.error for job in jobs if job.error}
    rows, bad = [], []
    for clip, value in zip(clips, values, strict=True):
        result = results.get((clip.path, clip.segment))
        reason = file_errors.get(clip.path) or (result.error if result else "not extracted")
        if not reason and value is None:
            reason = f"emotion {emotion_of(clip.label)!r} has no valence in valence.yaml"
        if reason:
            bad.append((clip, reason))
        else:
            rows.append((clip, value, result))
    if not rows:
        raise UserError(f"no usable rows: all {len(clips)} were bad (first: {bad[0][1]})")
    meta = {
        "format": FORMAT, "spec": LIVE.to_dict(), "source": source, "scale": scale, "labels": label_kind,
        "valence": valence_table(), "rows": len(rows), "bad_rows": len(bad),
        "splits": dict(Counter(c.split for c, _, _ in rows)),
        "speakers": {s: sorted({c.speaker for c, _, _ in rows if c.split == s}) for s in SPLITS},
        "text_sources": dict(Counter(r.text_source for _, _, r in rows)),
        "media_s": round(sum(job.media_s for job in jobs), 3),
        "files": len(jobs), "files_from_cache": sum(job.cached for job in jobs),
    }
    _write(Path(out), rows, bad, meta)
    return meta


def _write(out: Path, rows: list, bad: list, meta: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    arrays = {k: np.stack([getattr(r, k) for _, _, r in rows]) for k in ("audio", "audio_mask", "vision",
                                                                         "vision_mask")}
    strings = {
        "ids": [f"{Path(c.path).stem}@{c.start_s:g}" for c, _, _ in rows],
        "paths": [c.path for c, _, _ in rows],
        "texts": [r.text for _, _, r in rows], "text_sources": [r.text_source for _, _, r in rows],
        "speakers": [c.speaker for c, _, _ in rows], "splits": [c.split for c, _, _ in rows],
        "emotions": [emotion_of(c.label) or "" for c, _, _ in rows]}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays, labels=np.array([v for _, v, _ in rows], np.float32),
             **{k: np.array(v, dtype=str) for k, v in strings.items()})
    _atomic(out / FEATURES, buffer.getvalue())
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["path", "start_s", "end_s", "reason"])
    writer.writerows([c.path, c.start_s, "" if c.end_s is None else c.end_s, reason] for c, reason in bad)
    _atomic(out / REPORT, text.getvalue().encode())
    _atomic(out / META, (json.dumps(meta, indent=2) + "\n").encode())


def _atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


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
    from edge_msa.runtime.scheduler import check_live_spec

    info = read_meta(folder)
    check_live_spec(spec)
    with np.load(Path(folder) / FEATURES, allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}
    if len(data["labels"]) != info["rows"]:
        raise UserError(f"{folder}: {FEATURES} holds {len(data['labels'])} rows, {META} says {info['rows']}")
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
