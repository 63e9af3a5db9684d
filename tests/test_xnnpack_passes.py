"""The edge-graph rewrites before XNNPACK partitioning: more of a variable-length program delegated,
the same numbers out of the ExecuTorch runtime."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from edge_msa.export.executorch_export import backend_config, delegation_summary
from edge_msa.export.xnnpack_passes import xnnpack_transform_passes
from edge_msa.models.blocks import Attention, key_padding_bias

pytest.importorskip("executorch")


class _Old4D(nn.Module):
    """Attention the way edge-msa wrote it before `multi_head_attention`: 4-D matmuls over a
    reshape with the text length in it."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(16, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.shape[1]
        h = self.proj(x).reshape(1, t, 4, 4).transpose(1, 2)
        return ((h @ h.transpose(-1, -2)).softmax(-1) @ h).transpose(1, 2).reshape(1, t, 16)


class _Current(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attn = Attention(16, 4)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.attn(x, x, key_padding_bias(mask))


def _lower(model: nn.Module, example: tuple, passes: list):
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    t = torch.export.Dim("t", min=2, max=12)
    shapes = tuple({1: t} for _ in example)
    program = torch.export.export(model.eval(), example, dynamic_shapes=shapes)
    edge = to_edge_transform_and_lower(program, transform_passes=passes, partitioner=[XnnpackPartitioner()])
    return edge, delegation_summary(edge.exported_program().graph_module)


def _run(edge, inputs: tuple) -> torch.Tensor:
    from executorch.runtime import Runtime

    program = edge.to_executorch(backend_config(text_varies=True))
    method = Runtime.get().load_program(program.buffer).load_method("forward")
    return method.execute(list(inputs))[0]


def test_reshapes_and_noop_expands_move_into_the_delegate_with_the_same_numbers():
    torch.manual_seed(0)
    model = _Old4D()
    example = (torch.randn(1, 12, 16),)
    plain, before = _lower(model, example, [])
    rewritten, after = _lower(model, example, xnnpack_transform_passes())
    left = before["non_delegated_by_op"]
    assert left.get("aten_view_copy_default", 0) > 0 and left.get("aten_expand_copy_default", 0) > 0
    # the reshapes left hold the length twice ([1, 4, t, t] scores); XNNPACK infers one size only
    assert after["non_delegated_by_op"].get("aten_view_copy_default", 0) < left["aten_view_copy_default"]
    assert "aten_expand_copy_default" not in after["non_delegated_by_op"]
    assert after["delegated_subgraphs"] < before["delegated_subgraphs"]
    for t in (3, 12):  # lengths other than the traced one: the -1 sizes are inferred per call
        x = torch.randn(1, t, 16)
        with torch.no_grad():
            want = model(x)
        torch.testing.assert_close(_run(rewritten, (x,)), want, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(_run(plain, (x,)), want, atol=1e-5, rtol=1e-5)


def test_the_attention_block_lowers_whole_at_any_length():
    torch.manual_seed(0)
    model = _Current()
    example = (torch.randn(1, 12, 16), torch.ones(1, 12))
    edge, info = _lower(model, example, xnnpack_transform_passes())
    assert info["non_delegated_ops"] == 0 and info["delegated_subgraphs"] == 1
    mask = torch.ones(1, 5)
    mask[0, 3:] = 0
    x = torch.randn(1, 5, 16)
    with torch.no_grad():
        want = model(x, mask)
    torch.testing.assert_close(_run(edge, (x, mask)), want, atol=1e-5, rtol=1e-5)
