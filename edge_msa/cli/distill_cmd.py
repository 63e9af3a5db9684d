"""`edge-msa distill-teacher` and `edge-msa distill`: MMSLF's teacher with context prompts, then a
prompt-free student distilled from it (both write normal run folders).

    edge-msa distill-teacher --model mmslf_teacher-base --dataset vader --dataset meld --out runs/teacher
    edge-msa distill --teacher runs/teacher --student mmslf_student-tiny --out runs/student

Prompts (`--prompts`): `describe` (built-in describer of the sample's own audio/vision features),
`none`, or a JSON-lines file of {"id": ..., "prompt": ...} written by any LLM. Several datasets
are concatenated; the checkpoint is selected on their concatenated validation splits and the
validation metrics are also printed per dataset.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from edge_msa.cli.train_cmd import check_max_train, check_rates
from edge_msa.errors import UserError
from edge_msa.outputs import check_outputs

if TYPE_CHECKING:  # torch-backed: the lean install (no torch) still lists this command
    from edge_msa.data.batch import MSAData

DATASET_HELP = "Dataset reader (repeat to combine): vader, vader-movie, vader-amazon, meld, synthetic, ..."
DATA_HELP = "Folder of the corpora (default ../shared/data)."
PROMPTS_HELP = "Teacher prompts: 'describe' (from the audio/vision features), 'none', or a .jsonl file."


Splits = dict[str, "MSAData"]


def data_info(datasets: list[str], path: Path | None, prompts: str, split_seed: int,
              max_train: int | None) -> dict:
    """What a run records about its data; "dataset" (the first) is what export reads for parity."""
    return {"dataset": datasets[0], "datasets": datasets, "path": str(path) if path else None,
            "prompts": prompts, "split_seed": split_seed, "max_train": max_train}


def _check_options(out: Path, json_out: Path | None, force: bool, lr: float, text_lr: float,
                   max_train: int | None, **inputs: Path | str | None) -> None:
    """Before any model or data loads: the outputs (never an input, never replaced without
    --force), the learning rates and --max-train."""
    check_outputs({"--json": json_out}, folders={"--out": out}, force=force, inputs=inputs)
    check_rates(lr=lr, text_lr=text_lr)
    check_max_train(max_train)


def _print(rows: dict[str, dict[str, float]], title: str) -> None:
    from edge_msa.train.sweep import print_metrics

    print_metrics(rows, "model / split", title)


def distill_teacher(
    out: Annotated[Path, typer.Option("--out", help="Run folder to write.")],
    dataset: Annotated[list[str], typer.Option("--dataset", help=DATASET_HELP)],
    model: Annotated[str, typer.Option("--model", help="Teacher preset.")] = "mmslf_teacher-base",
    data: Annotated[Path | None, typer.Option("--data", help=DATA_HELP)] = None,
    prompts: Annotated[str, typer.Option("--prompts", help=PROMPTS_HELP)] = "describe",
    epochs: Annotated[int, typer.Option("--epochs", help="Training epochs.")] = 2,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Samples per step.")] = 64,
    lr: Annotated[float, typer.Option("--lr", help="Peak learning rate of the fusion network.")] = 1e-3,
    text_lr: Annotated[float, typer.Option("--text-lr", help="Peak learning rate of MiniLM's trainable "
                                                             "top layers.")] = 1e-4,
    max_train: Annotated[int | None, typer.Option("--max-train", help="Train on a random subset of N "
                                                                      "samples.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of initialisation and shuffling.")] = 0,
    split_seed: Annotated[int, typer.Option("--split-seed", help="Seed of the corpora's own splits.")] = 0,
    force: Annotated[bool, typer.Option("--force", help="Write into OUT even if it is not empty.")] = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the metrics as JSON.")] = None,
) -> None:
    """Train an MMSLF teacher that reads context prompts (writes a run folder)."""
    import json

    import torch

    from edge_msa.data.datasets import load_datasets
    from edge_msa.features.spec import LIVE
    from edge_msa.models.registry import create_model
    from edge_msa.train.prompts import attach_prompts, load_provider
    from edge_msa.train.trainer import train

    _check_options(out, json_out, force, lr, text_lr, max_train, **{"--data": data, "--prompts": prompts})
    torch.manual_seed(seed)
    net = create_model(model, LIVE)
    if not hasattr(net, "encode_prompt"):
        raise UserError(f"{model} is not a prompt-reading teacher (use an mmslf_teacher preset)")
    provider = load_provider(prompts, net.spec)
    splits, valids = load_datasets(dataset, data, net.spec, split_seed)
    splits["train"] = splits["train"].sample(max_train, seed)
    splits = {s: attach_prompts(d, provider) for s, d in splits.items()}
    info = data_info(dataset, data, prompts, split_seed, max_train)
    result = train(net, splits, out, epochs=epochs, batch_size=batch_size, lr=lr, text_lr=text_lr,
                   seed=seed, data_info=info)
    _print({"teacher / all": result["valid"]}, f"{model}: validation (epoch {result['best_epoch']}; "
                                                 f"per dataset: `edge-msa distill` prints it)")
    print(f"wrote {out}")
    if json_out is not None:
        json_out.write_text(json.dumps(result, indent=2))


def distill(
    teacher: Annotated[Path, typer.Option("--teacher", help="Run folder of a trained MMSLF teacher.")],
    out: Annotated[Path, typer.Option("--out", help="Run folder of the student to write.")],
    student: Annotated[str, typer.Option("--student", help="Student preset.")] = "mmslf_student-tiny",
    dataset: Annotated[list[str] | None, typer.Option("--dataset", help=DATASET_HELP + " Default: the "
                                                      "teacher's datasets.")] = None,
    data: Annotated[Path | None, typer.Option("--data", help=DATA_HELP)] = None,
    prompts: Annotated[str | None, typer.Option("--prompts", help=PROMPTS_HELP + " Default: the "
                                                "teacher's.")] = None,
    epochs: Annotated[int, typer.Option("--epochs", help="Distillation epochs.")] = 3,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Samples per step.")] = 64,
    lr: Annotated[float, typer.Option("--lr", help="Peak learning rate of the fusion network.")] = 1e-3,
    text_lr: Annotated[float, typer.Option("--text-lr", help="Peak learning rate of the student's text "
                                                             "encoder (cut from MiniLM).")] = 1e-4,
    weights: Annotated[str, typer.Option("--weights", help="Loss weights, e.g. 'prediction=1,attention=60,"
                                         "fused=8,hidden=1,text_attention=60,task=1'.")] = "",
    max_train: Annotated[int | None, typer.Option("--max-train", help="Distil on a random subset of N "
                                                                      "samples.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of initialisation and shuffling.")] = 0,
    split_seed: Annotated[int | None, typer.Option("--split-seed", help="Seed of the corpora's own splits "
                                                   "(default: the teacher's).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Write into OUT even if it is not empty.")] = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the metrics as JSON.")] = None,
) -> None:
    """Distil an MMSLF teacher into a prompt-free student (writes the student's run folder)."""
    import json

    import torch

    from edge_msa.data.datasets import load_datasets
    from edge_msa.models.registry import create_model
    from edge_msa.train.distill import DistillWeights
    from edge_msa.train.distill import distill as run_distill
    from edge_msa.train.metrics import metrics_by_part
    from edge_msa.train.prompts import attach_prompts, load_provider
    from edge_msa.train.run import load_run

    _check_options(out, json_out, force, lr, text_lr, max_train,
                   **{"--teacher": teacher, "--data": data, "--prompts": prompts})
    loss_weights = DistillWeights.parse(weights)
    teacher_net, teacher_cfg = load_run(teacher)
    if not hasattr(teacher_net, "encode_prompt"):
        raise UserError(f"{teacher} is not an MMSLF teacher run (model {teacher_cfg['model']!r})")
    known = teacher_cfg.get("data", {})
    dataset = dataset or known.get("datasets")
    if not dataset:
        raise UserError("the teacher run records no datasets: name them with --dataset")
    prompts = prompts or known.get("prompts", "describe")
    split_seed = known.get("split_seed", 0) if split_seed is None else split_seed
    torch.manual_seed(seed)
    net = create_model(student, teacher_net.spec)
    provider = load_provider(prompts, net.spec)
    splits, valids = load_datasets(dataset, data, net.spec, split_seed)
    splits["train"] = splits["train"].sample(max_train, seed)
    splits = {s: attach_prompts(d, provider) for s, d in splits.items()}
    info = data_info(dataset, data, prompts, split_seed, max_train)
    result = run_distill(teacher_net, net, splits["train"], splits["valid"], out, epochs=epochs,
                         batch_size=batch_size, lr=lr, text_lr=text_lr, seed=seed, weights=loss_weights,
                         extra_config={"teacher": str(teacher), "student": student}, data_info=info)
    rows = {"teacher / all": result["teacher_valid"], "student / all": result["valid"]}
    for who in ("teacher", "student"):
        parts = metrics_by_part(valids, result["predictions"][who], splits["valid"].scale)
        rows |= {f"{who} / {n}": metrics for n, metrics in parts.items()}
    result.pop("predictions")
    _print(rows, f"{student} from {teacher}: validation (epoch {result['best_epoch']}, "
                 f"mean |student - teacher| {result['gap_valid']:.3f})")
    print(f"wrote {out}")
    if json_out is not None:
        json_out.write_text(json.dumps({**result, "valid_rows": rows}, indent=2))


def register(app: typer.Typer) -> None:
    app.command("distill-teacher")(distill_teacher)
    app.command("distill")(distill)
