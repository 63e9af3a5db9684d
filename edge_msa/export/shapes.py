"""torch.export shapes of a bundle's program: static, or with a variable text axis.

The text axis is the one worth varying: the text encoder is 93-99% of every family's multiply-adds
at 64 tokens (bench/bench_operators.py), and a live utterance has far fewer tokens. Audio and
vision stay at the spec's lengths (their windows are full or masked, and cheap).
"""

from __future__ import annotations

import torch
from torch import nn

from edge_msa.features.spec import MIN_TEXT_LEN
from edge_msa.models.text_encoder import TextEncoder


def program_shapes(example: tuple[torch.Tensor, ...], text_varies: bool) -> tuple | None:
    """`dynamic_shapes` for torch.export of forward(text, text_mask, audio, ...) at `example`."""
    if not text_varies:
        return None
    tokens = torch.export.Dim("text_len", min=MIN_TEXT_LEN, max=int(example[0].shape[1]))
    return ({1: tokens}, {1: tokens}) + (None,) * (len(example) - 2)


def input_min_shape(name: str, shape: list[int], text_varies: bool) -> list[int] | None:
    """The manifest's `min_shape` of an input (None: fixed)."""
    if text_varies and name in ("text", "text_mask"):
        return [shape[0], MIN_TEXT_LEN, *shape[2:]]
    return None


def fit_positions(model: nn.Module, max_len: int) -> nn.Module:
    """Cut every text encoder's position table to the `max_len` rows a bundle can use.

    A static program keeps only the slice it reads; with a variable text axis the whole table would
    ship (MiniLM's 512 x 384 floats: 0.7 MB more in the default's ONNX). Same outputs: positions
    count from 0 and never reach max_len.
    """
    for module in model.modules():
        if isinstance(module, TextEncoder) and module.position.num_embeddings > max_len:
            rows = module.position.weight.data[:max_len].clone()
            module.position = nn.Embedding.from_pretrained(rows, freeze=not rows.requires_grad)
    return model
