"""`edge-msa models`: the registered families and presets, their sizes and the FeatureSpecs they take.

Which specs a model accepts is found by building it for each named FeatureSpec (a builder
refuses a spec it cannot read with a UserError), so the listing never drifts from the code.
Models are built on the meta device: shapes without weights, 4x faster than a real build.
Parameter counts exclude the packaged MiniLM text encoder (22.7M, shared by every token model);
"total" includes it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from edge_msa.errors import UserError
from edge_msa.outputs import check_outputs


def _build_meta(name: str, spec):
    import warnings

    import torch

    from edge_msa.models.registry import create_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "copying ... to a meta parameter is a no-op": pretrained weights
        with torch.device("meta"):
            return create_model(name, spec)


def describe(name: str) -> dict:
    """Family, preset, accepted named specs and parameter counts of one registered model name."""
    from edge_msa.features.spec import LIVE, NAMED_SPECS  # numpy: here, not in `edge-msa --help`
    from edge_msa.models.registry import resolve

    family, _ = resolve(name)
    per_spec = {}
    for spec_name, spec in NAMED_SPECS.items():
        try:
            model = _build_meta(name, spec)
        except UserError:
            continue  # the builder does not read this spec
        per_spec[spec_name] = {"text_kind": spec.text.kind,
                               "params": model.count_parameters(exclude_text_encoder=True),
                               "total_params": model.count_parameters()}
    main = per_spec.get(LIVE.name) or next(iter(per_spec.values()), None)
    return {"model": name, "family": family,
            "preset": name.removeprefix(family).removeprefix("-") or None,
            "accepts": sorted(per_spec), "text_kinds": sorted({v["text_kind"] for v in per_spec.values()}),
            "params": main["params"] if main else None,
            "params_max": max((v["params"] for v in per_spec.values()), default=None),
            "total_params": main["total_params"] if main else None, "per_spec": per_spec}


def _millions(n: int | None) -> str:
    return "-" if n is None else f"{n / 1e6:.2f}M"


def models(
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the listing as JSON.")] = None,
    name: Annotated[str | None, typer.Option("--family", help="Only this family (or one preset).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace the --json file if it exists.")] = False,
) -> None:
    """List registered model families and presets, parameter counts and accepted FeatureSpecs."""
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from edge_msa.models.registry import list_models, resolve

    check_outputs({"--json": json_out}, force=force)
    names = list_models()
    if name is not None:
        family, _ = resolve(name)
        names = [n for n in names if n == name or (name == family and resolve(n)[0] == family)]
    with Progress(transient=True) as bar:
        rows = [describe(n) for n in bar.track(names, description="building models")]
    table = Table(title="Registered models: parameters without the MiniLM text encoder, for the live "
                        "spec (or the first accepted); max over accepted specs; total with the encoder")
    for col in ("model", "params", "max", "total", "accepts (text input)"):
        table.add_column(col, justify="left" if col[0] in "ma" and col != "max" else "right")
    for r in rows:
        accepts = ", ".join(s.split("-")[0] for s in r["accepts"]) or "none"
        text = ", ".join(k.split(":")[0] for k in r["text_kinds"])
        table.add_row(r["model"], _millions(r["params"]), _millions(r["params_max"]),
                      _millions(r["total_params"]), f"{accepts} ({text})" if text else accepts)
    Console().print(table)
    if json_out is not None:
        json_out.write_text(json.dumps({"models": rows}, indent=2))


def register(app: typer.Typer) -> None:
    app.command("models")(models)
