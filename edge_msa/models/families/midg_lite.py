"""`midg_lite`: MIDG (mixture of invariant experts + cross-modal adapter for multimodal domain
generalisation, arXiv 2512.07430) for edge devices. Only the paper's abstract is public, so
this is our reading of it, not a reproduction.

Exported forward (what runs on the device):
1. each modality -> `ModalityInput` -> a small masked Transformer -> masked mean -> LayerNorm:
   one summary s_m per modality (0 when absent);
2. cross-modal adapter: each modality receives a low-rank projection (rank `adapter_rank`, the
   up-projection starts at zero so training starts from the plain summaries) of the mean of the
   OTHER present modalities' summaries: a_m = s_m + U_m GELU(D_m ctx_m). An absent modality
   (s_m = 0) is thereby represented by what the others know about it;
3. mixture of experts: a trunk fuses [a_t, a_a, a_v, presence flags]; a softmax gate over the
   fused features weighs `n_experts` small MLP experts, all evaluated (dense, no top-k routing:
   no data-dependent control flow, and each expert is plain `nn.Linear`s that PT2E quantizes);
4. a score head on fused + mixture whose second output is the predicted absolute error.

Invariance penalty (training only, `training_loss`): V-REx (Krueger et al., ICML 2021), the
variance of the sentiment risk across environments. Why this choice:
- the trainer passes no domain labels, and a mixed-corpus batch holds ONE corpus
  (`edge_msa.data.mix`), so per-domain risks inside a batch do not exist, and chunks of one batch
  are i.i.d. copies whose risk variance would be noise;
- the shift an edge model meets is in how it senses: words lost by ASR, frames dropped, a camera or
  microphone gone. So the environments are three views of each batch made with the project's own
  corruptions: as given; LNLN's random token/frame drop (rate ~ U(0, max_rate)); whole modalities
  dropped (`whole_drop` per sample and modality, at least one kept). All three go through the
  model as one concatenated batch (one forward pass);
- V-REx penalises the spread of the risks directly and works with the L1 regression risk; IRMv1's
  gradient penalty would need a second backward pass through the whole model on every step.
A small load-balancing term (Switch-Transformer style: n_experts * sum of squared mean gate
weights, minus 1; 0 when every expert is used alike) keeps the gate from collapsing onto one
expert early. Leave-one-domain-out evaluation across the real corpora and speakers is
`edge-msa eval RUN --protocol domains` (`edge_msa.train.domain_shift`), for every family.
"""

from __future__ import annotations

import torch
from torch import nn

from edge_msa.features.spec import FeatureSpec
from edge_msa.models.base import MSAModel
from edge_msa.models.blocks import (
    InputsTextEncoder,
    corrupt_for_training,
    layer_stacks,
    modality_inputs,
    pooled_summaries,
)
from edge_msa.models.heads import ScoreHead, score_error_loss
from edge_msa.models.registry import register_model

ENVIRONMENTS = ("clean", "frames", "modalities")  # the views `environments` makes, in order


class LowRankAdapter(nn.Module):
    """ctx [B, d] -> [B, d] through rank r; starts as zero (the up-projection is zero-initialised)."""

    def __init__(self, d: int, rank: int) -> None:
        super().__init__()
        self.down = nn.Linear(d, rank)
        self.up = nn.Linear(rank, d)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, ctx: torch.Tensor) -> torch.Tensor:
        return self.up(nn.functional.gelu(self.down(ctx)))


class MIDGLite(InputsTextEncoder, MSAModel):
    def __init__(self, spec: FeatureSpec, d: int = 128, heads: int = 8, ffn: int | None = None,
                 depth: int = 2, n_experts: int = 4, expert_hidden: int | None = None, adapter_rank: int = 16,
                 dropout: float = 0.1, text_layers: int = 6, pretrained: bool = True,
                 freeze_text: bool = False, w_invariance: float = 10.0, w_balance: float = 0.01,
                 max_rate: float = 1.0, whole_drop: float = 0.3) -> None:
        config = {k: v for k, v in locals().items() if k not in ("self", "spec", "__class__")}
        super().__init__(spec, config)
        ffn = ffn or 2 * d
        hidden = expert_hidden or d
        self.inputs = modality_inputs(spec, d, text_layers=text_layers, pretrained=pretrained,
                                      freeze=freeze_text, dropout=dropout)
        self.encoders = layer_stacks(d, heads, ffn, dropout, depth)
        self.pool_norms = nn.ModuleList(nn.LayerNorm(d) for _ in range(3))
        self.adapters = nn.ModuleList(LowRankAdapter(d, adapter_rank) for _ in range(3))
        self.trunk = nn.Sequential(nn.Linear(3 * d + 3, d), nn.GELU(), nn.LayerNorm(d))
        self.gate = nn.Linear(d, n_experts)
        self.experts = nn.ModuleList(
            nn.Sequential(nn.Linear(d, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, d))
            for _ in range(n_experts))
        self.head = ScoreHead(d, d, dropout)

    def summaries(self, text, text_mask, audio, audio_mask, vision, vision_mask):
        """-> s [B, 3, d] pooled modality summaries (0 when absent), p [B, 3] presence flags."""
        pairs = ((text, text_mask), (audio, audio_mask), (vision, vision_mask))
        return pooled_summaries(self.inputs, self.encoders, self.pool_norms, pairs)

    def adapt(self, s: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        """Cross-modal adapter: each modality + a low-rank projection of the other present ones' mean."""
        total, count = s.sum(1, keepdim=True), p.sum(1, keepdim=True)  # absent summaries are 0
        others = (total - s) / (count - p).clamp(min=1.0).unsqueeze(-1)  # mean over the other present ones
        return torch.stack([s[:, m] + adapter(others[:, m]) for m, adapter in enumerate(self.adapters)],
                           dim=1)

    def parts(self, text, text_mask, audio, audio_mask, vision, vision_mask) -> dict[str, torch.Tensor]:
        """The whole forward pass with the gate weights (forward returns score and uncertainty)."""
        s, p = self.summaries(text, text_mask, audio, audio_mask, vision, vision_mask)
        fused = self.trunk(torch.cat([self.adapt(s, p).flatten(1), p], dim=1))
        gate = torch.softmax(self.gate(fused), dim=-1)  # [B, n_experts], sums to 1
        experts = torch.stack([e(fused) for e in self.experts], dim=1)  # [B, n_experts, d]
        mixed = (gate.unsqueeze(-1) * experts).sum(1)
        score, uncertainty = self.head(fused + mixed)
        return {"score": score, "uncertainty": uncertainty, "gate": gate, "p": p}

    def forward(self, text, text_mask, audio, audio_mask, vision, vision_mask):
        out = self.parts(text, text_mask, audio, audio_mask, vision, vision_mask)
        return out["score"], out["uncertainty"]

    def environments(self, inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        """The batch as given, with random token/frame drop, and with whole modalities dropped,
        concatenated along the batch axis (same shapes, so one forward pass)."""
        cfg = self.config
        frames, _ = corrupt_for_training(inputs, cfg["max_rate"], 0.0, 0.0)
        modalities, _ = corrupt_for_training(inputs, 0.0, 1.0, cfg["whole_drop"])
        return tuple(torch.cat(views, dim=0) for views in zip(inputs, frames, modalities, strict=True))

    def training_loss(self, inputs, labels):
        cfg = self.config
        n_env = len(ENVIRONMENTS) if self.training else 1  # evaluation: the batch as given, no penalty
        if self.training:
            inputs = self.environments(inputs)
        out = self.parts(*inputs)
        target = labels.repeat(n_env)
        # L1 + the uncertainty's Laplace NLL over all views; their L1 mean is the mean of the risks
        loss, logs = score_error_loss(out["score"], out["uncertainty"], target)
        risks = (out["score"] - target).abs().reshape(n_env, -1).mean(1)
        invariance = risks.var(unbiased=False)
        usage = out["gate"].mean(0)
        balance = usage.numel() * usage.pow(2).sum() - 1.0
        loss = loss + cfg["w_invariance"] * invariance + cfg["w_balance"] * balance
        logs |= {"loss": float(loss.detach()), "invariance": float(invariance.detach()),
                 "balance": float(balance.detach())}
        logs |= {f"risk_{name}": float(r)
                 for name, r in zip(ENVIRONMENTS[:n_env], risks.detach(), strict=True)}
        return loss, logs


TINY = dict(d=64, heads=4, depth=1, n_experts=4, expert_hidden=64, adapter_rank=8)
SMALL = dict(d=128, heads=8, depth=2, n_experts=4, expert_hidden=128, adapter_rank=16)
# for tests: narrow, one MiniLM layer from scratch
TEST = dict(d=32, heads=2, depth=1, n_experts=3, expert_hidden=32, adapter_rank=4, text_layers=1,
            pretrained=False)


@register_model("midg_lite", {"tiny": TINY, "small": SMALL, "test": TEST})
def midg_lite(spec: FeatureSpec, **kwargs) -> MIDGLite:
    return MIDGLite(spec, **kwargs)
