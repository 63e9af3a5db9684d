"""Edge-graph rewrites that let XNNPACK take what executorch 1.5.1 would leave on portable kernels.

Both keep the program's arithmetic exactly as it is; they only change how shapes are spelled:
- torch.export writes every reshape with the text length as a symbol; XNNPACK's reshape accepts one
  inferred (-1) size but no symbol (`ViewCopyConfig`), so a variable text axis left every reshape
  outside the delegate and cut the program into dozens of subgraphs (the default: 59).
- `matmul` of 4-D tensors decomposes into expand + reshape + bmm; where the expand does not change
  the shape it is a full copy on a portable kernel (lnln_lite: 76 of them, 8% of its time).
"""

from __future__ import annotations

import torch
from torch.fx.passes.infra.pass_base import PassBase, PassResult


def _shape(node: object) -> tuple | None:
    val = node.meta.get("val") if isinstance(node, torch.fx.Node) else None
    return tuple(val.shape) if isinstance(val, torch.Tensor) else None


class InferOneReshapeSize(PassBase):
    """view_copy with exactly one symbolic size -> that size written as -1 (inferred at run time)."""

    def call(self, graph_module: torch.fx.GraphModule) -> PassResult:
        from executorch.exir.dialects._ops import ops as exir_ops

        changed = False
        for node in graph_module.graph.nodes:
            if node.op != "call_function" or node.target != exir_ops.edge.aten.view_copy.default:
                continue
            sizes = list(node.args[1])
            symbolic = [i for i, size in enumerate(sizes) if not isinstance(size, int)]
            if len(symbolic) == 1 and -1 not in sizes:
                sizes[symbolic[0]] = -1
                node.args = (node.args[0], sizes, *node.args[2:])
                changed = True
        if changed:
            graph_module.graph.eliminate_dead_code()  # the sym_size nodes that fed those sizes
            graph_module.recompile()
        return PassResult(graph_module, changed)


class DropNoopExpand(PassBase):
    """expand_copy whose output has its input's shape -> its input."""

    def call(self, graph_module: torch.fx.GraphModule) -> PassResult:
        from executorch.exir.dialects._ops import ops as exir_ops

        changed = False
        for node in list(graph_module.graph.nodes):
            if node.op != "call_function" or node.target != exir_ops.edge.aten.expand_copy.default:
                continue
            source = node.args[0]
            before, after = _shape(source), _shape(node)
            if before is not None and before == after:
                node.replace_all_uses_with(source)
                graph_module.graph.erase_node(node)
                changed = True
        if changed:
            graph_module.recompile()
        return PassResult(graph_module, changed)


def xnnpack_transform_passes() -> list[PassBase]:
    """The rewrites `export_executorch` runs before partitioning, in order."""
    return [DropNoopExpand(), InferOneReshapeSize()]
