"""`mmslf_teacher`: MMSLF's teacher (NeurIPS 2025), lightweight, for the student to imitate.

The teacher sees a *context prompt* (a sentence about the speaker's vocal and visual cues, from a
multimodal LLM or the built-in describer, `edge_msa.train.prompts`); the student
(`mmslf_student`) learns to match it without one. Teacher:
    text   the packaged MiniLM-L6 (top `text_trainable_layers` fine-tuned) -> Linear -> width
    prompt the SAME MiniLM on the prompt tokens, masked mean -> Linear; a learned "no prompt"
           vector stands in when a row's prompt is empty (all-zero prompt mask)
    audio, vision  strided conv slots (`FrameEncoder`)
    cross  each modality attends to [prompt; the other two modalities]; its queries are
           FiLM-modulated by the prompt (so the prompt steers what each modality looks at)
    fusion `n_fusion` learned tokens, shifted by the prompt, attend to [null; text; audio; vision]
           (`FusionLayer`); the head reads their mean.
The fusion layout (null key, strides, token count) is shared with the student so their fusion
attention maps and fused tokens can be compared one to one during distillation.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from edge_msa.features.spec import FeatureSpec
from edge_msa.models.base import MSAModel
from edge_msa.models.blocks import Attention, ModalityInput, key_padding_bias, masked_mean, present
from edge_msa.models.heads import ScoreHead, score_error_loss
from edge_msa.models.registry import register_model
from edge_msa.models.text_encoder import MINILM, minilm_encoder


class FrameEncoder(nn.Module):
    """Frames [B, T, D] + mask [B, T] -> slots [B, ceil(T / stride), W] + slot mask.

    One strided convolution: cheap at 300 audio frames, and a slot is present when any of its
    frames is. The right edge is zero-padded so a single stored frame ([N, 1, D]) still works.
    """

    def __init__(self, in_dim: int, width: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.norm = nn.LayerNorm(in_dim)
        self.conv = nn.Conv1d(in_dim, width, stride, stride)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pad = (0, self.stride - 1)
        x = F.pad((self.norm(x) * mask.unsqueeze(-1)).transpose(1, 2), pad)
        slots = F.gelu(self.conv(x)).transpose(1, 2)
        slot_mask = F.max_pool1d(F.pad(mask.unsqueeze(1), pad), self.stride, self.stride).squeeze(1)
        return slots, slot_mask


class FusionLayer(nn.Module):
    """Pre-norm cross-attention block: queries attend to keys, then a feed-forward.

    `film` (optional [B, 2W] from a prompt) scales and shifts the normalised queries: the
    teacher's prompt-modulated attention. Returns (queries, head-averaged attention [B, Q, K]).
    """

    def __init__(self, width: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.norm_q = nn.LayerNorm(width)
        self.norm_k = nn.LayerNorm(width)
        self.attn = Attention(width, heads, dropout)
        self.norm_ff = nn.LayerNorm(width)
        self.ff = nn.Sequential(nn.Linear(width, 2 * width), nn.GELU(), nn.Dropout(dropout),
                                nn.Linear(2 * width, width))
        self.drop = nn.Dropout(dropout)

    def forward(self, query: torch.Tensor, keys: torch.Tensor, key_mask: torch.Tensor,
                film: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        q = self.norm_q(query)
        if film is not None:
            gamma, beta = film.unsqueeze(1).chunk(2, dim=-1)
            q = q * (1.0 + gamma) + beta
        ctx, probs = self.attn(q, self.norm_k(keys), key_padding_bias(key_mask), return_probs=True)
        query = query + self.drop(ctx)
        query = query + self.drop(self.ff(self.norm_ff(query)))
        return query, probs.mean(1)


class FusionTokens(nn.Module):
    """`n` learned tokens read [null; text; audio; vision] through `layers` FusionLayers.

    The always-present null key gives attention somewhere to go when every modality is missing,
    so the output stays finite and falls back to a learned prior instead of averaging padding.
    """

    def __init__(self, width: int, n_tokens: int, layers: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.tokens = nn.Parameter(torch.randn(n_tokens, width) * 0.02)
        self.null = nn.Parameter(torch.zeros(1, 1, width))
        self.type_emb = nn.Parameter(torch.randn(3, width) * 0.02)  # text, audio, vision
        self.layers = nn.ModuleList(FusionLayer(width, heads, dropout) for _ in range(layers))

    def forward(self, parts: list[torch.Tensor], masks: list[torch.Tensor],
                shift: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """parts: three [B, T_m, W] sequences; shift: optional [B, W] added to every token.

        Returns (fused tokens [B, n, W], last layer's attention [B, n, 1 + sum T_m]).
        """
        b = parts[0].shape[0]
        keys = torch.cat([self.null.expand(b, -1, -1)]
                         + [p + self.type_emb[i] for i, p in enumerate(parts)], dim=1)
        key_mask = torch.cat([masks[0].new_ones(b, 1)] + masks, dim=1)
        x = self.tokens.unsqueeze(0).expand(b, -1, -1)
        if shift is not None:
            x = x + shift.unsqueeze(1)
        attn = key_mask.new_zeros(b, x.shape[1], keys.shape[1])
        for layer in self.layers:
            x, attn = layer(x, keys, key_mask)
        return x, attn


class MMSLFTeacher(MSAModel):
    def __init__(self, spec: FeatureSpec, width: int = 128, heads: int = 4, cross_layers: int = 1,
                 fusion_layers: int = 2, n_fusion: int = 4, audio_stride: int = 10,
                 vision_stride: int = 3, text_trainable_layers: int = 1, head_hidden: int = 64,
                 dropout: float = 0.1, pretrained: bool = True, text_layers: int = 6) -> None:
        super().__init__(spec, dict(width=width, heads=heads, cross_layers=cross_layers,
                                    fusion_layers=fusion_layers, n_fusion=n_fusion,
                                    audio_stride=audio_stride, vision_stride=vision_stride,
                                    text_trainable_layers=text_trainable_layers, head_hidden=head_hidden,
                                    dropout=dropout, pretrained=pretrained, text_layers=text_layers))
        # MiniLM tokens (or precomputed features) -> width; MiniLM also encodes the prompt
        self.text_in = ModalityInput(spec.text, width, text_layers=text_layers, pretrained=pretrained,
                                     dropout=dropout)
        # the prompt shares the text's MiniLM; feature text has none, so the prompt gets its own
        self.prompt_minilm = (minilm_encoder(text_layers, pretrained=pretrained)
                              if self.text_in.encoder is None else None)
        _freeze_below(self.prompt_encoder, text_trainable_layers)
        hidden = MINILM["hidden"]
        self.audio = FrameEncoder(spec.audio.dim, width, audio_stride)
        self.vision = FrameEncoder(spec.vision.dim, width, vision_stride)
        self.prompt_proj = nn.Linear(hidden, width)
        self.no_prompt = nn.Parameter(torch.zeros(width))
        self.cross = nn.ModuleList(
            nn.ModuleList(FusionLayer(width, heads, dropout) for _ in range(3)) for _ in range(cross_layers))
        self.film = nn.Linear(width, 2 * width)
        nn.init.zeros_(self.film.weight)  # start as plain attention; the prompt learns to steer it
        nn.init.zeros_(self.film.bias)
        self.fusion = FusionTokens(width, n_fusion, fusion_layers, heads, dropout)
        self.head = ScoreHead(width, head_hidden, dropout)

    @property
    def text_encoder(self) -> nn.Module | None:
        """The MiniLM reading the text tokens (None for feature text), for `count_parameters`."""
        return self.text_in.encoder

    @property
    def prompt_encoder(self) -> nn.Module:
        return self.prompt_minilm if self.text_in.encoder is None else self.text_in.encoder

    def encode_prompt(self, prompt: torch.Tensor | None, prompt_mask: torch.Tensor | None,
                      batch: int) -> torch.Tensor:
        """[B, W] prompt vector; rows with an empty prompt (or no prompt at all) get `no_prompt`."""
        if prompt is None or prompt_mask is None:
            return self.no_prompt.expand(batch, -1)
        pooled = self.prompt_proj(masked_mean(self.prompt_encoder(prompt, prompt_mask), prompt_mask))
        has = present(prompt_mask)
        return has * pooled + (1.0 - has) * self.no_prompt

    def forward_features(self, text, text_mask, audio, audio_mask, vision, vision_mask,
                         prompt=None, prompt_mask=None) -> dict[str, torch.Tensor]:
        """Everything distillation reads: score, uncertainty, fused tokens, fusion attention."""
        t = self.text_in(text, text_mask)
        a, a_mask = self.audio(audio, audio_mask)
        v, v_mask = self.vision(vision, vision_mask)
        p = self.encode_prompt(prompt, prompt_mask, t.shape[0])
        film = self.film(p)
        p_tok, p_mask = p.unsqueeze(1), text_mask.new_ones(t.shape[0], 1)
        parts, masks = [t, a, v], [text_mask, a_mask, v_mask]
        for layer in self.cross:
            # each modality reads the prompt and the two others; updates use the old parts
            parts = [block(parts[i], torch.cat([p_tok] + [parts[j] for j in range(3) if j != i], 1),
                           torch.cat([p_mask] + [masks[j] for j in range(3) if j != i], 1), film)[0]
                     for i, block in enumerate(layer)]
        fused, attn = self.fusion(parts, masks, shift=p)
        score, uncertainty = self.head(fused.mean(1))
        return {"score": score, "uncertainty": uncertainty, "fused": fused, "attention": attn}

    def forward(self, text, text_mask, audio, audio_mask, vision, vision_mask, prompt=None,
                prompt_mask=None):
        out = self.forward_features(text, text_mask, audio, audio_mask, vision, vision_mask,
                                    prompt, prompt_mask)
        return out["score"], out["uncertainty"]

    def training_loss(self, inputs, labels):
        """`inputs`: the six model inputs, optionally followed by (prompt, prompt_mask)."""
        return score_error_loss(*self(*inputs), labels)


def _freeze_below(encoder: nn.Module, trainable_top: int) -> None:
    """Keep only the top `trainable_top` layers trainable (-1: everything; embeddings otherwise
    frozen): fine-tuning all of MiniLM costs 4x a forward pass per step on a 2-core CPU."""
    if trainable_top < 0:
        return
    for p in encoder.parameters():
        p.requires_grad_(False)
    n = len(encoder.layers)
    for layer in encoder.layers[n - min(trainable_top, n):]:
        for p in layer.parameters():
            p.requires_grad_(True)


@register_model("mmslf_teacher", {
    "base": {},
    "tiny": {"width": 32, "heads": 2, "fusion_layers": 1, "text_layers": 1, "head_hidden": 16,
             "pretrained": False},
})
def mmslf_teacher(spec: FeatureSpec, **kwargs) -> MMSLFTeacher:
    return MMSLFTeacher(spec, **kwargs)
