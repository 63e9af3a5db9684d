"""PT2E int8 for ExecuTorch/XNNPACK: static (calibrated) or dynamic, optional int8 embeddings.

static: int8 activations and weights, activation ranges observed on a calibration set.
dynamic: int8 weights, activations quantized per call (XNNPACK's dynamically quantized linear);
with torch 2.13 / executorch 1.5.1 this keeps a BERT-style encoder intact where the stock static
recipe on every op destroys it (its outputs decorrelate from fp32), which is why `keep_float` exists
for the static path.
Embedding tables become int8 (`quantized_decomposed::embedding_byte`); the runtime needs
`import executorch.kernels.quantized` to run them.
"""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatch

import torch
from torch import nn

from edge_msa.errors import UserError


def _module_paths(node: torch.fx.Node) -> list[str]:
    return [path for path, _ in node.meta.get("nn_module_stack", {}).values()]


def quantize_pt2e(model: nn.Module, example_inputs: tuple[torch.Tensor, ...],
                  calibration: Iterable[tuple[torch.Tensor, ...]] | None, *, dynamic: bool,
                  per_channel: bool = True, embeddings: bool = True,
                  keep_float: list[str] | None = None, dynamic_modules: list[str] | None = None,
                  operators: list[str] | None = None, dynamic_shapes: tuple | None = None
                  ) -> torch.fx.GraphModule:
    """Export, annotate, calibrate (static) and convert; returns the quantized graph module.

    calibration: batch-1 input tuples (static); dynamic only needs the example to fix weight scales.
    keep_float: fnmatch patterns of module names whose ops stay float, e.g. "*.ffn_out".
    dynamic_modules (static only): patterns of modules quantized dynamically instead, so their
    weights are int8 too but their activations keep a per-call range.
    operators: quantize only these aten ops (e.g. ["linear"]) instead of every pattern XNNPACK
    knows; the adds then stay float, among them the attention-mask add whose -1e4 entries would
    otherwise set the int8 range of the attention scores.
    dynamic_shapes: torch.export's, for a program whose text length varies per call.
    """
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    from torchao.quantization.pt2e.quantizer.composable_quantizer import ComposableQuantizer
    from torchao.quantization.pt2e.quantizer.embedding_quantizer import EmbeddingQuantizer

    graph = torch.export.export(model.eval(), example_inputs, dynamic_shapes=dynamic_shapes).module()
    config = get_symmetric_quantization_config(is_per_channel=per_channel, is_dynamic=dynamic)
    xnnpack = XNNPACKQuantizer()
    if operators:
        for op in operators:
            xnnpack.set_operator_type(getattr(torch.ops.aten, op).default, config)
    else:
        xnnpack.set_global(config)
    if keep_float:
        # opt ops out by module name: torchao 0.18's set_module_name(name, None) is rejected
        xnnpack.set_filter_function(lambda node: not any(
            fnmatch(path, pattern) for path in _module_paths(node) for pattern in keep_float))
    if dynamic_modules and not dynamic:
        per_call = get_symmetric_quantization_config(is_per_channel=per_channel, is_dynamic=True)
        for name, _ in model.named_modules():
            if name and any(fnmatch(name, pattern) for pattern in dynamic_modules):
                xnnpack.set_module_name(name, per_call)
    quantizer = ComposableQuantizer([EmbeddingQuantizer(), xnnpack]) if embeddings else xnnpack
    samples = [example_inputs] if dynamic else list(calibration or [])
    if not samples:
        raise UserError("static int8 needs a calibration set (a calibration recipe or --calibration FILE)")
    prepared = prepare_pt2e(graph, quantizer)
    with torch.no_grad():
        for inputs in samples:
            prepared(*inputs)
    return convert_pt2e(prepared)
