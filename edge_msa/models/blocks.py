"""Export-friendly building blocks shared by the model families.

Everything here follows the model contract: float masks (1 = present), additive attention biases
instead of boolean indexing, no tensor-value dependent Python control flow, so every block
`torch.export`s with static or dynamic time axes. Attention is written out (matmul + softmax)
rather than `scaled_dot_product_attention`, which lowers to more ops XNNPACK cannot delegate
(`edge_msa.models.attention`).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from edge_msa.data.missing import random_missing
from edge_msa.errors import UserError
from edge_msa.features.spec import MINILM_VOCAB, FeatureSpec, ModalitySpec
from edge_msa.features.text import PAD_ID
from edge_msa.models.attention import key_padding_bias, multi_head_attention, split_fused_projection
from edge_msa.models.heads import masked_mean, present
from edge_msa.models.text_encoder import minilm_encoder

__all__ = ["TOKEN_KIND", "Attention", "InputsTextEncoder", "ModalityInput", "PrefixEncoder",
           "TransformerLayer", "corrupt_for_training", "encode_frames", "key_padding_bias", "layer_stacks",
           "masked_mean", "modality_inputs", "pooled_summaries", "present", "sinusoidal_positions"]

TOKEN_KIND = "tokens:minilm-l6"
def sinusoidal_positions(t: int, d: int, ref: torch.Tensor) -> torch.Tensor:
    """[t, d] fixed sine/cosine positions, computed on the fly: no table, so no length limit."""
    pos = torch.arange(t, device=ref.device, dtype=ref.dtype)[:, None]
    freq = torch.exp(torch.arange(0, d, 2, device=ref.device, dtype=ref.dtype) * (-math.log(1e4) / d))
    angle = pos * freq
    return torch.stack([angle.sin(), angle.cos()], dim=-1).reshape(t, d)


class Attention(nn.Module):
    """Multi-head attention of queries `x` [B, Tq, d] over `context` [B, Tk, d]."""

    def __init__(self, d: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if d % heads:
            raise UserError(f"width {d} is not divisible by {heads} heads")
        self.heads = heads
        self.q, self.k, self.v = (nn.Linear(d, d) for _ in range(3))
        self.out = nn.Linear(d, d)
        self.drop = nn.Dropout(dropout)
        # checkpoints before edge-msa split the projections hold one fused `kv`
        self._register_load_state_dict_pre_hook(
            lambda state, prefix, *_: split_fused_projection(state, prefix, "kv", ("k", "v")))

    def forward(self, x: torch.Tensor, context: torch.Tensor, bias: torch.Tensor | None = None,
                return_probs: bool = False):
        """-> output [B, Tq, d], or (output, probabilities [B, heads, Tq, Tk]) with `return_probs`
        (attention maps are what MMSLF's distillation matches)."""
        ctx, probs = multi_head_attention(self.q(x), self.k(context), self.v(context), self.heads,
                                          bias, self.drop)
        out = self.out(ctx)
        return (out, probs) if return_probs else out


class TransformerLayer(nn.Module):
    """Pre-norm Transformer layer: self-attention, optional cross-attention, GELU feed-forward."""

    def __init__(self, d: int, heads: int, ffn: int, dropout: float = 0.1, cross: bool = False) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(d)
        # no dropout on attention probabilities: over 300-500 frames its B x H x T x T mask cost
        # more than the rest of a tiny layer; residual and feed-forward dropout remain
        self.attn = Attention(d, heads)
        self.cross = Attention(d, heads) if cross else None
        self.norm_q = nn.LayerNorm(d) if cross else None
        self.norm_ctx = nn.LayerNorm(d) if cross else None
        self.norm2 = nn.LayerNorm(d)
        self.ffn = nn.Sequential(nn.Linear(d, ffn), nn.GELU(), nn.Dropout(dropout), nn.Linear(ffn, d))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None = None,
                context: torch.Tensor | None = None,
                context_bias: torch.Tensor | None = None) -> torch.Tensor:
        h = self.norm1(x)
        x = x + self.drop(self.attn(h, h, bias))
        if self.cross is not None:
            x = x + self.drop(self.cross(self.norm_q(x), self.norm_ctx(context), context_bias))
        return x + self.drop(self.ffn(self.norm2(x)))


class PrefixEncoder(nn.Module):
    """Learnable prefix tokens + a frame sequence -> the prefix tokens after `depth` layers.

    The prefix compresses any number of frames into `n_prefix` tokens (LNLN keeps 8 x 128), so
    everything downstream has a fixed size whatever the time axis. The prefix is always present,
    so a fully masked (absent) modality still gives finite tokens.
    """

    def __init__(self, d: int, n_prefix: int, depth: int, heads: int, ffn: int,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.n_prefix = n_prefix
        self.prefix = nn.Parameter(torch.randn(1, n_prefix, d) * 0.02)
        self.layers = nn.ModuleList(TransformerLayer(d, heads, ffn, dropout) for _ in range(depth))
        self.norm = nn.LayerNorm(d)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x [B, T, d], mask [B, T] -> [B, n_prefix, d]."""
        b = x.shape[0]
        seq = torch.cat([self.prefix.expand(b, -1, -1), x], dim=1)
        bias = key_padding_bias(torch.cat([mask.new_ones(b, self.n_prefix), mask], dim=1))
        for layer in self.layers:
            seq = layer(seq, bias)
        return self.norm(seq[:, : self.n_prefix])


class ModalityInput(nn.Module):
    """One modality's raw input -> frames [B, T, d].

    `tokens:minilm-l6` text: the packaged MiniLM (`self.encoder`, excluded from parameter
    counts, frozen or fine-tuned) then a Linear from its 384-d states. Any feature kind
    (MMSA's 768-d BERT vectors, COVAREP, log-mel, blendshapes, ...): a Linear from `dim`,
    plus sinusoidal positions. Both end in LayerNorm so every modality enters at one scale.
    """

    def __init__(self, mspec: ModalitySpec, d: int, *, text_layers: int = 6, pretrained: bool = True,
                 freeze: bool = False, dropout: float = 0.1) -> None:
        super().__init__()
        if d % 2:
            raise UserError(f"model width must be even (sinusoidal positions), got {d}")
        if mspec.is_tokens:
            if mspec.kind != TOKEN_KIND or mspec.dim != MINILM_VOCAB:
                raise UserError(f"token input must be {TOKEN_KIND!r} with vocabulary {MINILM_VOCAB}, "
                                f"got {mspec.kind!r} ({mspec.dim})")
            self.encoder = minilm_encoder(text_layers, pretrained=pretrained)
            self.encoder.requires_grad_(not freeze)
            width = self.encoder.hidden
        else:
            self.encoder = None
            width = mspec.dim
        self.frozen = freeze
        self.proj = nn.Linear(width, d)
        self.norm = nn.LayerNorm(d)
        self.drop = nn.Dropout(dropout)

    def train(self, mode: bool = True) -> ModalityInput:
        super().train(mode)
        if self.frozen and self.encoder is not None:
            self.encoder.eval()  # a frozen encoder keeps its dropout off while the rest trains
        return self

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.encoder is not None:
            return self.drop(self.norm(self.proj(self.encoder(x, mask))))
        h = self.norm(self.proj(x))
        return self.drop(h + sinusoidal_positions(h.shape[1], h.shape[2], h))


class InputsTextEncoder:
    """Mixin for an `MSAModel` whose `self.inputs` comes from `modality_inputs`: `text_encoder` is
    the text input's MiniLM (excluded from parameter counts), or None for a features-only text.
    Put it before `MSAModel` in the bases; it holds no parameters, so state_dict keys are untouched."""

    @property
    def text_encoder(self) -> nn.Module | None:
        """The MiniLM of a token spec (excluded from parameter counts), else None."""
        return self.inputs[0].encoder


def modality_inputs(spec: FeatureSpec, d: int, *, text_layers: int = 6, pretrained: bool = True,
                    freeze: bool = False, dropout: float = 0.1) -> nn.ModuleList:
    """The three `ModalityInput`s of `spec`, in input order (text, audio, vision); index 0 holds
    the text encoder (a family's `text_encoder` is `self.inputs[0].encoder`)."""
    return nn.ModuleList(
        ModalityInput(m, d, text_layers=text_layers, pretrained=pretrained, freeze=freeze, dropout=dropout)
        for m in (spec.text, spec.audio, spec.vision))


def layer_stacks(d: int, heads: int, ffn: int, dropout: float, depth: int, n: int = 3) -> nn.ModuleList:
    """`n` independent stacks (one per modality) of `depth` `TransformerLayer`s, for `encode_frames`."""
    return nn.ModuleList(
        nn.ModuleList(TransformerLayer(d, heads, ffn, dropout) for _ in range(depth)) for _ in range(n))


def encode_frames(inp: ModalityInput, layers: nn.ModuleList, x: torch.Tensor,
                  mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One modality through its input and a masked Transformer stack -> (frames [B, T, d], the
    key-padding bias [B, 1, 1, T] it used)."""
    h, bias = inp(x, mask), key_padding_bias(mask)
    for layer in layers:
        h = layer(h, bias)
    return h, bias


def pooled_summaries(inputs: nn.ModuleList, encoders: nn.ModuleList, norms: nn.ModuleList,
                     pairs) -> tuple[torch.Tensor, torch.Tensor]:
    """Per modality: `encode_frames`, masked mean, LayerNorm, zeroed when absent.
    pairs: ((x, mask), ...) in input order -> (summaries [B, M, d], presence flags [B, M])."""
    ss, ps = [], []
    for inp, layers, norm, (x, mask) in zip(inputs, encoders, norms, pairs, strict=True):
        h, _ = encode_frames(inp, layers, x, mask)
        flag = present(mask)
        ss.append(norm(masked_mean(h, mask)) * flag)
        ps.append(flag)
    return torch.stack(ss, dim=1), torch.cat(ps, dim=1)


def corrupt_for_training(inputs: tuple[torch.Tensor, ...], max_rate: float = 1.0, complete_frac: float = 0.5,
                         whole_drop: float = 0.0) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """LNLN's training corruption (`edge_msa.data.missing.random_missing`: per sample a rate
    r ~ U(0, max_rate), r = 0 for a `complete_frac` share; tokens -> [UNK], frames -> 0, masks
    kept) plus, with probability `whole_drop` per sample and modality, the loss of a whole
    modality (mask 0, content 0/[PAD]; at least one modality is kept). Training only.

    Returns the corrupted inputs and the share of each sample's present text left intact [B]
    (0 when the text is absent or dropped whole): the target of a completeness estimator.
    """
    out = list(random_missing(inputs, max_rate, complete_frac))
    text, text_mask = inputs[0], inputs[1]
    same = out[0] == text if text.dim() == 2 else (out[0] == text).all(-1)
    kept = (same & (text_mask > 0)).sum(1) / text_mask.sum(1).clamp(min=1.0)
    b = text_mask.shape[0]
    lost = torch.rand(b, 3, device=text_mask.device) < whole_drop
    keep = (~(lost & ~lost.all(dim=1, keepdim=True))).to(text_mask.dtype)  # [B, 3]
    for i in range(3):
        x, k = out[2 * i], keep[:, i : i + 1]
        if x.dim() == 2:  # token ids: an absent text is [PAD]
            out[2 * i] = torch.where(k > 0, x, torch.full_like(x, PAD_ID))
        else:
            out[2 * i] = x * k.unsqueeze(-1)
        out[2 * i + 1] = out[2 * i + 1] * k
    return tuple(out), kept * keep[:, 0]
