"""Score an archive: the `edge-msa run --fast` pipeline over many files, one row per event.

Each file runs through the same `build_sensors` / `build_pipeline` as `edge-msa run --video FILE
--fast` (VAD, pocketsphinx, face model, the bundle's fused score and per-modality evidence); the
bundle is opened once per worker process. A file that cannot be read, or that gives no event (no
speech and no face), is a bad file with a reason, never the end of the job.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from edge_msa.data.media_sources import Clip
from edge_msa.errors import UserError
from edge_msa.features.spec import MODALITIES

COLUMNS = ("file", "index", "kind", "start_s", "end_s", "score", "label", "uncertainty", "transcript",
           *(f"{m}_score" for m in MODALITIES), "masked", "true_label")


@dataclass
class ScoreJob:
    path: str
    bundle: str | None
    backend: str | None
    segments: list[tuple[float, float | None, str]] = field(default_factory=list)  # (start, end, label)
    rows: list[dict] = field(default_factory=list)
    error: str = ""
    media_s: float = 0.0
    wall_s: float = 0.0


@cache
def bundle_once(bundle: str | None, backend: str | None):
    """(backend, spec, scale) of a bundle, opened once per process."""
    from edge_msa.runtime.launch import open_bundle

    return open_bundle(bundle, backend)


class _Collector:
    """A sink that keeps the events."""

    def __init__(self) -> None:
        self.events = []

    def emit(self, event) -> None:
        self.events.append(event)

    def close(self) -> None:
        pass


def score_job(job: ScoreJob) -> ScoreJob:
    """Run one file through the pipeline; fill `job.rows` or `job.error`."""
    from edge_msa.runtime.config import RuntimeConfig
    from edge_msa.runtime.launch import build_pipeline, build_sensors

    path = Path(job.path)
    if not path.is_file():
        job.error = "missing file" if not path.exists() else "not a file"
        return job
    config = RuntimeConfig().with_overrides(**{"sinks.console": "off"})
    try:
        sensors = build_sensors(config, video=path, fast=True)
    except UserError as e:
        job.error = str(e).replace(str(path), path.name)
        return job
    runner, spec, scale = bundle_once(job.bundle, job.backend)
    collector = _Collector()
    summary = build_pipeline(config, sensors, runner, spec, scale, fast=True, sinks=[collector]).run()
    job.media_s, job.wall_s = summary.media_s, summary.wall_s
    if not collector.events:
        trouble = [f"{k}: {h['error']}" for k, h in summary.health.items() if h["error"]]
        job.error = "no event (no speech and no face found)" + (f"; {'; '.join(trouble)}" if trouble else "")
        return job
    job.rows = [_row(job, e) for e in collector.events]
    return job


def _row(job: ScoreJob, e) -> dict:
    overlap = [(min(e.end, end if end is not None else e.end) - max(e.start, start), label)
               for start, end, label in job.segments]
    best = max(overlap, default=(0.0, ""))
    return {"file": job.path, "index": e.index, "kind": e.kind, "start_s": e.start, "end_s": e.end,
            "score": round(e.score, 4), "label": e.label, "uncertainty": round(e.uncertainty, 4),
            "transcript": e.transcript,
            **{f"{m}_score": (round(e.evidence[m].score, 4) if m in e.evidence and e.evidence[m].present
                              else None) for m in MODALITIES},
            "masked": "; ".join(f"{m}: {why}" for m, why in e.masked.items()),
            "true_label": best[1] if best[0] > 0 else ""}


def jobs_of(clips: list[Clip], bundle: str | None, backend: str | None) -> list[ScoreJob]:
    """One job per file; a manifest's labelled segments label the events that overlap them."""
    jobs: dict[str, ScoreJob] = {}
    for c in clips:
        job = jobs.setdefault(c.path, ScoreJob(c.path, bundle, backend))
        if c.label:
            job.segments.append((c.start_s, c.end_s, c.label))
    return list(jobs.values())


def write_rows(out: Path, rows: list[dict]) -> None:
    """CSV (by the .csv suffix) or JSON lines, written to a temporary name and renamed."""
    if out.suffix.lower() == ".csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        text = buffer.getvalue()
    else:
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, out)


def write_report(out: Path, bad: list[ScoreJob]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["path", "reason"])
    writer.writerows([job.path, job.error] for job in bad)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(buffer.getvalue(), encoding="utf-8")
    os.replace(tmp, out)
