"""Scaled dot-product attention written so an exported program stays inside XNNPACK.

In a batch-1 program (every export) heads go into the batch axis and both products are 3-D
`bmm`s: a 4-D `q @ k.T` decomposes into expand + reshape + bmm, and executorch 1.5.1 runs those
expands as full copies on portable kernels (8% of lnln_lite's int8 time). Queries, keys and
values come from separate Linears for the same reason: splitting one fused projection needs
slices or selects of a tensor whose text axis varies, which XNNPACK does not take.
`split_fused_projection` keeps older checkpoints (fused `qkv`/`kv` weights) loadable.
"""

from __future__ import annotations

import math

import torch

NEG = -1e4  # additive bias for masked keys: finite, so an all-masked row stays finite (uniform)


def key_padding_bias(mask: torch.Tensor) -> torch.Tensor:
    """[B, T] float mask -> [B, 1, 1, T] additive bias (0 present, -1e4 absent)."""
    return ((1.0 - mask) * NEG).reshape(mask.shape[0], 1, 1, -1)


def multi_head_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int,
                         bias: torch.Tensor | None = None,
                         dropout: torch.nn.Module | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """q [B, Tq, d], k and v [B, Tk, d], bias broadcastable to [B, heads, Tq, Tk] (additive) ->
    (context [B, Tq, d], probabilities [B, heads, Tq, Tk])."""
    b, tq, d = q.shape
    tk, width = k.shape[1], d // heads
    scale = 1.0 / math.sqrt(width)
    if b > 1:  # training and batched eager: 4-D products (a batch-1 program never takes this path)
        qh, kh, vh = (x.reshape(b, x.shape[1], heads, width).transpose(1, 2) for x in (q, k, v))
        att = (qh @ kh.transpose(-1, -2)) * scale
        probs = (att if bias is None else att + bias).softmax(-1)
        ctx = (probs if dropout is None else dropout(probs)) @ vh
        return ctx.transpose(1, 2).reshape(b, tq, d), probs
    # batch 1, what every exported program runs: heads are the batch of two 3-D bmm's, and every
    # reshape has at most one variable size (the text length)
    att = torch.bmm(q.reshape(tq, heads, width).transpose(0, 1), k.reshape(tk, heads, width).permute(1, 2, 0))
    att = att * scale
    if bias is not None:
        att = att + bias.reshape(bias.shape[1:])
    probs = att.softmax(-1)
    ctx = torch.bmm(probs if dropout is None else dropout(probs), v.reshape(tk, heads, width).transpose(0, 1))
    return ctx.transpose(0, 1).reshape(1, tq, d), probs.unsqueeze(0)


def split_fused_projection(state_dict: dict, prefix: str, fused: str, parts: tuple[str, ...]) -> None:
    """A checkpoint's fused Linear `prefix + fused` (rows stacked in `parts` order) -> one Linear
    per part, in place; a load_state_dict pre-hook for modules that used to fuse them."""
    for kind in ("weight", "bias"):
        key = f"{prefix}{fused}.{kind}"
        if key in state_dict:
            for name, rows in zip(parts, state_dict.pop(key).chunk(len(parts)), strict=True):
                state_dict[f"{prefix}{name}.{kind}"] = rows.clone()
