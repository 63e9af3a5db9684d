"""int8 ONNX with onnxruntime.quantization: explicit Q/DQ for TensorRT, dynamic int8 for CPUs.

Q/DQ (`quantize_qdq`): symmetric int8 activations (per tensor) and weights (per channel), zero
points 0, biases left in float: what a strongly typed TensorRT network takes (TensorRT rejects
uint8 and asymmetric Q/DQ, and has no int32 bias dequantization). onnxruntime also runs it.
Dynamic (`quantize_dynamic_int8`): int8 weights, activations quantized per call
(MatMulInteger), int8 embedding tables (Gather): small and fast on a CPU, not for TensorRT.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import onnx

from edge_msa.models.base import INPUT_NAMES


def _drop_unused_domains(path: Path) -> None:
    """onnxruntime declares every contrib domain; keep the ones nodes use (parsers stay quiet)."""
    model = onnx.load(str(path))
    used = {n.domain for n in model.graph.node} | {""}
    kept = [o for o in model.opset_import if o.domain in used]
    del model.opset_import[:]
    model.opset_import.extend(kept)
    onnx.save(model, str(path))


def _prepare(src: Path, tmp: Path) -> Path:
    """onnxruntime's pre-processing: shape inference and graph folding before quantization."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = tmp / "prepared.onnx"
    if _has_symbolic_inputs(src):
        # a variable text axis: onnxruntime's symbolic shape inference gives up on the MiniLM
        # graphs here ("Incomplete symbolic shape inference", and it leaves a debug copy of the
        # model in the working directory); onnx's own inference suffices for quantization
        quant_pre_process(str(src), str(prepared), skip_symbolic_shape=True)
        return prepared
    try:
        quant_pre_process(str(src), str(prepared))
    except TypeError:
        # its symbolic shape inference fails on some dynamo graphs (an output without a shape:
        # seen on evidence_fusion's lexicon and voice statistics); onnx's own inference suffices
        quant_pre_process(str(src), str(prepared), skip_symbolic_shape=True)
    return prepared


def _has_symbolic_inputs(path: Path) -> bool:
    graph = onnx.load(str(path), load_external_data=False).graph
    return any(d.dim_param for i in graph.input for d in i.type.tensor_type.shape.dim)


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over batch-1 rows of the calibration set."""

    def __init__(self, arrays: tuple[np.ndarray, ...]) -> None:
        self.rows = iter(range(len(arrays[0])))
        self.arrays = arrays

    def get_next(self) -> dict[str, np.ndarray] | None:
        i = next(self.rows, None)
        return None if i is None else {n: a[i : i + 1] for n, a in zip(INPUT_NAMES, self.arrays, strict=True)}


def quantize_qdq(src: Path, dst: Path, calibration: tuple[np.ndarray, ...], *, per_channel: bool = True,
                 op_types: list[str] | None = None) -> None:
    """Static symmetric int8 with explicit QuantizeLinear/DequantizeLinear pairs."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    with tempfile.TemporaryDirectory() as tmp:
        prepared = _prepare(src, Path(tmp))
        quantize_static(str(prepared), str(dst), _Reader(calibration), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                        per_channel=per_channel, op_types_to_quantize=op_types or ["MatMul", "Gemm"],
                        calibrate_method=CalibrationMethod.MinMax,
                        # MatMulConstBOnly: only products with a weight; int8 on both operands of
                        # attention (q.k, probs.v) cost a frozen MiniLM 4 points of Acc-2 here
                        extra_options={"ActivationSymmetric": True, "WeightSymmetric": True,
                                       "QuantizeBias": False, "MatMulConstBOnly": True})
    _drop_unused_domains(dst)


def quantize_dynamic_int8(src: Path, dst: Path, *, per_channel: bool = True, embeddings: bool = True) -> None:
    """Dynamic int8 (weights int8, activations per call) for onnxruntime on CPUs."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    ops = ["MatMul", "Gemm"] + (["Gather"] if embeddings else [])
    with tempfile.TemporaryDirectory() as tmp:
        quantize_dynamic(str(_prepare(src, Path(tmp))), str(dst), weight_type=QuantType.QInt8,
                         per_channel=per_channel, op_types_to_quantize=ops)
    _drop_unused_domains(dst)
