"""`edge-msa export`: a trained run -> a bundle for a device, checked against the eager model.

    edge-msa export runs/lnln --recipe android-xnnpack-int8 --out bundles/lnln-int8
    edge-msa export runs/lnln --recipe jetson-trt-int8 --out bundles/lnln-trt --target jetson-orin

Parity runs on a held-out slice of the run's validation split (`--dataset/--data` name other real
data); the export fails, writing nothing, when it is outside the recipe's tolerance.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from edge_msa.cli.train_cmd import DATA_HELP, DATASET_HELP, check_data_path
from edge_msa.outputs import check_outputs


def _summary(manifest, out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"{out} ({manifest.name}: {manifest.format} {manifest.precision})")
    table.add_column("file")
    table.add_column("role")
    table.add_column("size", justify="right")
    for rel, info in manifest.files.items():
        if info.role != "tokenizer":
            table.add_row(rel, info.role, f"{info.bytes / 1e6:.2f} MB")
    console.print(table)
    p = manifest.parity
    if "mae_delta" in p:
        console.print(f"parity ({p['backend']}, {p['samples']} real samples): MAE change "
                      f"{p['mae_delta']:+.4f}, {p['acc2_key']} drop {p['acc2_drop_points']:.2f} points, "
                      f"max |diff| {p['max_abs_diff_score']:.3g}")
    else:
        console.print(f"parity ({p['backend']}, {p['samples']} real samples): max |diff| score "
                      f"{p['max_abs_diff_score']:.3g}, uncertainty {p['max_abs_diff_uncertainty']:.3g}")
    if manifest.delegation:
        d = manifest.delegation
        console.print(f"XNNPACK: {d['delegated_ops']} ops delegated in {d['delegated_subgraphs']} subgraphs, "
                      f"{d['non_delegated_ops']} left to portable kernels")
    if manifest.tensorrt:
        lint = manifest.tensorrt["lint"]
        verdict = "ok" if lint["ok"] else f"{len(lint['errors'])} problem(s), e.g. {lint['errors'][0]}"
        console.print(f"TensorRT 10.3 lint: {verdict}")


def export(
    run: Annotated[Path, typer.Argument(help="Run folder written by `edge-msa train` or `distill`.")],
    recipe: Annotated[str, typer.Option("--recipe", help="Export recipe: a name in export/ "
                                                         "(android-xnnpack-int8, jetson-trt-fp16, ...) "
                                                         "or a YAML path.")],
    out: Annotated[Path, typer.Option("--out", help="Bundle folder to write.")],
    target: Annotated[str | None, typer.Option("--target", help="Device target recorded in the manifest; "
                                               "jetson-* also checks the ONNX for TensorRT and writes "
                                               "build_engine.sh.")] = None,
    dataset: Annotated[str | None, typer.Option("--dataset", help="Real data for parity and calibration "
                                                "instead of the run's own. " + DATASET_HELP)] = None,
    data: Annotated[Path | None, typer.Option("--data", help=DATA_HELP)] = None,
    calibration: Annotated[Path | None, typer.Option("--calibration", help="Calibration set (.npz from "
                                                     "`edge-msa calibrate`) instead of the recipe's.")
                           ] = None,
    trust_pickle: Annotated[bool, typer.Option("--trust-pickle", help="Allow loading an MMSA .pkl (a pickle "
                                               "runs code when loaded).")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace OUT (and --json) if it exists.")] = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the manifest here.")] = None,
) -> None:
    """Export a run with a recipe into a verified bundle (model file, manifest, tokenizer)."""
    check_data_path(data)
    check_outputs({"--json": json_out}, folders={"--out": out}, force=force,
                  inputs={"RUN": run, "--recipe": Path(recipe), "--data": data, "--calibration": calibration})
    from edge_msa.workflows.export_run import (
        export_run,  # after the checks: it imports torch and the exporters
    )

    manifest = export_run(run, recipe, out, dataset=dataset, data=str(data) if data else None,
                          calibration=calibration, target=target, force=force, trust_pickle=trust_pickle)
    _summary(manifest, out)
    if json_out is not None:
        json_out.write_text(json.dumps(manifest.model_dump(), indent=2) + "\n")


def register(app: typer.Typer) -> None:
    app.command("export")(export)
