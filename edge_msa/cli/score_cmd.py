"""`edge-msa score FOLDER_OR_MANIFEST --out results.csv|jsonl`: the `run --fast` path over many files.

    edge-msa score recordings/ --out results.csv --workers 2
    edge-msa score manifest.csv --out results.jsonl --engine ray

One row per event (file, times, fused score and label, per-modality evidence, transcript, and the
manifest's label where a labelled segment overlaps the event); files that give no row are listed
with the reason in the report (default: OUT with `.bad.csv` in place of its suffix).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edge_msa.cli.data_cmd import ENGINE_HELP, WORKERS_HELP
from edge_msa.cli.run_cmd import BACKEND_HELP, BUNDLE_HELP
from edge_msa.errors import UserError
from edge_msa.outputs import check_outputs

SUFFIXES = (".csv", ".jsonl")


def score(
    source: Annotated[Path, typer.Argument(help="Folder of recordings (searched recursively) or a manifest "
                                                "(.csv/.jsonl with a path column; labels optional).")],
    out: Annotated[Path, typer.Option("--out", help="Results file: .csv or .jsonl.")],
    report: Annotated[Path | None, typer.Option("--report", help="Bad files and why (CSV; default: OUT with "
                                                "the suffix .bad.csv).")] = None,
    bundle: Annotated[Path | None, typer.Option("--bundle", help=BUNDLE_HELP)] = None,
    backend: Annotated[str | None, typer.Option("--backend", help=BACKEND_HELP)] = None,
    workers: Annotated[int, typer.Option("--workers", help=WORKERS_HELP)] = 1,
    engine: Annotated[str, typer.Option("--engine", help=ENGINE_HELP)] = "local",
    force: Annotated[bool, typer.Option("--force", help="Replace OUT and the report if they exist.")] = False,
) -> None:
    """Score every recording of a folder or manifest with the live pipeline (as fast as possible)."""
    from edge_msa.data.media_sources import duplicate_rows, media_in_folder, read_manifest
    from edge_msa.workflows.jobs import check_engine, run_files
    from edge_msa.workflows.score_archive import (
        bad_rows,
        bundle_once,
        jobs_of,
        score_job,
        write_report,
        write_rows,
    )

    check_engine(engine, workers)
    if out.suffix.lower() not in SUFFIXES:
        raise UserError(f"--out {out}: must end in .csv or .jsonl")
    if not source.exists():
        raise UserError(f"no such folder or manifest: {source}")
    report = report or out.with_name(f"{out.stem}.bad.csv")
    clips = media_in_folder(source) if source.is_dir() else read_manifest(source, need_labels=False)
    # every listed recording is an input: neither output may replace one (a folder SOURCE is read
    # only for its media files, so results may go beside them)
    check_outputs({"--out": out, "--report": report}, force=force,
                  inputs={"SOURCE": None if source.is_dir() else source, "--bundle": bundle,
                          "listed media": [c.path for c in clips]})
    clips, repeats = duplicate_rows(clips)
    jobs = jobs_of(clips, str(bundle) if bundle else None, backend)
    bundle_once(str(bundle) if bundle else None, backend)  # a bad bundle: one error before any work
    done = run_files(score_job, jobs, workers=workers, engine=engine, what="scoring")
    rows = [row for job in done for row in job.rows]
    bad = bad_rows(done) + [(c.path, f"line {c.line}: {why}") for c, why in repeats]
    write_rows(out, rows)
    write_report(report, bad)
    media_s = sum(job.media_s for job in done)
    failed = sum(1 for job in done if job.error)
    typer.echo(f"wrote {out}: {len(rows)} events from {len(done) - failed} files ({media_s:.1f} s of "
               f"media); {failed} bad files and {len(bad) - failed} manifest rows left out, in {report}")


def register(app: typer.Typer) -> None:
    app.command("score")(score)
