"""`train`: one dataset, the family's own `training_loss`, through the one loop (`edge_msa.train.fit`):
best checkpoint by a validation metric, early stopping, a run folder.

The test split, when there is one, is evaluated exactly once, on the selected checkpoint: it
never takes part in selection or stopping.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import torch

from edge_msa.data.batch import MSAData
from edge_msa.errors import UserError
from edge_msa.models.base import MSAModel
from edge_msa.train.evaluate import evaluate, trim_padding
from edge_msa.train.fit import LOWER_IS_BETTER, Optim, fit, seed_everything
from edge_msa.train.metrics import msa_metrics
from edge_msa.train.run import save_run

# inputs, generator= -> inputs: a training-time corruption of each batch, such as
# `edge_msa.data.missing.random_missing` (random token/frame missing rates)
MissingHook = Callable[..., tuple[torch.Tensor, ...]]


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

    def epoch_batches(epoch: int):
        return train_set.batches(batch_size, shuffle=True, seed=seed * 1000 + epoch)

    def step_loss(batch):
        inputs, labels = batch
        if missing is not None:
            inputs = missing(inputs, generator=generator)
        loss, logs = model.training_loss(trim_padding(inputs), labels)
        return loss, {"loss": logs.get("loss", float(loss.detach()))}

    def validate():
        valid = evaluate(model, valid_set, scale, batch_size=eval_batch)
        return valid[select], {"valid": valid}

    optim = Optim(lr, text_lr, weight_decay, warmup_frac, grad_clip)
    outcome = fit(model, epoch_batches, math.ceil(len(train_set) / batch_size), step_loss, validate,
                  epochs=epochs, optim=optim, select=select, lower_is_better=select in LOWER_IS_BETTER,
                  patience=patience, hook_data=train_set, progress=progress)
    best_epoch, history = outcome.best_epoch, outcome.history
    metrics = {"valid": outcome.final["valid"], "test": None,
               "selected": {"epoch": best_epoch, "by": select}, "history": history, **outcome.hooks}
    if "test" in data and len(data["test"]) > 0:  # once, on the selected checkpoint
        metrics["test"] = evaluate(model, data["test"], scale, batch_size=eval_batch)
    data_info = {**(data_info or {}), "sizes": {split: len(d) for split, d in data.items()}}
    save_run(out_dir, model, {"scale": scale, "train": {**hyper, "epochs_run": len(history)},
                              "data": data_info}, metrics)
    return {"run_dir": str(out_dir), "best_epoch": best_epoch, "epochs_run": len(history), **metrics}
