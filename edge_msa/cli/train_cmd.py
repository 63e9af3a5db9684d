"""`edge-msa train`: train a registered model on a dataset and write a run folder.

    edge-msa train --model text_baseline --dataset vader-movie --data ../shared/data --out runs/tb
    edge-msa train --recipe export/default/train.yaml --out runs/default \
        --bundles edge_msa/assets/default --force      # --force: replaces the shipped bundles

The checkpoint is selected on the validation split; the test split (when the data has one) is
scored once, on that checkpoint. `edge-msa eval RUN` scores a run (or a bundle) again, also
under missing modalities.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from edge_msa.errors import UserError
from edge_msa.outputs import check_outputs

if TYPE_CHECKING:  # torch-backed: the lean install (no torch) still lists this command
    pass

DATASET_HELP = ("Dataset reader: mmsa, vader, vader-movie, vader-amazon, meld, text (your own CSV/TSV "
                "with text,label columns), emodb, media (a folder from `edge-msa data extract`) or synthetic "
                "(an MMSA .pkl/.npz as --data implies mmsa).")
DATA_HELP = "Dataset file or folder (default for the text/speech corpora: ../shared/data)."
SPEC_HELP = "Named FeatureSpec (default: the live MiniLM spec; for mmsa, the file's own features)."


def check_data_path(data: Path | None) -> None:
    if data is not None and not data.exists():
        raise UserError(f"no such data file or folder: {data}")


def check_rates(**rates: float) -> None:
    """Learning rates (option name -> value) are positive finite numbers: torch's own refusal of a
    nan or negative one is a traceback, and an infinite one trains to nan without a word."""
    for option, value in rates.items():
        if not (math.isfinite(value) and value > 0):
            raise UserError(f"--{option.replace('_', '-')} must be a positive number, got {value}")


def check_max_train(max_train: int | None) -> None:
    if max_train is not None and max_train < 1:
        raise UserError("--max-train must be at least 1")


def _check_optimiser(weight_decay: float, warmup_frac: float) -> None:
    if not (math.isfinite(weight_decay) and weight_decay >= 0):
        raise UserError(f"--weight-decay must be 0 or a positive number, got {weight_decay}")
    if not 0 <= warmup_frac <= 1:  # also refuses nan
        raise UserError(f"--warmup-frac must be between 0 and 1, got {warmup_frac}")


def train(
    out: Annotated[Path, typer.Option("--out", help="Run folder to write (config.json, model.safetensors, "
                                                    "metrics.json).")],
    model: Annotated[str | None, typer.Option("--model", help="Model family or preset (`edge-msa models`).")]
    = None,
    dataset: Annotated[str | None, typer.Option("--dataset", help=DATASET_HELP)] = None,
    recipe: Annotated[Path | None, typer.Option("--recipe", help="Training recipe YAML (e.g. "
                                                "export/default/train.yaml): model, data mix, distillation, "
                                                "export; replaces --model/--dataset.")] = None,
    bundles: Annotated[Path | None, typer.Option("--bundles", help="With --recipe: also export the recipe's "
                                                 "bundles into this folder.")] = None,
    data: Annotated[Path | None, typer.Option("--data", help=DATA_HELP)] = None,
    spec: Annotated[str | None, typer.Option("--spec", help=SPEC_HELP)] = None,
    trust_pickle: Annotated[bool, typer.Option("--trust-pickle", help="Allow loading an MMSA .pkl (a pickle "
                                               "runs code when loaded).")] = False,
    epochs: Annotated[int, typer.Option("--epochs", help="Training epochs.")] = 10,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Samples per step.")] = 32,
    lr: Annotated[float, typer.Option("--lr", help="Peak learning rate (warm-up, then cosine).")] = 1e-3,
    text_lr: Annotated[float, typer.Option("--text-lr", help="Peak learning rate of pretrained MiniLM/BERT "
                                                             "text encoders.")] = 5e-5,
    weight_decay: Annotated[float, typer.Option("--weight-decay", help="AdamW weight decay.")] = 0.01,
    warmup_frac: Annotated[float, typer.Option("--warmup-frac", help="Share of steps for LR warm-up.")] = 0.1,
    patience: Annotated[int | None, typer.Option("--patience", help="Stop after this many epochs without "
                                                                    "a better validation score.")] = None,
    select: Annotated[str, typer.Option("--select", help="Validation metric that picks the checkpoint "
                                                         "(mae: lowest; corr, acc7, ...: highest).")] = "mae",
    seed: Annotated[int, typer.Option("--seed", help="Seed of initialisation, shuffling and dropout.")] = 0,
    split_seed: Annotated[int, typer.Option("--split-seed", help="Seed of the dataset's own split (corpora "
                                                                 "without one); eval reuses it.")] = 0,
    max_train: Annotated[int | None, typer.Option("--max-train", help="Train on a random subset of N "
                                                                      "samples (quick runs).")] = None,
    missing_train: Annotated[bool, typer.Option("--missing-train", help="Drop random shares of tokens/frames "
                                                "in training batches (robustness to missing data).")] = False,
    force: Annotated[bool, typer.Option("--force", help="Write into OUT even if it is not empty.")] = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the metrics as JSON.")] = None,
) -> None:
    """Train a model; select the checkpoint on the validation split; write a run folder."""
    check_outputs({"--json": json_out}, folders={"--out": out, "--bundles": bundles}, force=force,
                  inputs={"--data": data, "--recipe": recipe})
    check_rates(lr=lr, text_lr=text_lr)
    _check_optimiser(weight_decay, warmup_frac)
    import json  # after the checks: a wrong option fails before torch loads

    import torch

    from edge_msa.data.datasets import dataset_of_path, load_dataset
    from edge_msa.data.missing import random_missing
    from edge_msa.data.mmsa import spec_of_features
    from edge_msa.models.registry import create_model, resolve
    from edge_msa.train.sweep import print_metrics
    from edge_msa.train.trainer import train as run_training

    if recipe is not None:
        return train_from_recipe(recipe, out, data, bundles, json_out)
    dataset = dataset or dataset_of_path(data)  # an MMSA feature file names its own dataset
    if model is None or dataset is None:
        raise UserError("name --model and --dataset, or a --recipe")
    if bundles is not None:
        raise UserError("--bundles needs --recipe")
    check_max_train(max_train)
    resolve(model)  # an unknown model name fails before any data is read
    check_data_path(data)
    torch.manual_seed(seed)  # the model's initialisation
    splits = load_dataset(dataset, data, spec, trust_pickle=trust_pickle, seed=split_seed)
    feature_spec = spec_of_features(splits["train"]) if dataset == "mmsa" and spec is None else spec
    splits["train"] = splits["train"].sample(max_train, seed)
    net = create_model(model, feature_spec)
    missing = random_missing if missing_train else None
    info = {"dataset": dataset, "path": str(data) if data else None, "spec": spec, "split_seed": split_seed,
            "max_train": max_train}
    if dataset == "media":  # the run states how its labels were made (emotion -> valence table, scale)
        from edge_msa.data.media_dataset import read_meta

        meta = read_meta(data)
        info["labels"] = {k: meta[k] for k in ("source", "scale", "labels", "valence", "text_sources")}
    result = run_training(net, splits, out, epochs=epochs, batch_size=batch_size, lr=lr, text_lr=text_lr,
                          weight_decay=weight_decay, warmup_frac=warmup_frac, seed=seed, patience=patience,
                          missing=missing, select=select, data_info=info)
    rows = {split: result[split] for split in ("valid", "test") if result[split] is not None}
    print_metrics(rows, "split", f"{model} on {dataset}: epoch {result['best_epoch']} of "
                                 f"{result['epochs_run']} (selected by valid {select})")
    typer.echo(f"wrote {out}")
    if json_out is not None:
        json_out.write_text(json.dumps(result, indent=2))


def train_from_recipe(recipe: Path, out: Path, data: Path | None, bundles: Path | None,
                      json_out: Path | None) -> None:
    """`--recipe`: the whole recipe (`edge_msa.train.recipe`), then its bundles when asked."""
    import json

    from edge_msa.train.experts import NARRATION
    from edge_msa.train.recipe import load_train_recipe, train_recipe
    from edge_msa.train.sweep import print_metrics
    from edge_msa.workflows.recipe_bundles import export_bundles

    check_data_path(data)
    config = load_train_recipe(recipe)
    result = train_recipe(config, out, data_path=data)
    rows = {f"{n} / valid": m for n, m in result["valid"].items()}
    rows |= {f"{n} / test": m for n, m in result["test"].items()}
    print_metrics(rows, "corpus / split", f"recipe {config.name}: epoch {result['best_epoch']} "
                                          f"(selected by {result['selected']['by']})")
    centre = result.get("fit", {}).get("voice_centre")
    if centre is not None:  # where calm English sits on the voice expert: the graph subtracts it
        source = (f"measured on {centre['from']}" if centre["from"] else
                  f"no narration clips under DATA/{NARRATION}: a calm English voice may not read 0; "
                  "set experts.voice_centre")
        typer.echo(f"voice centre {centre['value']:+.3f}, {source}")
    typer.echo(f"wrote {out}")
    if bundles is not None:
        result["bundles"] = export_bundles(config, out, bundles, data_path=data)
        for name, info in result["bundles"].items():
            typer.echo(f"wrote {bundles / name} ({info['bytes'] / 1e6:.2f} MB)")
    if json_out is not None:
        json_out.write_text(json.dumps(result, indent=2))


def register(app: typer.Typer) -> None:
    app.command("train")(train)
