"""A BERT-style text encoder written for export: the packaged MiniLM-L6 and its students.

Our own ~80 lines instead of `transformers.BertModel` so the graph has no data-dependent mask
handling, exports with torch.export/ONNX/ExecuTorch as is, and so students can be cut from the
teacher (fewer layers, a factorised embedding table) while loading the same weight names.
"""

from __future__ import annotations

import torch
from safetensors.torch import load_file
from torch import nn

from edge_msa.features.text import minilm_path
from edge_msa.models.attention import key_padding_bias, multi_head_attention, split_fused_projection

MINILM = dict(vocab=30522, hidden=384, layers=6, heads=12, ffn=1536, max_pos=512)


class EncoderLayer(nn.Module):
    """Post-norm BERT layer (as MiniLM was trained); returns hidden states and attention probs."""

    def __init__(self, hidden: int, heads: int, ffn: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v = (nn.Linear(hidden, hidden) for _ in range(3))
        self.out = nn.Linear(hidden, hidden)
        self.norm1 = nn.LayerNorm(hidden, eps=1e-12)
        self.ffn_in = nn.Linear(hidden, ffn)
        self.ffn_out = nn.Linear(ffn, hidden)
        self.norm2 = nn.LayerNorm(hidden, eps=1e-12)
        self.drop = nn.Dropout(dropout)
        # checkpoints before edge-msa split the projections hold one fused `qkv`
        self._register_load_state_dict_pre_hook(
            lambda state, prefix, *_: split_fused_projection(state, prefix, "qkv", ("q", "k", "v")))

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ctx, probs = multi_head_attention(self.q(x), self.k(x), self.v(x), self.heads, bias, self.drop)
        x = self.norm1(x + self.drop(self.out(ctx)))
        x = self.norm2(x + self.drop(self.ffn_out(nn.functional.gelu(self.ffn_in(x)))))
        return x, probs


class TextEncoder(nn.Module):
    """Token ids [B, T] + float mask [B, T] -> hidden states [B, T, hidden].

    `emb_dim` < hidden factorises the vocabulary table (vocab x emb_dim, then emb_dim -> hidden),
    which is what keeps a student's file small: at 30522 words the table dominates.
    """

    def __init__(self, vocab: int = 30522, hidden: int = 384, layers: int = 6, heads: int = 12,
                 ffn: int = 1536, max_pos: int = 512, emb_dim: int | None = None,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.hidden = hidden
        emb_dim = emb_dim or hidden
        self.word = nn.Embedding(vocab, emb_dim)
        self.word_proj = nn.Linear(emb_dim, hidden) if emb_dim != hidden else nn.Identity()
        self.position = nn.Embedding(max_pos, hidden)
        self.token_type = nn.Parameter(torch.zeros(hidden))  # single segment: one row of BERT's table
        self.norm = nn.LayerNorm(hidden, eps=1e-12)
        self.drop = nn.Dropout(dropout)
        self.layers = nn.ModuleList(EncoderLayer(hidden, heads, ffn, dropout) for _ in range(layers))

    def forward(self, ids: torch.Tensor, mask: torch.Tensor,
                return_attentions: bool = False):
        t = ids.shape[1]
        pos = self.position.weight[:t].unsqueeze(0)
        x = self.drop(self.norm(self.word_proj(self.word(ids)) + pos + self.token_type))
        bias = key_padding_bias(mask)
        attentions = []
        for layer in self.layers:
            x, probs = layer(x, bias)
            attentions.append(probs)
        return (x, attentions) if return_attentions else x


def _minilm_state(layers: int) -> dict[str, torch.Tensor]:
    """MiniLM's HF weight names -> this module's names (first `layers` layers)."""
    src = load_file(str(minilm_path() / "model.safetensors"))
    src = {k.removeprefix("bert."): v for k, v in src.items()}
    e = "embeddings."
    out = {
        "word.weight": src[e + "word_embeddings.weight"],
        "position.weight": src[e + "position_embeddings.weight"],
        "token_type": src[e + "token_type_embeddings.weight"][0],
        "norm.weight": src[e + "LayerNorm.weight"],
        "norm.bias": src[e + "LayerNorm.bias"],
    }
    for i in range(layers):
        p, q = f"encoder.layer.{i}.", f"layers.{i}."
        for kind in ("weight", "bias"):
            a = p + "attention.self."
            for n, ours in (("query", "q"), ("key", "k"), ("value", "v")):
                out[q + ours + "." + kind] = src[a + n + "." + kind]
            out[q + "out." + kind] = src[p + "attention.output.dense." + kind]
            out[q + "norm1." + kind] = src[p + "attention.output.LayerNorm." + kind]
            out[q + "ffn_in." + kind] = src[p + "intermediate.dense." + kind]
            out[q + "ffn_out." + kind] = src[p + "output.dense." + kind]
            out[q + "norm2." + kind] = src[p + "output.LayerNorm." + kind]
    return out


def minilm_encoder(layers: int = 6, pretrained: bool = True) -> TextEncoder:
    """The packaged MiniLM-L6 (or its first `layers` layers), weights from site-packages."""
    enc = TextEncoder(**{**MINILM, "layers": layers})
    if pretrained:
        enc.load_state_dict(_minilm_state(layers))
    return enc
