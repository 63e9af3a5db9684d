"""The trainer: AdamW, linear warm-up then cosine decay, gradient clipping, validation every epoch,
best checkpoint by a validation metric, early stopping. Nothing hidden (nanoGPT style).

The test split, when there is one, is evaluated exactly once, on the selected checkpoint: it
never takes part in selection or stopping.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from edge_msa.data.batch import MSAData
from edge_msa.errors import UserError
from edge_msa.models.base import MSAModel
from edge_msa.models.text_encoder import TextEncoder
from edge_msa.train.evaluate import evaluate, trim_padding
from edge_msa.train.metrics import msa_metrics
from edge_msa.train.run import save_run

LOWER_IS_BETTER = {"mae"}  # every other metric of msa_metrics (corr, acc*, f1*) is higher-better

# inputs, generator= -> inputs: a training-time corruption of each batch, such as
# `edge_msa.data.missing.random_missing` (random token/frame missing rates)
MissingHook = Callable[..., tuple[torch.Tensor, ...]]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def warmup_cosine(total_steps: int, warmup_frac: float) -> Callable[[int], float]:
    """LR multiplier: linear 0 -> 1 over the warm-up steps, then cosine 1 -> 0."""
    warmup = max(1, int(total_steps * warmup_frac))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def _optimizer(model: MSAModel, lr: float, weight_decay: float, text_lr: float | None) -> torch.optim.AdamW:
    """AdamW with 4 groups: text encoder or rest x decayed or not.

    Pretrained MiniLM/BERT-style encoders (`TextEncoder` modules) learn at `text_lr` and the rest
    at `lr`, as the field does (MMSA: 5e-5 for BERT, 1e-3 for the fusion network). Biases and
    LayerNorm gains (1-D parameters) get no weight decay, as in BERT fine-tuning.
    """
    text_ids = {id(p) for m in model.modules() if isinstance(m, TextEncoder) for p in m.parameters()}
    groups = []
    for is_text in (True, False):
        params = [p for p in model.parameters() if p.requires_grad and (id(p) in text_ids) == is_text]
        group_lr = text_lr if is_text and text_lr is not None else lr
        groups += [{"params": [p for p in params if p.ndim >= 2], "lr": group_lr,
                    "weight_decay": weight_decay},
                   {"params": [p for p in params if p.ndim < 2], "lr": group_lr, "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=lr)


def _is_better(value: float, best: float | None, select: str) -> bool:
    if math.isnan(value):  # e.g. corr of a constant prediction: never better than a real number
        return best is None
    if best is None or math.isnan(best):
        return True
    return value < best if select in LOWER_IS_BETTER else value > best


def train(model: MSAModel, data: dict[str, MSAData], out_dir: str | Path, *, epochs: int = 10,
          batch_size: int = 32, lr: float = 1e-3, text_lr: float | None = None,
          weight_decay: float = 0.01, warmup_frac: float = 0.1, seed: int = 0,
          patience: int | None = None, missing: MissingHook | None = None, scale: str | None = None,
          select: str = "mae", grad_clip: float = 1.0, data_info: dict | None = None,
          progress: bool = True) -> dict:
    """Train `model` on data["train"], select on data["valid"], write the run folder `out_dir`.

    text_lr: learning rate of pretrained text encoders (None: `lr`); select: the validation
    metric that picks the checkpoint ("mae" lowest, any other `msa_metrics` key highest);
    patience: stop after that many epochs without a better one; missing: a per-batch corruption
    called as `missing(inputs, generator=torch.Generator)`.
    Returns {"run_dir", "best_epoch", "epochs_run", "valid", "test" (or None), "selected", "history"}.
    """
    for split in ("train", "valid"):
        if split not in data or len(data[split]) == 0:
            raise UserError(f"training needs a non-empty {split!r} split (got {sorted(data)})")
    if epochs < 1 or batch_size < 1:
        raise UserError("epochs and batch size must be at least 1")
    train_set, valid_set = data["train"], data["valid"]
    scale = scale or train_set.scale
    known = msa_metrics(valid_set.labels, valid_set.labels, scale)
    if select not in known:
        raise UserError(f"cannot select checkpoints by {select!r}; metrics: {', '.join(known)}")
    hyper = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "text_lr": text_lr,
             "weight_decay": weight_decay, "warmup_frac": warmup_frac, "grad_clip": grad_clip,
             "patience": patience, "select": select, "seed": seed,
             "missing": getattr(missing, "__name__", repr(missing)) if missing else None}
    seed_everything(seed)
    generator = torch.Generator().manual_seed(seed)  # the missing hook's own stream
    eval_batch = max(64, batch_size)

    steps_per_epoch = math.ceil(len(train_set) / batch_size)
    optimizer = _optimizer(model, lr, weight_decay, text_lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, warmup_cosine(epochs * steps_per_epoch, warmup_frac))
    best_value, best_state, best_epoch, history = None, None, 0, []
    status = "valid -"
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeRemainingColumn(), TextColumn("{task.fields[status]}"))
    with Progress(*columns, disable=not progress) as bar:
        task = bar.add_task("train", total=epochs * steps_per_epoch, status=status)
        for epoch in range(1, epochs + 1):
            model.train()
            losses = []
            for inputs, labels in train_set.batches(batch_size, shuffle=True, seed=seed * 1000 + epoch):
                if missing is not None:
                    inputs = missing(inputs, generator=generator)
                loss, logs = model.training_loss(trim_padding(inputs), labels)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
                optimizer.step()
                schedule.step()
                losses.append(logs.get("loss", float(loss.detach())))
                bar.update(task, advance=1, description=f"epoch {epoch}/{epochs}",
                           status=f"loss {np.mean(losses[-50:]):.3f} | {status}")
            valid = evaluate(model, valid_set, scale, batch_size=eval_batch)
            history.append({"epoch": epoch, "train_loss": float(np.mean(losses)), "valid": valid})
            status = f"valid {select} {valid[select]:.3f} (epoch {epoch})"
            if _is_better(valid[select], best_value, select):
                best_value, best_epoch = valid[select], epoch
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if patience is not None and epoch - best_epoch >= patience:
                break

    model.load_state_dict(best_state)
    hooks = after_training(model, train_set)  # e.g. hme_lite's bank from the final weights
    metrics = {"valid": history[best_epoch - 1]["valid"], "test": None,
               "selected": {"epoch": best_epoch, "by": select}, "history": history, **hooks}
    if "test" in data and len(data["test"]) > 0:  # once, on the selected checkpoint
        metrics["test"] = evaluate(model, data["test"], scale, batch_size=eval_batch)
    data_info = {**(data_info or {}), "sizes": {split: len(d) for split, d in data.items()}}
    save_run(out_dir, model, {"scale": scale, "train": {**hyper, "epochs_run": len(history)},
                              "data": data_info}, metrics)
    return {"run_dir": str(out_dir), "best_epoch": best_epoch, "epochs_run": len(history), **metrics}


def after_training(model, train_set) -> dict:
    """The family's `after_training(train)` hook on the selected weights, if it has one (hme_lite
    rebuilds its memory bank from them; a bank of embeddings from earlier weights would be stale)."""
    hook = getattr(model, "after_training", None)
    return {"after_training": hook(train_set)} if hook is not None else {}
