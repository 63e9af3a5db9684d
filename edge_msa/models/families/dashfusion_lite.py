"""`dashfusion_lite`: DashFusion (dual-stream alignment + hierarchical bottleneck fusion,
IEEE T-NNLS 2025) for edge devices.

Exported forward (what runs on the device):
1. each modality -> `ModalityInput` -> a small masked Transformer over its frames;
2. temporal alignment (first stream): the text tokens query the audio frames and the vision
   frames (cross-attention, additive key-padding masks); the answers are added to the text, each
   gated by its modality's presence flag, so an absent modality adds exactly nothing;
3. hierarchical bottleneck fusion: `n_bottleneck` learned tokens, seeded with the pooled aligned
   stream, go through `levels` levels; at each level they attend to each other, gather from every
   present modality (one cross-attention per modality, gated by presence, as the paper's
   multi-cross-attention), and every modality reads them back, so modalities exchange information
   only through the bottleneck; then the bottleneck keeps its first half (8 -> 4 -> 2 ...): a fixed
   Python-int slice, static for export;
4. the first bottleneck token and each modality's masked mean (0 when absent) plus the presence
   flags -> a score head whose second output is the predicted absolute error.

Training only (`training_loss`, never in the exported graph): semantic alignment (second
stream): an InfoNCE loss between the projected summaries of the text, audio, vision and fused
representations of the same sample (other samples of the batch are the negatives; pairs with an
absent side are left out); supervised-contrastive refinement (SupCon) of the fused summary with
the sentiment polarity (negative / neutral / positive) as the class; LNLN's random token/frame
drop and whole-modality drop (`corrupt_for_training`). The reference code runs its tokenizer
inside forward and takes labels there to build contrastive pairs; here forward takes token ids
and masks only, and labels reach the losses through `training_loss`. Weights: the paper's 0.2 for
the contrastive term, the same for SupCon.
"""

from __future__ import annotations

import torch
from torch import nn

from edge_msa.features.spec import FeatureSpec
from edge_msa.models.attention import NEG
from edge_msa.models.base import MSAModel
from edge_msa.models.blocks import (
    Attention,
    InputsTextEncoder,
    TransformerLayer,
    corrupt_for_training,
    encode_frames,
    layer_stacks,
    masked_mean,
    modality_inputs,
    present,
)
from edge_msa.models.heads import ScoreHead, score_error_loss
from edge_msa.models.registry import register_model


class CrossRead(nn.Module):
    """Pre-norm cross-attention of `x` over one modality's frames, gated by its presence [B, 1]."""

    def __init__(self, d: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.norm_x, self.norm_ctx = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = Attention(d, heads, dropout)

    def forward(self, x: torch.Tensor, context: torch.Tensor, bias: torch.Tensor | None,
                gate: torch.Tensor) -> torch.Tensor:
        return gate.unsqueeze(-1) * self.attn(self.norm_x(x), self.norm_ctx(context), bias)


class FeedForward(nn.Module):
    def __init__(self, d: int, ffn: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, ffn), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(ffn, d), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


class BottleneckLevel(nn.Module):
    """One level: bottleneck self-attention, gather from each modality, each modality reads back."""

    def __init__(self, d: int, heads: int, ffn: int, dropout: float) -> None:
        super().__init__()
        self.self_attn = TransformerLayer(d, heads, ffn, dropout)
        self.gather = nn.ModuleList(CrossRead(d, heads, dropout) for _ in range(3))
        self.gather_ffn = FeedForward(d, ffn, dropout)
        self.read = nn.ModuleList(CrossRead(d, heads, dropout) for _ in range(3))
        self.read_ffn = nn.ModuleList(FeedForward(d, ffn, dropout) for _ in range(3))

    def forward(self, b: torch.Tensor, hs: list[torch.Tensor], biases: list[torch.Tensor],
                p: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        b = self.self_attn(b)
        for m, gather in enumerate(self.gather):
            b = b + gather(b, hs[m], biases[m], p[:, m : m + 1])
        b = self.gather_ffn(b)
        ones = p.new_ones(p.shape[0], 1)  # every modality reads the bottleneck (always present)
        hs = [ffn(h + read(h, b, None, ones))
              for h, read, ffn in zip(hs, self.read, self.read_ffn, strict=True)]
        return b, hs


class DashFusionLite(InputsTextEncoder, MSAModel):
    def __init__(self, spec: FeatureSpec, d: int = 128, heads: int = 8, ffn: int | None = None,
                 enc_depth: int = 2, levels: int = 3, n_bottleneck: int = 8, proj_dim: int = 64,
                 dropout: float = 0.1, text_layers: int = 6, pretrained: bool = True,
                 freeze_text: bool = False, temperature: float = 0.1, w_semantic: float = 0.2,
                 w_supcon: float = 0.2, max_rate: float = 1.0, complete_frac: float = 0.5,
                 whole_drop: float = 0.15) -> None:
        config = {k: v for k, v in locals().items() if k not in ("self", "spec", "__class__")}
        super().__init__(spec, config)
        ffn = ffn or 2 * d
        self.inputs = modality_inputs(spec, d, text_layers=text_layers, pretrained=pretrained,
                                      freeze=freeze_text, dropout=dropout)
        self.encoders = layer_stacks(d, heads, ffn, dropout, enc_depth)
        self.align = nn.ModuleList(CrossRead(d, heads, dropout) for _ in range(2))  # text <- audio, vision
        self.align_ffn = FeedForward(d, ffn, dropout)
        self.bottleneck = nn.Parameter(torch.randn(1, n_bottleneck, d) * 0.02)
        self.levels = nn.ModuleList(BottleneckLevel(d, heads, ffn, dropout) for _ in range(levels))
        self.norms = nn.ModuleList(nn.LayerNorm(d) for _ in range(4))  # fused, text, audio, vision
        self.head = ScoreHead(4 * d + 3, d, dropout)
        # training only: never called by forward, so never exported
        self.projectors = nn.ModuleList(nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, proj_dim))
                                        for _ in range(4))

    def keep_sizes(self) -> list[int]:
        """Bottleneck tokens entering each level: halved per level, at least one."""
        n = self.bottleneck.shape[1]
        return [max(1, n >> i) for i in range(len(self.levels))]

    def parts(self, text, text_mask, audio, audio_mask, vision, vision_mask) -> dict[str, torch.Tensor]:
        """The whole forward pass with its summaries (forward returns score and uncertainty)."""
        pairs = ((text, text_mask), (audio, audio_mask), (vision, vision_mask))
        encoded = [encode_frames(inp, layers, x, m)
                   for inp, layers, (x, m) in zip(self.inputs, self.encoders, pairs, strict=True)]
        hs, biases = [h for h, _ in encoded], [bias for _, bias in encoded]
        masks = (text_mask, audio_mask, vision_mask)
        p = torch.cat([present(m) for m in masks], dim=1)
        # temporal alignment: text frames gather the audio and vision frames they line up with
        aligned = hs[0]
        for k, read in enumerate(self.align, start=1):
            aligned = aligned + read(hs[0], hs[k], biases[k], p[:, k : k + 1])
        aligned = self.align_ffn(aligned)
        hs[0] = aligned
        b = self.bottleneck.expand(text.shape[0], -1, -1) + masked_mean(aligned, text_mask).unsqueeze(1)
        for keep, level in zip(self.keep_sizes(), self.levels, strict=True):
            b, hs = level(b[:, :keep], hs, biases, p)
        fused = self.norms[0](b[:, 0])
        summaries = [fused] + [norm(masked_mean(h, m)) * p[:, i : i + 1]
                               for i, (norm, h, m) in enumerate(zip(self.norms[1:], hs, masks, strict=True))]
        score, uncertainty = self.head(torch.cat([*summaries, p], dim=1))
        return {"score": score, "uncertainty": uncertainty, "summaries": summaries, "p": p}

    def forward(self, text, text_mask, audio, audio_mask, vision, vision_mask):
        out = self.parts(text, text_mask, audio, audio_mask, vision, vision_mask)
        return out["score"], out["uncertainty"]

    def training_loss(self, inputs, labels):
        cfg = self.config
        if self.training:
            inputs, _ = corrupt_for_training(inputs, cfg["max_rate"], cfg["complete_frac"], cfg["whole_drop"])
        out = self.parts(*inputs)
        loss, logs = score_error_loss(out["score"], out["uncertainty"], labels)
        logs = {"sentiment": logs["loss"], "mae": logs["mae"]}
        z = [nn.functional.normalize(proj(s), dim=-1) for proj, s in zip(self.projectors, out["summaries"],
                                                                         strict=True)]
        flags = torch.cat([out["p"].new_ones(labels.shape[0], 1), out["p"]], dim=1)  # fused always present
        semantic = self._semantic(z, flags)
        supcon = supervised_contrastive(z[0], torch.sign(labels), cfg["temperature"])
        loss = loss + cfg["w_semantic"] * semantic + cfg["w_supcon"] * supcon
        logs.update(semantic=float(semantic.detach()), supcon=float(supcon.detach()),
                    loss=float(loss.detach()))
        return loss, logs

    def _semantic(self, z: list[torch.Tensor], flags: torch.Tensor) -> torch.Tensor:
        """Mean symmetric InfoNCE over the pairs of (fused, text, audio, vision) summaries."""
        terms = [info_nce(z[i], z[j], flags[:, i], flags[:, j], self.config["temperature"])
                 for i in range(4) for j in range(i + 1, 4)]
        return torch.stack(terms).mean()


def info_nce(x: torch.Tensor, y: torch.Tensor, px: torch.Tensor, py: torch.Tensor,
             temperature: float) -> torch.Tensor:
    """Symmetric InfoNCE between unit vectors x[i] and y[i] (positives) vs y[j], x[j] (negatives);
    rows and candidates whose modality is absent (px/py = 0) are left out."""
    logits = x @ y.T / temperature
    valid = px * py
    loss = 0.0
    for lg, cand in ((logits, py), (logits.T, px)):
        lg = lg + (1.0 - cand)[None, :] * NEG
        ce = nn.functional.cross_entropy(lg, torch.arange(lg.shape[0], device=lg.device), reduction="none")
        loss = loss + (ce * valid).sum() / valid.sum().clamp(min=1.0)
    return loss / 2


def supervised_contrastive(z: torch.Tensor, classes: torch.Tensor, temperature: float) -> torch.Tensor:
    """SupCon (Khosla et al. 2020) on unit vectors: pull together samples of one class; anchors
    without a positive in the batch are left out."""
    n = z.shape[0]
    eye = torch.eye(n, dtype=torch.bool, device=z.device)
    logits = (z @ z.T / temperature).masked_fill(eye, NEG)
    log_prob = logits - logits.logsumexp(dim=1, keepdim=True)
    positive = ((classes[:, None] == classes[None, :]) & ~eye).to(z.dtype)
    count = positive.sum(1)
    per_anchor = -(log_prob * positive).sum(1) / count.clamp(min=1.0)
    has = (count > 0).to(z.dtype)
    return (per_anchor * has).sum() / has.sum().clamp(min=1.0)


TINY = dict(d=64, heads=4, enc_depth=1, levels=2, n_bottleneck=8, proj_dim=32)
SMALL = dict(d=128, heads=8, enc_depth=2, levels=3, n_bottleneck=8, proj_dim=64)
# for tests: narrow, one MiniLM layer from scratch
TEST = dict(d=32, heads=2, enc_depth=1, levels=2, n_bottleneck=4, proj_dim=16, text_layers=1,
            pretrained=False)


@register_model("dashfusion_lite", {"tiny": TINY, "small": SMALL, "test": TEST})
def dashfusion_lite(spec: FeatureSpec, **kwargs) -> DashFusionLite:
    return DashFusionLite(spec, **kwargs)
