"""MMSLF distillation: a prompt-free student learns to match a teacher that read context prompts.

Loss per batch (weights in `DistillWeights`; the MMSLF paper's example is 1.0 / 60 / 8):
    task            L1 to the labels + Laplace NLL of the uncertainty branch (`score_error_loss`)
    prediction      L1 between student and teacher scores
    attention       L1 between the fusion tokens' attention maps (head-averaged, same key layout)
    fused           L1 between the fused tokens, the student's mapped to the teacher's width by a
                    Linear that lives only here (`Adapters`: not part of the shipped student)
    hidden          MSE between text-encoder hidden states: student layer j <-> teacher layer
                    round((j + 1) * L_t / L_s) - 1 (a student cut from MiniLM is 384-d like the
                    teacher; a narrower one is mapped up by a Linear in `Adapters`)
    text_attention  L1 between the last mapped text layers' attention maps (per head when the
                    head counts match, as for a MiniLM cut; else head-averaged)
The teacher is fixed, so its outputs are computed once, on length-bucketed batches (sorted by
text length: little padding), and reused every epoch; the batch order is shuffled per epoch.
Optimizer, schedule and checkpoint selection are the one loop's (`edge_msa.train.fit`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edge_msa.data.batch import MSAData
from edge_msa.errors import UserError
from edge_msa.models.base import MSAModel
from edge_msa.models.heads import score_error_loss
from edge_msa.train.evaluate import predict, trim_padding
from edge_msa.train.fit import LOWER_IS_BETTER, Optim, fit, progress_bar, seed_everything
from edge_msa.train.metrics import msa_metrics
from edge_msa.train.prompts import PromptedData
from edge_msa.train.run import save_run

Batch = tuple[tuple[torch.Tensor, ...], torch.Tensor, dict[str, torch.Tensor]]


@dataclass
class DistillWeights:
    task: float = 1.0
    prediction: float = 1.0
    attention: float = 60.0
    fused: float = 8.0
    hidden: float = 1.0
    text_attention: float = 60.0

    @classmethod
    def parse(cls, text: str) -> DistillWeights:
        """'prediction=1,attention=60' -> weights (unnamed terms keep their defaults)."""
        known = {f.name for f in fields(cls)}
        values = {}
        for item in filter(None, (s.strip() for s in text.split(","))):
            name, _, value = item.partition("=")
            if name not in known:
                raise UserError(f"unknown loss weight {name!r}; known: {', '.join(sorted(known))}")
            try:
                values[name] = float(value)
            except ValueError:
                raise UserError(f"loss weight {item!r} is not name=number") from None
        return cls(**values)


def layer_map(student_layers: int, teacher_layers: int) -> list[int]:
    """Teacher layer index matched by each student text layer (uniform, last to last)."""
    return [round((j + 1) * teacher_layers / student_layers) - 1 for j in range(student_layers)]


@contextmanager
def capture_layers(encoder: nn.Module | None) -> Iterator[list[list]]:
    """Record (hidden, attention probs) of every layer of a `TextEncoder`, per call.

    records[i] holds one entry per forward call of the encoder (the teacher's MiniLM runs on the
    text first, then on the prompt: entry 0 is the text).
    """
    layers = list(encoder.layers) if encoder is not None else []
    records: list[list] = [[] for _ in layers]
    handles = [layer.register_forward_hook(lambda _m, _i, out, r=rec: r.append(out))
               for layer, rec in zip(layers, records, strict=True)]
    try:
        yield records
    finally:
        for h in handles:
            h.remove()


def _text_states(records: list[list], index: list[int]) -> tuple[list[torch.Tensor], torch.Tensor | None]:
    if not records or not records[0]:
        return [], None
    hidden = [records[i][0][0] for i in index]
    return hidden, records[index[-1]][0][1]


def bucketed_batches(data: MSAData, batch_size: int) -> list[np.ndarray]:
    """Row indices grouped by text length (stable sort), so each batch trims to little padding."""
    order = np.argsort(data.text_mask.sum(1), kind="stable")
    return [order[i: i + batch_size] for i in range(0, len(order), batch_size)]


def teacher_targets(teacher: MSAModel, inputs: tuple[torch.Tensor, ...],
                    index: list[int]) -> dict[str, torch.Tensor]:
    """The fixed teacher's outputs for one (trimmed) batch: what the student is matched to."""
    with torch.inference_mode(), capture_layers(teacher.text_encoder) as records:
        out = teacher.forward_features(*inputs)
    hidden, text_attn = _text_states(records, index)
    targets = {k: out[k] for k in ("score", "fused", "attention")}
    # half precision halves the cache; these are regression targets, not weights
    targets.update({f"hidden{j}": h.half() for j, h in enumerate(hidden)})
    if text_attn is not None:
        targets["text_attention"] = text_attn.half()
    return targets


class Adapters(nn.Module):
    """Learned maps from the student's widths to the teacher's, used only by the loss (TinyBERT's
    W_h): fused tokens always, text hidden states when the student's encoder is narrower."""

    def __init__(self, fused: tuple[int, int], hidden: tuple[int, int], n_hidden: int) -> None:
        super().__init__()
        self.fused = nn.Linear(*fused)
        self.hidden = nn.ModuleList(nn.Linear(*hidden) if hidden[0] != hidden[1] else nn.Identity()
                                    for _ in range(n_hidden))


def _attention_l1(student: torch.Tensor, teacher: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Mean L1 between [B, H, T, T] attention maps over present query rows ([B, 1, T, 1]); maps
    with different head counts are compared head-averaged."""
    if student.shape[1] != teacher.shape[1]:
        student, teacher = student.mean(1, keepdim=True), teacher.mean(1, keepdim=True)
    diff = (student - teacher).abs() * rows
    return diff.sum() / (rows.sum() * student.shape[1] * student.shape[-1])


def distill_loss(student: MSAModel, adapters: Adapters, inputs: tuple[torch.Tensor, ...],
                 labels: torch.Tensor, targets: dict[str, torch.Tensor],
                 weights: DistillWeights) -> tuple[torch.Tensor, dict[str, float]]:
    """Weighted sum of the MMSLF terms (module docstring) for one batch."""
    with capture_layers(student.text_encoder) as records:
        out = student.forward_features(*inputs[:6])
    hidden, text_attn = _text_states(records, list(range(len(records))))
    task, _ = score_error_loss(out["score"], out["uncertainty"], labels)
    terms = {
        "task": task,
        "prediction": (out["score"] - targets["score"]).abs().mean(),
        "attention": (out["attention"] - targets["attention"]).abs().mean(),
        "fused": (adapters.fused(out["fused"]) - targets["fused"]).abs().mean(),
    }
    if hidden:
        mask = inputs[1].unsqueeze(-1)
        mse = [((adapt(h) - targets[f"hidden{j}"].float()) ** 2 * mask).sum() / (mask.sum() * h.shape[-1])
               for j, (h, adapt) in enumerate(zip(hidden, adapters.hidden, strict=True))]
        terms["hidden"] = torch.stack(mse).mean()
        terms["text_attention"] = _attention_l1(text_attn, targets["text_attention"].float(),
                                                mask.unsqueeze(1))
    loss = sum(getattr(weights, k) * v for k, v in terms.items())
    return loss, {"loss": float(loss.detach()), **{k: float(v.detach()) for k, v in terms.items()}}


def _fused_widths(student: MSAModel, teacher: MSAModel, probe: tuple[torch.Tensor, ...]) -> tuple[int, int]:
    """Check on one small batch that student and teacher can be compared; return their fused widths."""
    if (student.text_encoder is None) != (teacher.text_encoder is None):
        raise UserError("student and teacher must both read MiniLM tokens or both read text features")
    s_enc, t_enc = student.text_encoder, teacher.text_encoder
    if s_enc is not None and len(s_enc.layers) > len(t_enc.layers):
        raise UserError("the student's text encoder has more layers than the teacher's")
    with torch.inference_mode():
        s = student.eval().forward_features(*probe[:6])
        t = teacher.forward_features(*probe)
    if s["attention"].shape != t["attention"].shape:
        raise UserError(f"student and teacher fusion layouts differ (attention {tuple(s['attention'].shape)} "
                        f"vs {tuple(t['attention'].shape)}): give them the same n_fusion and strides")
    return s["fused"].shape[-1], t["fused"].shape[-1]


def gap(student: MSAModel, teacher: MSAModel, data: PromptedData, batch_size: int = 64) -> float:
    """Mean |student - teacher| score on `data` (teacher with prompts, student without)."""
    t = predict(teacher, data, batch_size)
    s = predict(student, data.without_prompts(), batch_size)
    return float(np.abs(s - t).mean())


def distill(teacher: MSAModel, student: MSAModel, train: PromptedData, valid: PromptedData,
            out_dir: str | Path, *, epochs: int = 3, batch_size: int = 64, lr: float = 1e-3,
            text_lr: float | None = 1e-4,
            weight_decay: float = 0.01, warmup_frac: float = 0.1, seed: int = 0,
            weights: DistillWeights | None = None, select: str = "mae", grad_clip: float = 1.0,
            scale: str | None = None, extra_config: dict | None = None, data_info: dict | None = None,
            progress: bool = True) -> dict:
    """Distil `teacher` into `student` on `train`, select on `valid`, write the student's run folder.

    text_lr: learning rate of the student's MiniLM-cut text encoder (None: `lr`); extra_config and
    data_info go into the run's config.json ("distill" and "data", as the trainer records them).
    Returns {"run_dir", "best_epoch", "valid" (student), "teacher_valid", "gap_valid", "history",
    "predictions": {"teacher", "student"} on `valid` (numpy, row order)}.
    """
    if len(train) == 0 or len(valid) == 0:
        raise UserError("distillation needs non-empty train and valid data")
    if epochs < 1 or batch_size < 1:
        raise UserError("epochs and batch size must be at least 1")
    weights = weights or DistillWeights()
    scale = scale or train.scale
    seed_everything(seed)
    teacher.eval()
    probe = trim_padding(train.inputs(slice(0, 2)))
    width_s, width_t = _fused_widths(student, teacher, probe)
    t_layers = len(teacher.text_encoder.layers) if teacher.text_encoder is not None else 0
    s_layers = len(student.text_encoder.layers) if student.text_encoder is not None else 0
    index = layer_map(s_layers, t_layers) if s_layers else []
    hidden_widths = (student.text_encoder.hidden, teacher.text_encoder.hidden) if index else (0, 0)
    adapters = Adapters((width_s, width_t), hidden_widths, len(index))
    params = nn.ModuleDict({"student": student, "adapters": adapters})
    batches = bucketed_batches(train, batch_size)
    rng = np.random.default_rng(seed)
    plain_valid = valid.without_prompts()
    teacher_pred = predict(teacher, valid)  # fixed: predicted once
    teacher_valid = msa_metrics(valid.labels, teacher_pred, scale)
    cache: list[Batch] = []
    with progress_bar(not progress) as bar:  # the teacher is fixed: its targets are computed once
        task = bar.add_task("teacher outputs", total=len(batches), status="computed once")
        for idx in batches:
            bar.update(task, advance=1)
            inputs = trim_padding(train.inputs(idx))
            labels = torch.from_numpy(train.labels[idx])
            cache.append((inputs, labels, teacher_targets(teacher, inputs, index)))

    def step_loss(batch: Batch):
        inputs, labels, targets = batch
        return distill_loss(student, adapters, inputs, labels, targets, weights)

    valid_preds: list[np.ndarray] = []  # one per validation call, so the selected one is not predicted again

    def validate():
        student_pred = predict(student, plain_valid)
        valid_preds.append(student_pred)
        metrics = msa_metrics(valid.labels, student_pred, scale)
        gap_valid = float(np.abs(student_pred - teacher_pred).mean())
        return metrics[select], {"valid": metrics, "gap_valid": gap_valid}

    optim = Optim(lr, text_lr, weight_decay, warmup_frac, grad_clip)
    outcome = fit(student, lambda _epoch: [cache[b] for b in rng.permutation(len(cache))], len(cache),
                  step_loss, validate, epochs=epochs, optim=optim, select=select,
                  lower_is_better=select in LOWER_IS_BETTER, params=params, progress=progress)
    best_epoch, history = outcome.best_epoch, outcome.history
    # the selected weights' predictions: the last call when a hook re-validated, else the best epoch's
    best_pred = valid_preds[-1] if outcome.hooks else valid_preds[best_epoch - 1]
    result = {"valid": outcome.final["valid"], "teacher_valid": teacher_valid,
              "gap_valid": outcome.final["gap_valid"], "test": None,
              "selected": {"epoch": best_epoch, "by": select}, "history": history}
    hyper = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "text_lr": text_lr,
             "weight_decay": weight_decay, "warmup_frac": warmup_frac, "grad_clip": grad_clip,
             "select": select, "seed": seed,
             "weights": asdict(weights), "layer_map": index}
    save_run(out_dir, student, {"scale": scale, "distill": {**hyper, **(extra_config or {})},
                                "data": {**(data_info or {}),
                                         "sizes": {"train": len(train), "valid": len(valid)}}}, result)
    return {"run_dir": str(out_dir), "best_epoch": best_epoch, **result,
            "predictions": {"teacher": teacher_pred, "student": best_pred}}
