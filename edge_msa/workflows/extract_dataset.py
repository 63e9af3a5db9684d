"""`edge-msa data extract`: labelled recordings -> a dataset folder in the live FeatureSpec.

Each media file is one job (`extract_media.extract_job`, the runtime's own perception), run serially,
in processes or on Ray (`jobs.run_files`); the folder's layout and its reader are
`edge_msa.data.media_dataset`.
"""

from __future__ import annotations

import io
import json
import os
from collections import Counter
from pathlib import Path

import numpy as np

from edge_msa.csv_files import write_csv
from edge_msa.data.media_dataset import FEATURES, FORMAT, META, REPORT
from edge_msa.data.media_sources import (
    SPLITS,
    Clip,
    assign_splits,
    duplicate_rows,
    emotion_of,
    label_values,
    valence_table,
)
from edge_msa.errors import UserError
from edge_msa.features.spec import LIVE
from edge_msa.workflows.extract_media import FileJob, extract_job
from edge_msa.workflows.jobs import run_files


def jobs_of(clips: list[Clip], cache_dir: str | Path | None, asr: bool | str = True,
            config: str | None = None) -> list[FileJob]:
    """One job per media file, holding all of its segments (its video is decoded once)."""
    by_path: dict[str, FileJob] = {}
    for c in clips:
        job = by_path.setdefault(c.path, FileJob(c.path, [], [], str(cache_dir) if cache_dir else None, asr,
                                                 config))
        job.segments.append(c.segment)
        job.texts.append(c.text)
    return list(by_path.values())


def extract_dataset(clips: list[Clip], out: str | Path, *, source: str, cache_dir: str | Path | None,
                    workers: int = 1, engine: str = "local", asr: bool | str = True,
                    config: str | None = None, progress: bool = True) -> dict:
    """Extract every clip, write the dataset folder `out`; returns dataset.json's content."""
    clips, repeats = duplicate_rows(clips)
    clips, split_by = assign_splits(clips)
    named = sorted({c.scale for c in clips} - {""})
    values, scale, label_kind = label_values([c.label for c in clips], named[0] if named else None)
    jobs = run_files(extract_job, jobs_of(clips, cache_dir, asr, config), workers=workers, engine=engine,
                     what="extracting", progress=progress)
    results = {}
    for job in jobs:
        for (segment, result) in zip(job.segments, job.results, strict=False):
            results[(job.path, segment)] = result
    file_errors = {job.path: job.error for job in jobs if job.error}
    rows, bad = [], list(repeats)
    for clip, value in zip(clips, values, strict=True):
        result = results.get((clip.path, clip.segment))
        reason = file_errors.get(clip.path) or (result.error if result else "not extracted")
        if not reason and value is None:
            reason = f"emotion {emotion_of(clip.label)!r} has no valence in valence.yaml"
        if reason:
            bad.append((clip, reason))
        else:
            rows.append((clip, value, result))
    bad.sort(key=lambda b: b[0].line)  # the report in manifest order
    if not rows:
        raise UserError(f"no usable rows: all {len(bad)} were bad (first: {bad[0][1]})")
    meta = {
        "format": FORMAT, "spec": LIVE.to_dict(), "source": source, "scale": scale, "labels": label_kind,
        "valence": valence_table(), "rows": len(rows), "bad_rows": len(bad),
        "splits": dict(Counter(c.split for c, _, _ in rows)), "split_by": split_by,
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
    write_csv(out / REPORT, ["path", "start_s", "end_s", "reason"],
              [[c.path, c.start_s, "" if c.end_s is None else c.end_s, reason] for c, reason in bad])
    _atomic(out / META, (json.dumps(meta, indent=2) + "\n").encode())


def _atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
