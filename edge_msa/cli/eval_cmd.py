"""`edge-msa eval TARGET`: score a run folder or an exported bundle on a dataset split.

    edge-msa eval runs/tb --dataset vader-movie --data ../shared/data --missing lnln --markdown lnln.md

TARGET is a run folder (config.json + model.safetensors: the eager model) or a bundle
(manifest.json: the exported model through a runtime backend), so the same sweep measures what
export and quantization cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from edge_msa.cli.train_cmd import DATA_HELP, DATASET_HELP, check_data_path
from edge_msa.errors import UserError
from edge_msa.features.spec import FeatureSpec
from edge_msa.outputs import check_outputs

SPLITS = ("valid", "test")
MISSING_HELP = "none; lnln (drop rates 0-0.9 x 3 seeds); subsets (each subset of L, A, V present)."


@dataclass
class Target:
    model: object  # an eager MSAModel or a bundle's Backend: whatever `evaluate` takes
    spec: FeatureSpec
    scale: str | None
    data: dict  # what the run was trained on: {"dataset", "path", "split_seed", ...}
    name: str


def load_target(target: Path, backend: str) -> Target:
    """A run folder (eager model) or a bundle (its backend), with what it records about its data."""
    from edge_msa.train.run import CONFIG, WEIGHTS, load_run

    if (target / "manifest.json").is_file():
        from edge_msa.export.bundle import load_bundle
        from edge_msa.runtime.backends import load_backend

        bundle = load_bundle(target)  # checks every file's sha256 and the format version
        m = bundle.manifest
        return Target(load_backend(bundle, backend), bundle.spec, m.scale,
                      m.source.get("parity_data") or {}, m.name)
    if (target / CONFIG).is_file() and (target / WEIGHTS).is_file():
        model, config = load_run(target)
        return Target(model, model.spec, config.get("scale"), config.get("data") or {}, config["model"])
    raise UserError(f"{target} is neither a run folder ({CONFIG} + {WEIGHTS}) nor a bundle (manifest.json)")


def evaluate_cmd(
    target: Annotated[Path, typer.Argument(help="Run folder (from `edge-msa train`), shipped tier "
                                                "(default, nano) or bundle folder "
                                                "(from `edge-msa export`).")],
    dataset: Annotated[str | None, typer.Option("--dataset", help=DATASET_HELP + " Default: the one "
                                                "the run was trained on.")] = None,
    data: Annotated[Path | None, typer.Option("--data", help=DATA_HELP)] = None,
    split: Annotated[str, typer.Option("--split", help="Split to score: valid or test.")] = "valid",
    missing: Annotated[str, typer.Option("--missing", help=MISSING_HELP)] = "none",
    backend: Annotated[str, typer.Option("--backend", help="Runtime backend for a bundle (auto picks the "
                                                           "bundle's own).")] = "auto",
    trust_pickle: Annotated[bool, typer.Option("--trust-pickle", help="Allow loading an MMSA .pkl.")] = False,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Samples per forward pass.")] = 64,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the results as JSON here.")] = None,
    markdown: Annotated[Path | None, typer.Option("--markdown", help="Write a Markdown table here.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace --json/--markdown if they exist.")] = False,
) -> None:
    """Score a run or bundle on a split, optionally under missing modalities."""
    from edge_msa.data.datasets import dataset_of_path, load_dataset
    from edge_msa.train.sweep import FIRST_COLUMN, PROTOCOLS, print_metrics, sweep, write_sweep

    if split not in SPLITS:
        raise UserError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    if missing not in PROTOCOLS:
        raise UserError(f"unknown --missing {missing!r}; expected one of {', '.join(PROTOCOLS)}")
    if batch_size < 1:
        raise UserError("--batch-size must be at least 1")
    from edge_msa.tiers import resolve_bundle

    target = resolve_bundle(target)  # a shipped tier by name: default, nano, nano/onnx-int8
    if not target.is_dir():
        raise UserError(f"no such run or bundle folder: {target}")
    check_data_path(data)
    check_outputs({"--json": json_out, "--markdown": markdown}, force=force,
                  inputs={"TARGET": target, "--data": data})
    found = load_target(target, backend)
    recorded = found.data.get("dataset")
    dataset = dataset or dataset_of_path(data)  # as in train: an MMSA file names its dataset
    if dataset is None and recorded is None:
        raise UserError(f"{target} does not record its dataset: name one with --dataset")
    same = dataset in (None, recorded)
    dataset = dataset or recorded
    if data is None and same and found.data.get("path"):
        data = Path(found.data["path"])
    # the run's own split seed, so "valid" and "test" hold no training rows
    split_seed = int(found.data.get("split_seed", 0)) if same else 0
    splits = load_dataset(dataset, data, found.spec, trust_pickle=trust_pickle, seed=split_seed)
    if split not in splits:
        raise UserError(f"dataset {dataset!r} has no {split!r} split (it has {', '.join(splits)})")
    result = sweep(found.model, splits[split], missing, found.scale, batch_size)
    title = f"{found.name} on {dataset}/{split}, missing: {missing}"
    result |= {"target": str(target), "dataset": dataset, "split": split}
    print_metrics(result["rows"], FIRST_COLUMN[missing], title)
    write_sweep(result, json_out, markdown, title)


def register(app: typer.Typer) -> None:
    app.command("eval")(evaluate_cmd)
