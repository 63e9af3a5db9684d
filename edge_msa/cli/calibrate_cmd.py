"""`edge-msa calibrate`: build a calibration set (.npz) for static int8 from any dataset reader.

    edge-msa calibrate --recipe mixed-missing --run runs/lnln --out calib/lnln.npz
    edge-msa calibrate --recipe calibration/mixed-missing.yaml --dataset meld --spec live-minilm --out c.npz

The recipe says which split, how many samples and which missing-modality mix; the data is the
recipe's dataset, else `--dataset`, else the run's. `edge-msa export --calibration FILE` uses it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from edge_msa.cli.train_cmd import DATA_HELP, DATASET_HELP, check_data_path
from edge_msa.errors import UserError
from edge_msa.outputs import check_outputs


def calibrate(
    recipe: Annotated[str, typer.Option("--recipe", help="Calibration recipe: a name in calibration/ or a "
                                                         "YAML path.")],
    out: Annotated[Path, typer.Option("--out", help="Calibration set file to write (.npz).")],
    run: Annotated[Path | None, typer.Option("--run", help="Run folder: its FeatureSpec, and its dataset "
                                             "when neither the recipe nor --dataset names one.")] = None,
    spec: Annotated[str | None, typer.Option("--spec", help="Named FeatureSpec when there is no --run "
                                             "(default: the live MiniLM spec).")] = None,
    dataset: Annotated[str | None, typer.Option("--dataset", help=DATASET_HELP)] = None,
    data: Annotated[Path | None, typer.Option("--data", help=DATA_HELP)] = None,
    trust_pickle: Annotated[bool, typer.Option("--trust-pickle", help="Allow loading an MMSA .pkl (a pickle "
                                               "runs code when loaded).")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace OUT (and --json) if it exists.")] = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write what was built as JSON.")
                        ] = None,
) -> None:
    """Build a calibration set with a recipe's sample count and missing-modality mix."""
    from rich.console import Console

    from edge_msa.data.samples import DataSource, run_data_source
    from edge_msa.export.recipes import load_calibration_recipe
    from edge_msa.features.spec import FeatureSpec, get_spec
    from edge_msa.quantize.calibration import build_calibration_set, save_calibration
    from edge_msa.train.run import read_config

    check_outputs({"--out": out, "--json": json_out}, force=force,
                  inputs={"--recipe": Path(recipe), "--run": run, "--data": data})
    if run is not None and spec is not None:
        raise UserError("give --run or --spec, not both (a run fixes its FeatureSpec)")
    check_data_path(data)
    plan = load_calibration_recipe(recipe)
    path = str(data) if data else None
    if run is not None:
        config = read_config(run)
        feature_spec = FeatureSpec.from_dict(config["spec"])
        source = run_data_source(config, dataset, path, trust_pickle)
    else:
        feature_spec = get_spec(spec)
        source = DataSource(dataset, path, trust_pickle=trust_pickle) if dataset else None
    arrays, meta = build_calibration_set(plan, feature_spec, source)
    save_calibration(out, arrays, meta)
    Console().print(f"wrote {out}: {meta['samples']} samples of {meta['source']['dataset']} "
                    f"({plan.split} split), mix {[c.model_dump() for c in plan.mix]}")
    if json_out is not None:
        json_out.write_text(json.dumps(meta, indent=2) + "\n")


def register(app: typer.Typer) -> None:
    app.command("calibrate")(calibrate)
