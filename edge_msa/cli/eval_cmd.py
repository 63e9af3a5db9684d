"""`edge-msa eval TARGET`: score a run folder or an exported bundle on a dataset split.

    edge-msa eval runs/tb --dataset vader-movie --data ../shared/data --missing lnln --markdown lnln.md

TARGET is a run folder (config.json + model.safetensors: the eager model) or a bundle
(manifest.json: the exported model through a runtime backend), so the same sweep measures what
export and quantization cost.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edge_msa.cli.train_cmd import DATA_HELP, DATASET_HELP, check_data_path
from edge_msa.errors import UserError

SPLITS = ("valid", "test")
MISSING_HELP = "none; lnln (drop rates 0-0.9 x 3 seeds); subsets (each subset of L, A, V present)."


def load_target(target: Path, backend: str):
    """-> (model or backend, FeatureSpec, label scale, split seed, name) of a run folder or bundle."""
    from edge_msa.features.spec import FeatureSpec
    from edge_msa.train.run import CONFIG, WEIGHTS, load_run

    if (target / "manifest.json").is_file():
        return load_bundle_target(target, backend)
    if (target / CONFIG).is_file() and (target / WEIGHTS).is_file():
        model, config = load_run(target)
        return (model, FeatureSpec.from_dict(config["spec"]), config.get("scale"),
                config.get("data", {}).get("split_seed", 0), config["model"])
    raise UserError(f"{target} is neither a run folder ({CONFIG} + {WEIGHTS}) nor a bundle (manifest.json)")


def load_bundle_target(bundle: Path, backend: str):
    try:
        from edge_msa.export.bundle import load_bundle
        from edge_msa.runtime.backends import load_backend
    except ImportError as e:
        raise UserError(f"evaluating a bundle needs the export runtime, missing here: {e}") from None
    from edge_msa.features.spec import FeatureSpec

    manifest = load_bundle(bundle)
    return (load_backend(bundle, backend), FeatureSpec.from_dict(manifest["spec"]), manifest.get("scale"),
            manifest.get("data", {}).get("split_seed", 0), manifest.get("family", bundle.name))


def evaluate_cmd(
    target: Annotated[Path, typer.Argument(help="Run folder (from `edge-msa train`) or bundle folder "
                                                "(from `edge-msa export`).")],
    dataset: Annotated[str, typer.Option("--dataset", help=DATASET_HELP)],
    data: Annotated[Path | None, typer.Option("--data", help=DATA_HELP)] = None,
    split: Annotated[str, typer.Option("--split", help="Split to score: valid or test.")] = "valid",
    missing: Annotated[str, typer.Option("--missing", help=MISSING_HELP)] = "none",
    backend: Annotated[str, typer.Option("--backend", help="Runtime backend for a bundle (auto picks the "
                                                           "bundle's own).")] = "auto",
    trust_pickle: Annotated[bool, typer.Option("--trust-pickle", help="Allow loading an MMSA .pkl.")] = False,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Samples per forward pass.")] = 64,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the results as JSON here.")] = None,
    markdown: Annotated[Path | None, typer.Option("--markdown", help="Write a Markdown table here.")] = None,
) -> None:
    """Score a run or bundle on a split, optionally under missing modalities."""
    from edge_msa.data.datasets import load_dataset
    from edge_msa.train.sweep import FIRST_COLUMN, PROTOCOLS, print_metrics, sweep, write_sweep

    if split not in SPLITS:
        raise UserError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    if missing not in PROTOCOLS:
        raise UserError(f"unknown --missing {missing!r}; expected one of {', '.join(PROTOCOLS)}")
    if batch_size < 1:
        raise UserError("--batch-size must be at least 1")
    if not target.is_dir():
        raise UserError(f"no such run or bundle folder: {target}")
    check_data_path(data)
    model, spec, scale, split_seed, name = load_target(target, backend)
    splits = load_dataset(dataset, data, spec, trust_pickle=trust_pickle, seed=split_seed)
    if split not in splits:
        raise UserError(f"dataset {dataset!r} has no {split!r} split (it has {', '.join(splits)})")
    result = sweep(model, splits[split], missing, scale, batch_size)
    title = f"{name} on {dataset}/{split}, missing: {missing}"
    result |= {"target": str(target), "dataset": dataset, "split": split}
    print_metrics(result["rows"], FIRST_COLUMN[missing], title)
    write_sweep(result, json_out, markdown, title)


def register(app: typer.Typer) -> None:
    app.command("eval")(evaluate_cmd)
