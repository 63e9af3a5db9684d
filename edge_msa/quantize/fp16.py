"""fp16 inside, fp32 at the edges: the model for an fp16 ONNX (TensorRT strongly typed fp16).

Inputs and outputs keep the dtypes of every other bundle (token ids int64, features and masks
float32), so backends and the runtime need not care; the cast happens in the graph. LayerNorm
runs in fp32: BERT's eps of 1e-12 is 0 in fp16, and a normalised all-zero row (an absent
modality) would then divide by zero.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def _to_float(module: nn.Module, args: tuple) -> tuple:
    return tuple(a.float() for a in args)


def _to_half(module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
    return output.half()


class HalfPrecision(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = copy.deepcopy(model).eval().half()
        for m in self.model.modules():
            if isinstance(m, nn.LayerNorm):
                m.float()
                m.register_forward_pre_hook(_to_float)
                m.register_forward_hook(_to_half)

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        cast = (x.half() if x.is_floating_point() else x for x in inputs)
        return tuple(y.float() for y in self.model(*cast))
