"""ONNX: torch.export -> torch.onnx (dynamo, static shapes) -> optional int8 -> TensorRT lint.

fp16 is exported from the half-precision model (fp32 at the graph's edges); int8 is quantized
on the ONNX itself: explicit Q/DQ for TensorRT, dynamic int8 for onnxruntime on CPUs.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from edge_msa.errors import UserError
from edge_msa.export.recipes import ExportRecipe
from edge_msa.export.shapes import program_shapes
from edge_msa.export.tensorrt import build_script, lint_onnx
from edge_msa.models.base import INPUT_NAMES, OUTPUT_NAMES
from edge_msa.quantize.fp16 import HalfPrecision
from edge_msa.quantize.onnx_qdq import quantize_dynamic_int8, quantize_qdq

ONNX, PT2, SCRIPT = "model.onnx", "model.pt2", "build_engine.sh"


def write_onnx(program: torch.export.ExportedProgram, path: Path, opset: int) -> None:
    """One self-contained .onnx (weights inside) with the contract's input/output names."""
    torch.onnx.export(program, (), str(path), dynamo=True, opset_version=opset, input_names=list(INPUT_NAMES),
                      output_names=list(OUTPUT_NAMES), external_data=False, verbose=False)


def export_onnx(model: torch.nn.Module, recipe: ExportRecipe, example: tuple[torch.Tensor, ...],
                calibration: tuple | None, out: Path, inputs_info: list[dict]) -> dict:
    """Write model.onnx (+ model.pt2, build_engine.sh for jetson) into `out`.

    Returns {"files": {name: role}, "tensorrt": {"lint", "build"}}; a jetson recipe whose ONNX
    fails the TensorRT lint is an error.
    """
    module = HalfPrecision(model) if recipe.precision == "fp16" else model.eval()
    program = torch.export.export(module, example, dynamic_shapes=program_shapes(example, recipe.text_varies))
    files = {ONNX: "model"}
    if recipe.reference_program:
        torch.export.save(program, str(out / PT2))
        files[PT2] = "reference"
    q = recipe.quantization
    if q is None:
        write_onnx(program, out / ONNX, recipe.opset)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            float_onnx = Path(tmp) / "float.onnx"
            write_onnx(program, float_onnx, recipe.opset)
            if q.scheme == "onnx-qdq":
                quantize_qdq(float_onnx, out / ONNX, calibration, per_channel=q.per_channel,
                             op_types=q.op_types)
            else:
                quantize_dynamic_int8(float_onnx, out / ONNX, per_channel=q.per_channel,
                                      embeddings=q.embeddings)
    lint = lint_onnx(out / ONNX)
    build = recipe.tensorrt.model_dump()
    if recipe.target == "jetson":
        if not lint["ok"]:
            raise UserError(f"{recipe.name}: the ONNX would not parse in TensorRT 10.3: "
                            + "; ".join(lint["errors"]))
        (out / SCRIPT).write_text(build_script(inputs_info, ONNX, **build))
        (out / SCRIPT).chmod(0o755)
        files[SCRIPT] = "script"
    return {"files": files, "tensorrt": {"lint": lint, "build": build}}
