"""Score an archive: the `edge-msa run --fast` pipeline over many files, one row per event.

Each file runs through the same `build_sensors` / `build_pipeline` as `edge-msa run --video FILE
--fast` (VAD, speech recognition, face model, the bundle's fused score and per-modality evidence); the
bundle is opened once per worker process. A file that cannot be read, or that gives no event (no
speech and no face), is a bad file with a reason, never the end of the job.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from edge_msa.csv_files import write_csv
from edge_msa.data.media_sources import Clip
from edge_msa.errors import UserError
from edge_msa.features.media import file_problem, span_problem
from edge_msa.runtime.events import EVENT_MODALITIES

COLUMNS = ("file", "index", "kind", "start_s", "end_s", "score", "label", "uncertainty", "transcript",
           *(f"{m}_score" for m in EVENT_MODALITIES), "masked", "true_label")
# the per-modality columns use the events' names (text, voice, face); releases before 2026-12 wrote
# audio_score and vision_score


@dataclass
class ScoreJob:
    path: str
    bundle: str | None
    backend: str | None
    rows_of: list[Clip] = field(default_factory=list)  # the manifest rows naming this file
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
    job.error = file_problem(path)
    if job.error:
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
    overlap = [(min(e.end, c.end_s if c.end_s is not None else e.end) - max(e.start, c.start_s), c.label)
               for c in job.rows_of if c.label]
    best = max(overlap, default=(0.0, ""))
    return {"file": job.path, "index": e.index, "kind": e.kind, "start_s": e.start, "end_s": e.end,
            "score": round(e.score, 4), "label": e.label, "uncertainty": round(e.uncertainty, 4),
            "transcript": e.transcript,
            **{f"{m}_score": (round(e.evidence[m].score, 4) if m in e.evidence and e.evidence[m].present
                              else None) for m in EVENT_MODALITIES},
            "masked": "; ".join(f"{m}: {why}" for m, why in e.masked.items()),
            "true_label": best[1] if best[0] > 0 else ""}


def jobs_of(clips: list[Clip], bundle: str | None, backend: str | None) -> list[ScoreJob]:
    """One job per file; a manifest's labelled segments label the events that overlap them."""
    jobs: dict[str, ScoreJob] = {}
    for c in clips:
        jobs.setdefault(c.path, ScoreJob(c.path, bundle, backend)).rows_of.append(c)
    return list(jobs.values())


def bad_rows(done: list[ScoreJob]) -> list[tuple[str, str]]:
    """(path, reason) of every file that gave no row, and of every manifest row of a scored file whose
    segment lies outside the media or overlaps no event (its label would silently label nothing)."""
    bad = []
    for job in done:
        if job.error:
            bad.append((job.path, job.error))
            continue
        for c in job.rows_of:
            if c.segment == (0.0, None):
                continue  # the whole file: it gave events
            end = job.media_s if c.end_s is None else c.end_s
            reason = span_problem(c.start_s, end, 0.0, job.media_s)
            if not reason and not any(r["start_s"] < end and r["end_s"] > c.start_s for r in job.rows):
                reason = "no event overlaps the segment"
            if reason:
                bad.append((job.path, f"line {c.line}, {c.start_s:g}-{end:g} s: {reason}"))
    return bad


def write_rows(out: Path, rows: list[dict]) -> None:
    """CSV (by the .csv suffix) or JSON lines, written to a temporary name and renamed."""
    if out.suffix.lower() == ".csv":
        write_csv(out, COLUMNS, rows)
        return
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    os.replace(tmp, out)


def write_report(out: Path, bad: list[tuple[str, str]]) -> None:
    """(path, reason) of every file or manifest row that gave no row."""
    write_csv(out, ["path", "reason"], bad)
