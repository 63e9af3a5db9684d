"""`edge-msa data convert PKL OUT.npz --trust-pickle`: make an MMSA pickle safe to load.
`edge-msa data extract MANIFEST_OR_CORPUS --out DATASET`: labelled recordings -> live features.

A pickle runs code when loaded, so reading one needs the user's explicit trust, once; the `.npz`
it becomes loads with `allow_pickle=False` everywhere afterwards (`--dataset mmsa --data OUT.npz`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edge_msa.cache import usable_cache
from edge_msa.errors import UserError
from edge_msa.outputs import check_outputs


def convert(
    pkl: Annotated[Path, typer.Argument(help="MMSA feature pickle (aligned_50.pkl, unaligned_50.pkl, "
                                             "unaligned_39.pkl).")],
    out: Annotated[Path, typer.Argument(help="Output file, must end in .npz.")],
    trust_pickle: Annotated[bool, typer.Option("--trust-pickle", help="Confirm that PKL comes from a source "
                                               "you trust (loading a pickle runs code).")] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite OUT if it exists.")] = False,
) -> None:
    """Convert an MMSA feature pickle into a .npz that loads without running code."""
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from edge_msa.data.mmsa import convert_pickle

    if not pkl.is_file():
        raise UserError(f"no such pickle file: {pkl}")
    check_outputs({"OUT": out}, force=force, inputs={"PKL": pkl})
    if not trust_pickle:
        raise UserError(f"{pkl} is a pickle, which runs code when loaded: add --trust-pickle if it comes "
                        "from a source you trust (for example the MMSA release); the .npz you get is safe")
    console = Console(stderr=True)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        progress.add_task(f"converting {pkl.name}", total=None)
        rows = convert_pickle(pkl, out, trust_pickle=True)
    size_mb = out.stat().st_size / 1e6
    counts = ", ".join(f"{split} {n}" for split, n in rows.items())
    typer.echo(f"wrote {out} ({counts}; {size_mb:.1f} MB)")


WORKERS_HELP = "Worker processes (or Ray CPUs with --engine ray)."
ENGINE_HELP = "local (this machine's processes) or ray (Ray Data; RAY_ADDRESS names a cluster)."
ASR_HELP = ("Rows without a transcript: recognise one with auto, whisper or pocketsphinx (default: the "
            "runtime config's asr.engine; auto: Whisper tiny.en where installed and 2+ cores, as live), "
            "or none.")


def extract(
    source: Annotated[Path, typer.Argument(help="Manifest (.csv with a header, or .jsonl): path,start_s,"
                                                "end_s,label[,text,speaker,split,scale]; or a corpus "
                                                "folder with --corpus.")],
    out: Annotated[Path, typer.Option("--out", help="Dataset folder to write (features.npz, dataset.json, "
                                                    "report.csv).")],
    corpus: Annotated[str | None, typer.Option("--corpus", help="SOURCE is this corpus's folder in its own "
                                               "layout: emodb, crema-d, ravdess, meld, mosi, mosei.")] = None,
    workers: Annotated[int, typer.Option("--workers", help=WORKERS_HELP)] = 1,
    engine: Annotated[str, typer.Option("--engine", help=ENGINE_HELP)] = "local",
    cache: Annotated[Path | None, typer.Option("--cache", help="Per-file feature cache (default: "
                                               "$XDG_CACHE_HOME/edge-msa/media).")] = None,
    asr: Annotated[str | None, typer.Option("--asr", help=ASR_HELP)] = None,
    no_asr: Annotated[bool, typer.Option("--no-asr", help="Same as --asr none.")] = False,
    config: Annotated[Path | None, typer.Option("--config", help="The pipeline config you run live with "
                                                "(file or name, as `run --config`): its face and asr "
                                                "settings apply here too.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace OUT if it is not empty.")] = False,
) -> None:
    """Extract live features (voice, face, transcript) of labelled recordings into a dataset."""
    from edge_msa.data.media_sources import read_corpus, read_manifest
    from edge_msa.runtime.config import find_config
    from edge_msa.workflows.extract_media import asr_engine, runtime_config
    from edge_msa.workflows.jobs import check_engine

    check_engine(engine, workers)
    if no_asr and asr not in (None, "none"):
        raise UserError(f"--no-asr contradicts --asr {asr}: give one of them")
    config_path = str(find_config(config)) if config is not None else None
    runtime_config(config_path)  # a bad file is one line before any work (read once: cached)
    recogniser = asr_engine(False if no_asr else True if asr is None else asr, config_path)
    if not source.exists():
        raise UserError(f"no such manifest or corpus folder: {source}")
    if corpus is None and source.is_dir():
        raise UserError(f"{source} is a folder: name its layout with --corpus, or give a manifest file")
    clips = read_corpus(corpus, source) if corpus is not None else read_manifest(source)
    # the listed recordings are inputs too: --out never holds one, not even with --force
    check_outputs({}, folders={"--out": out}, force=force,
                  inputs={"SOURCE": source, "--cache": cache, "--config": config_path,
                          "listed media": [c.path for c in clips]})
    cache = usable_cache(cache)

    from edge_msa.data.media_dataset import REPORT
    from edge_msa.workflows.extract_dataset import extract_dataset

    meta = extract_dataset(clips, out, source=f"{corpus or 'manifest'}:{source}", cache_dir=cache,
                           workers=workers, engine=engine, asr=recogniser, config=config_path)
    splits = ", ".join(f"{s} {n}" for s, n in sorted(meta["splits"].items()))
    texts = ", ".join(f"{s} {n}" for s, n in sorted(meta["text_sources"].items()))
    typer.echo(f"wrote {out}: {meta['rows']} rows ({splits}; text: {texts}; labels: {meta['labels']}, "
               f"scale {meta['scale']}); {meta['bad_rows']} left out (see {out / REPORT}); "
               f"{meta['files_from_cache']} of {meta['files']} files from the cache")
    if "valid" not in meta["splits"]:
        typer.echo("edge-msa: note: no row is in the 'valid' split, which `edge-msa train` selects on: add a "
                   "split column (train/valid/test), or a speaker column naming two or more speakers, or "
                   "rows from two or more files", err=True)


def register(app: typer.Typer) -> None:
    data_app = typer.Typer(help="Dataset tools (convert MMSA pickles to a safe format; extract live "
                                "features from labelled recordings).", no_args_is_help=True)
    data_app.command("convert")(convert)
    data_app.command("extract")(extract)
    app.add_typer(data_app, name="data")
