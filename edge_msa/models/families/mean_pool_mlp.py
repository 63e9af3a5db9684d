"""`mean_pool_mlp`: the simplest honest multimodal baseline.

Each modality is averaged over its present frames (tokens go through a small embedding table
first), normalised, zeroed when the modality is absent, and concatenated with three presence
flags; an MLP maps that to (score, uncertainty). Tiny and fast: the test model of the trainer
and a floor every real family must beat.
"""

from __future__ import annotations

import torch
from torch import nn

from edge_msa.features.spec import FeatureSpec
from edge_msa.features.text import PAD_ID
from edge_msa.models.base import MSAModel
from edge_msa.models.heads import ScoreHead, masked_mean, present, score_error_loss
from edge_msa.models.registry import register_model


class MeanPoolMLP(MSAModel):
    def __init__(self, spec: FeatureSpec, hidden: int = 64, emb_dim: int = 32,
                 dropout: float = 0.1) -> None:
        super().__init__(spec, dict(hidden=hidden, emb_dim=emb_dim, dropout=dropout))
        if spec.text.is_tokens:
            self.text_embed = nn.Embedding(spec.text.dim, emb_dim, padding_idx=PAD_ID)
            text_width = emb_dim
        else:
            self.text_embed = nn.Identity()
            text_width = spec.text.dim
        widths = (text_width, spec.audio.dim, spec.vision.dim)
        self.norms = nn.ModuleList(nn.LayerNorm(w) for w in widths)
        self.head = ScoreHead(sum(widths) + 3, hidden, dropout)

    def forward(self, text, text_mask, audio, audio_mask, vision, vision_mask):
        frames = (self.text_embed(text), audio, vision)
        masks = (text_mask, audio_mask, vision_mask)
        flags = [present(m) for m in masks]
        pooled = [norm(masked_mean(x, m)) * f
                  for norm, x, m, f in zip(self.norms, frames, masks, flags, strict=True)]
        return self.head(torch.cat(pooled + flags, dim=-1))

    def training_loss(self, inputs, labels):
        return score_error_loss(*self(*inputs), labels)


@register_model("mean_pool_mlp", {"tiny": {"hidden": 32, "emb_dim": 16}})
def mean_pool_mlp(spec: FeatureSpec, **kwargs) -> MeanPoolMLP:
    return MeanPoolMLP(spec, **kwargs)
