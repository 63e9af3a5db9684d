"""ExecuTorch: torch.export -> (PT2E int8) -> XNNPACK partitioner -> `.pte`.

Reports what XNNPACK took: executorch 1.5.1 leaves layer_norm, embeddings, gathers and some
reductions to the portable kernels, which matters for latency on a phone.
"""

from __future__ import annotations

from pathlib import Path

import torch

from edge_msa.errors import UserError
from edge_msa.export.recipes import ExportRecipe
from edge_msa.export.shapes import program_shapes
from edge_msa.export.xnnpack_passes import xnnpack_transform_passes
from edge_msa.quantize.pt2e import quantize_pt2e

PTE, PT2 = "model.pte", "model.pt2"


def delegation_summary(graph_module: torch.fx.GraphModule) -> dict:
    """Delegated vs portable op counts of a lowered program, portable ones by operator."""
    from executorch.devtools.backend_debug import get_delegation_info

    info = get_delegation_info(graph_module)
    left = {op: b.non_delegated for op, b in sorted(info.delegation_by_operator.items())
            if b.non_delegated and op != "getitem"}
    return {"backend": "XnnpackBackend", "delegated_subgraphs": info.num_delegated_subgraphs,
            "delegated_ops": info.num_delegated_nodes, "non_delegated_ops": sum(left.values()),
            "non_delegated_by_op": left}


def backend_config(text_varies: bool):
    """`to_executorch`'s settings. Quant fusion turns the leftover dequantize -> embedding into
    embedding_byte (an int8 table). With a variable text axis every reshape XNNPACK did not take
    stays a copy: executorch 1.5.1 makes them aliases otherwise, and an alias of a delegate output
    whose size changes per call crashed its runtime (tests/test_xnnpack_passes.py)."""
    from executorch.exir import ExecutorchBackendConfig

    return ExecutorchBackendConfig(do_quant_fusion_and_const_prop=True, remove_view_copy=not text_varies)


def export_executorch(model: torch.nn.Module, recipe: ExportRecipe, example: tuple[torch.Tensor, ...],
                      calibration: list[tuple[torch.Tensor, ...]] | None, out: Path) -> dict:
    """Write model.pte (and model.pt2) into `out`; returns {"files": {name: role}, "delegation"}."""
    # out-variants of the quantized ops XNNPACK leaves outside its delegates (int8 tables, q/dq)
    import executorch.kernels.quantized  # noqa: F401
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    q = recipe.quantization
    module = model.eval()
    shapes = program_shapes(example, recipe.text_varies)
    if q is not None:
        module = quantize_pt2e(model, example, calibration, dynamic=q.scheme == "pt2e-dynamic",
                               per_channel=q.per_channel, embeddings=q.embeddings, keep_float=q.keep_float,
                               dynamic_modules=q.dynamic_modules, operators=q.operators,
                               dynamic_shapes=shapes)
    program = torch.export.export(module, example, dynamic_shapes=shapes)
    files = {PTE: "model"}
    if recipe.reference_program:
        torch.export.save(program, str(out / PT2))
        files[PT2] = "reference"
    try:
        edge = to_edge_transform_and_lower(program, transform_passes=xnnpack_transform_passes(),
                                           partitioner=[XnnpackPartitioner()])
    except AssertionError as e:  # executorch 1.5.1 asserts on some graphs (lnln_lite, pt2e-dynamic:
        # "Invalid partition, found dependency cycles"): a limit of the lowering, not of the input
        raise UserError(f"ExecuTorch's XNNPACK partitioner could not lower this model with recipe "
                        f"{recipe.name!r} ({str(e).splitlines()[0] if str(e) else 'assertion'}); "
                        f"try another recipe (static int8, fp32 or ONNX)") from None
    delegation = delegation_summary(edge.exported_program().graph_module)
    executorch_program = edge.to_executorch(backend_config(recipe.text_varies))
    (out / PTE).write_bytes(executorch_program.buffer)
    return {"files": files, "delegation": delegation}
