"""torch.export shapes of a bundle's program: static, or with a variable text axis.

The text axis is the one worth varying: the text encoder is 93-99% of every family's multiply-adds
at 64 tokens (bench/bench_operators.py), and a live utterance has far fewer tokens. Audio and
vision stay at the spec's lengths (their windows are full or masked, and cheap).
"""

from __future__ import annotations

import torch

from edge_msa.features.spec import MIN_TEXT_LEN


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
