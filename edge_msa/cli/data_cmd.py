"""`edge-msa data convert PKL OUT.npz --trust-pickle`: make an MMSA pickle safe to load.

A pickle runs code when loaded, so reading one needs the user's explicit trust, once; the `.npz`
it becomes loads with `allow_pickle=False` everywhere afterwards (`--dataset mmsa --data OUT.npz`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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


def register(app: typer.Typer) -> None:
    data_app = typer.Typer(help="Dataset tools (convert MMSA pickles to a safe format).",
                           no_args_is_help=True)
    data_app.command("convert")(convert)
    app.add_typer(data_app, name="data")
