"""The one training loop: AdamW, linear warm-up then cosine decay, gradient clipping, validation
every epoch, the best checkpoint by one validation number, early stopping, the family's
`after_training` hook. Nothing hidden (nanoGPT style).

Its three callers differ only in what a step sees and what validation measures, so those are
arguments: `train` (one dataset, the family's `training_loss`), `distill` (cached teacher targets,
the MMSLF loss, adapters trained beside the student) and `train_recipe` (a weighted mix of corpora,
an optional teacher term). Whatever is fixed (a teacher's outputs) is computed by the caller before.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch import nn

from edge_msa.errors import UserError
from edge_msa.models.text_encoder import TextEncoder

LOWER_IS_BETTER = {"mae"}  # every other metric of msa_metrics (corr, acc*, f1*) is higher-better

# one optimisation step's batch -> (loss, {"loss": float, other logged terms: float})
StepLoss = Callable[[object], tuple[torch.Tensor, dict[str, float]]]
# () -> (the number checkpoints are selected by, what the epoch's history records)
Validate = Callable[[], tuple[float, dict]]


@dataclass(frozen=True)
class Optim:
    """Optimiser and schedule settings shared by every loop."""
    lr: float = 1e-3
    text_lr: float | None = None  # pretrained text encoders (`TextEncoder` modules); None: lr
    weight_decay: float = 0.01
    warmup_frac: float = 0.1
    grad_clip: float = 1.0


@dataclass
class FitResult:
    best_epoch: int
    history: list[dict]  # per epoch: {"epoch", "train_loss", "train": mean logged terms, **validation}
    final: dict  # the validation record of the weights returned (after the family's hook, if any)
    hooks: dict  # {"after_training": what the family's hook returned}, or {} without a hook


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


def make_optimizer(params: nn.Module, optim: Optim) -> torch.optim.AdamW:
    """AdamW with 4 groups: text encoder or rest x decayed or not.

    Pretrained MiniLM/BERT-style encoders (`TextEncoder` modules) learn at `text_lr` and the rest
    at `lr`, as the field does (MMSA: 5e-5 for BERT, 1e-3 for the fusion network). Biases and
    LayerNorm gains (1-D parameters) get no weight decay, as in BERT fine-tuning.
    """
    text_ids = {id(p) for m in params.modules() if isinstance(m, TextEncoder) for p in m.parameters()}
    groups = []
    for is_text in (True, False):
        found = [p for p in params.parameters() if p.requires_grad and (id(p) in text_ids) == is_text]
        group_lr = optim.text_lr if is_text and optim.text_lr is not None else optim.lr
        groups += [{"params": [p for p in found if p.ndim >= 2], "lr": group_lr,
                    "weight_decay": optim.weight_decay},
                   {"params": [p for p in found if p.ndim < 2], "lr": group_lr, "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=optim.lr)


def is_better(value: float, best: float | None, lower_is_better: bool) -> bool:
    if math.isnan(value):  # e.g. corr of a constant prediction: never better than a real number
        return best is None
    if best is None or math.isnan(best):
        return True
    return value < best if lower_is_better else value > best


def after_training(model: nn.Module, train_set) -> dict:
    """The family's `after_training(train)` hook on the selected weights, if it has one (hme_lite
    rebuilds its memory bank from them; a bank of embeddings from earlier weights would be stale)."""
    hook = getattr(model, "after_training", None)
    return {"after_training": hook(train_set)} if hook is not None else {}


def progress_bar(disable: bool) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), TextColumn("{task.fields[status]}"), disable=disable)


def fit(model: nn.Module, epoch_batches: Callable[[int], Iterable[object]], steps_per_epoch: int,
        step_loss: StepLoss, validate: Validate, *, epochs: int, optim: Optim, select: str,
        lower_is_better: bool = False, patience: int | None = None, params: nn.Module | None = None,
        hook_data: object = None, progress: bool = True) -> FitResult:
    """Train `model` for `epochs` over `epoch_batches(epoch)`; keep the weights of the best epoch.

    params: what the optimiser updates when more than the model learns (distillation's adapters);
    select: the name shown for the validation number; patience: stop after that many epochs
    without a better one; hook_data: the training rows the family's `after_training` hook reads
    (run on the selected weights, then validation is scored again so `final` describes exactly
    the weights returned). On return `model` holds those weights, in eval mode.
    """
    if epochs < 1:
        raise UserError("epochs must be at least 1")
    params = params if params is not None else model
    optimizer = make_optimizer(params, optim)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(epochs * steps_per_epoch,
                                                                          optim.warmup_frac))
    best_value, best_state, best_epoch, history, status = None, None, 0, [], "valid -"
    with progress_bar(not progress) as bar:
        task = bar.add_task("train", total=epochs * steps_per_epoch, status=status)
        for epoch in range(1, epochs + 1):
            params.train()
            logs: list[dict[str, float]] = []
            for batch in epoch_batches(epoch):
                loss, log = step_loss(batch)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(params.parameters(), optim.grad_clip)
                optimizer.step()
                schedule.step()
                logs.append(log)
                bar.update(task, advance=1, description=f"epoch {epoch}/{epochs}",
                           status=f"loss {np.mean([g['loss'] for g in logs[-50:]]):.3f} | {status}")
            model.eval()
            value, record = validate()
            terms = {k: float(np.mean([g[k] for g in logs])) for k in logs[0]} if logs else {"loss": math.nan}
            history.append({"epoch": epoch, "train_loss": terms["loss"], "train": terms, **record})
            status = f"valid {select} {value:.3f} (epoch {epoch})"
            if progress:  # one line per epoch, also where the live bar is not drawn (logs)
                bar.console.print(f"epoch {epoch}: train loss {terms['loss']:.3f}, {status}")
            if is_better(value, best_value, lower_is_better):
                best_value, best_epoch = value, epoch
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if patience is not None and epoch - best_epoch >= patience:
                break
    model.load_state_dict(best_state)
    model.eval()
    hooks = after_training(model, hook_data) if hook_data is not None else {}
    final = validate()[1] if hooks else {k: v for k, v in history[best_epoch - 1].items()
                                         if k not in ("epoch", "train_loss", "train")}
    model.eval()
    return FitResult(best_epoch, history, final, hooks)
