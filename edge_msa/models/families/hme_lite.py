"""`hme_lite`: HME (hyper-modality enhancement, NeurIPS 2025) for edge devices.

Each modality is encoded and pooled to one vector z_m, then enriched with cues retrieved from
*other samples*: the paper retrieves within the batch, which cannot stream; here retrieval is
against a FIXED memory bank of training-set embeddings stored as buffers (so it ships inside
model.safetensors and the exported graph), so a sample at batch size 1 gets the same answer as
in a batch. Retrieval: cosine similarity averaged over the modalities both sides have, top-k,
softmax weights; the enriched cue of modality m is the weighted mean of the neighbours' m
embeddings, so a missing modality gets a stand-in from samples that look alike in the others.

Uncertainty-aware gate: an error head predicts the absolute error of the score from the
sample's own (original) features: this is the model's second output. Per modality the gate
g_m = sigmoid(a_m * log(uncertainty) + b_m) (a_m >= 0: the less sure, the more the model leans
on retrieved cues; g_m = 1 for an absent modality) mixes f_m = (1 - g_m) z_m + g_m e_m.

The bank holds embeddings only, never labels. It is filled while training as a FIFO queue of
recent training embeddings (the current batch is enqueued after its loss, so it never retrieves
itself) and rebuilt from the final model by `build_memory_bank` (`model.after_training(train)`).
Validation and test samples are never in it; when evaluating the training split, a bank entry
identical to the query on every modality they share is excluded, so no sample sees itself.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from edge_msa.data.batch import MSAData
from edge_msa.errors import UserError
from edge_msa.features.spec import FeatureSpec
from edge_msa.models.base import MSAModel
from edge_msa.models.blocks import (
    InputsTextEncoder,
    corrupt_for_training,
    layer_stacks,
    modality_inputs,
    pooled_summaries,
)
from edge_msa.models.heads import score_error_loss
from edge_msa.models.registry import register_model

SELF_MATCH = 1.0 - 1e-4  # cosine at or above this on every shared modality = the query itself


def unit_rows(x: torch.Tensor) -> torch.Tensor:
    """`F.normalize(x, dim=-1)` as a broadcast division: F.normalize expands the norms to x's shape
    first, which executorch runs as a portable copy of the whole bank every call (9% of the int8
    program's time)."""
    return x / torch.linalg.vector_norm(x, dim=-1, keepdim=True).clamp(min=1e-12)


class HMELite(InputsTextEncoder, MSAModel):
    def __init__(self, spec: FeatureSpec, d: int = 128, heads: int = 8, ffn: int | None = None,
                 depth: int = 2, dropout: float = 0.1, text_layers: int = 6, pretrained: bool = True,
                 freeze_text: bool = False, bank_size: int = 2048, top_k: int = 16,
                 temperature: float = 0.1, train_missing: bool = True, max_rate: float = 1.0,
                 complete_frac: float = 0.5, whole_drop: float = 0.15) -> None:
        config = {k: v for k, v in locals().items() if k not in ("self", "spec", "__class__")}
        super().__init__(spec, config)
        if not 1 <= top_k <= bank_size:
            raise UserError(f"top_k must be in 1..bank_size ({bank_size}), got {top_k}")
        ffn = ffn or 2 * d
        self.inputs = modality_inputs(spec, d, text_layers=text_layers, pretrained=pretrained,
                                      freeze=freeze_text, dropout=dropout)
        self.encoders = layer_stacks(d, heads, ffn, dropout, depth)
        self.pool_norms = nn.ModuleList(nn.LayerNorm(d) for _ in range(3))
        self.enrich = nn.ModuleList(nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, d))
                                    for _ in range(3))
        self.gate_scale = nn.Parameter(torch.zeros(3))
        self.gate_bias = nn.Parameter(torch.zeros(3))
        width = 3 * d + 3  # three modality vectors + presence flags
        self.fuse = nn.Sequential(nn.Dropout(dropout), nn.Linear(width, d), nn.GELU(), nn.Dropout(dropout))
        self.score = nn.Linear(d, 1)
        self.error = nn.Sequential(nn.Linear(width, d), nn.GELU(), nn.Linear(d, 1))
        self.register_buffer("bank", torch.zeros(bank_size, 3, d))
        self.register_buffer("bank_present", torch.zeros(bank_size, 3))
        self._cursor = 0  # FIFO write position while training

    def encode(self, text, text_mask, audio, audio_mask, vision, vision_mask):
        """-> z [B, 3, d] pooled modality embeddings (0 when absent), p [B, 3] presence flags."""
        pairs = ((text, text_mask), (audio, audio_mask), (vision, vision_mask))
        return pooled_summaries(self.inputs, self.encoders, self.pool_norms, pairs)

    def retrieve(self, z: torch.Tensor, p: torch.Tensor):
        """Top-k neighbours in the bank -> (cue [B, 3, d], has_cue [B, 3], index [B, k], weight [B, k])."""
        zn, bn = unit_rows(z), unit_rows(self.bank)
        common = p[:, None, :] * self.bank_present[None]  # [B, K, 3] modalities both sides have
        n_common = common.sum(-1)
        sim = (torch.einsum("bmd,kmd->bkm", zn, bn) * common).sum(-1) / n_common.clamp(min=1.0)
        valid = ((n_common > 0) & (sim < SELF_MATCH)).to(z.dtype)
        sim = sim * valid - 2.0 * (1.0 - valid)  # invalid entries rank last
        top, index = sim.topk(self.config["top_k"], dim=1)
        weight = torch.softmax(top / self.config["temperature"], dim=1) * valid.gather(1, index)
        per_mod = weight.unsqueeze(-1) * self.bank_present[index]  # [B, k, 3]
        total = per_mod.sum(1)
        cue = (per_mod.unsqueeze(-1) * self.bank[index]).sum(1) / total.clamp(min=1e-6).unsqueeze(-1)
        return cue, (total > 0).to(z.dtype), index, weight

    def head(self, z: torch.Tensor, p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Enrichment, uncertainty-aware gate and score: -> (score [B], uncertainty [B], gate [B, 3])."""
        own = torch.cat([z.flatten(1), p], dim=1)
        # detached: the error head reads the features but never shapes them
        uncertainty = nn.functional.softplus(self.error(own.detach()))[:, 0] + 1e-3
        cue, has_cue, _, _ = self.retrieve(z, p)
        enriched = torch.stack([f(cue[:, m]) for m, f in enumerate(self.enrich)], dim=1)
        enriched = enriched * has_cue.unsqueeze(-1)
        gate = torch.sigmoid(nn.functional.softplus(self.gate_scale) * uncertainty.detach().log()[:, None]
                             + self.gate_bias)
        gate = gate * p + (1.0 - p)  # an absent modality is all cue
        fused = (1.0 - gate).unsqueeze(-1) * z + gate.unsqueeze(-1) * enriched
        score = self.score(self.fuse(torch.cat([fused.flatten(1), p], dim=1)))[:, 0]
        return score, uncertainty, gate

    def forward(self, text, text_mask, audio, audio_mask, vision, vision_mask):
        score, uncertainty, _ = self.head(*self.encode(text, text_mask, audio, audio_mask, vision,
                                                       vision_mask))
        return score, uncertainty

    def training_loss(self, inputs, labels):
        cfg = self.config
        if cfg["train_missing"] and self.training:
            inputs, _ = corrupt_for_training(inputs, cfg["max_rate"], cfg["complete_frac"], cfg["whole_drop"])
        z, p = self.encode(*inputs)
        score, uncertainty, gate = self.head(z, p)
        loss, logs = score_error_loss(score, uncertainty, labels)
        logs["gate"] = float(gate.mean().detach())
        if self.training:
            self._enqueue(z.detach(), p)
        return loss, logs

    def _enqueue(self, z: torch.Tensor, p: torch.Tensor) -> None:
        k = self.bank.shape[0]
        n = min(z.shape[0], k)
        index = (self._cursor + torch.arange(n, device=z.device)) % k
        # out of place: the graph of this step's loss still holds the old bank for backward
        self.bank = self.bank.index_copy(0, index, z[:n])
        self.bank_present = self.bank_present.index_copy(0, index, p[:n])
        self._cursor = (self._cursor + n) % k

    def after_training(self, train_data: MSAData) -> dict:
        """Hook for the trainer: rebuild the bank from the final weights on the training split."""
        return {"memory_bank_entries": build_memory_bank(self, train_data)}


@torch.no_grad()
def build_memory_bank(model: HMELite, train_data: MSAData, batch_size: int = 64, seed: int = 0) -> int:
    """Fill `model`'s bank with eval-mode embeddings of (a seeded random subset of) the training
    data, at most `bank_size` rows; unused rows stay empty (never retrieved). Returns the count."""
    was_training = model.training
    model.eval()
    k = model.bank.shape[0]
    rows = np.arange(len(train_data))
    if len(rows) > k:
        rows = np.sort(np.random.default_rng(seed).permutation(len(rows))[:k])
    zs, ps = [], []
    for inputs, _ in train_data.subset(rows).batches(batch_size):
        z, p = model.encode(*inputs)
        zs.append(z)
        ps.append(p)
    bank, flags = torch.zeros_like(model.bank), torch.zeros_like(model.bank_present)
    if zs:
        bank[: len(rows)], flags[: len(rows)] = torch.cat(zs), torch.cat(ps)
    model.bank, model.bank_present = bank, flags
    model._cursor = 0
    model.train(was_training)
    return len(rows)


TINY = dict(d=64, heads=4, depth=1, bank_size=512, top_k=8)
SMALL = dict(d=128, heads=8, depth=2, bank_size=2048, top_k=16)


@register_model("hme_lite", {"tiny": TINY, "small": SMALL})
def hme_lite(spec: FeatureSpec, **kwargs) -> HMELite:
    return HMELite(spec, **kwargs)
