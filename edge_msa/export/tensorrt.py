"""TensorRT side of an ONNX bundle: a compatibility lint, the on-device build script, the builder.

Engines are built on the device that runs them (an engine is tied to its GPU and TensorRT
version): the `tensorrt` backend builds one on first use, `build_engine.sh` does it by hand with
`trtexec`. Networks are strongly typed: int8 comes from explicit Q/DQ nodes and fp16 from an fp16
ONNX, because TensorRT 11 dropped the FP16/INT8 builder flags and JetPack 6 ships TensorRT 10.3.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from edge_msa.errors import UserError

OPSETS = (9, 20)  # what TensorRT 10.3's ONNX parser reads (onnx-tensorrt docs/operators.md)
# Operators the TensorRT 10.x ONNX parser supports (onnx-tensorrt support matrix, 10.0-10.3)
SUPPORTED_OPS = frozenset("""
Abs Acos Acosh Add And ArgMax ArgMin Asin Asinh Atan Atanh AveragePool BatchNormalization Cast
CastLike Ceil Celu Clip Concat Constant ConstantOfShape Conv ConvTranspose Cos Cosh CumSum
DeformConv DepthToSpace DequantizeLinear Div Dropout Einsum Elu Equal Erf Exp Expand EyeLike
Flatten Floor Gather GatherElements GatherND Gelu Gemm GlobalAveragePool GlobalLpPool
GlobalMaxPool Greater GreaterOrEqual GridSample GroupNormalization GRU HardSigmoid HardSwish
Hardmax Identity If ImageScaler InstanceNormalization IsInf IsNaN LayerNormalization LeakyRelu
Less LessOrEqual Log LogSoftmax Loop LRN LSTM LpNormalization LpPool MatMul Max MaxPool Mean
MeanVarianceNormalization Min Mish Mod Mul Neg NonMaxSuppression NonZero Not OneHot Or Pad
ParametricSoftplus Pow PRelu QuantizeLinear RandomNormal RandomNormalLike RandomUniform
RandomUniformLike Range Reciprocal ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp ReduceMax
ReduceMean ReduceMin ReduceProd ReduceSum ReduceSumSquare Relu Reshape Resize ReverseSequence RNN
RoiAlign Round ScaledTanh Scan Scatter ScatterElements ScatterND Selu Shape Shrink Sigmoid Sign
Sin Sinh Size Slice Softmax Softplus Softsign SpaceToDepth Split Sqrt Squeeze Sub Sum Tan Tanh
ThresholdedRelu Tile TopK Transpose Trilu Unsqueeze Upsample Where Xor
""".split())
# input index that must be a build-time constant ("`axes` must be an initializer")
CONSTANT_INPUT = {**{op: 1 for op in ("ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp",
                                      "ReduceMax", "ReduceMean", "ReduceMin", "ReduceProd",
                                      "ReduceSum", "ReduceSumSquare", "Squeeze", "Unsqueeze",
                                      "CumSum")},
                  "Slice": 3, "Pad": 3}
CONTROL_FLOW = {"If", "Loop", "Scan"}
INT8 = onnx.TensorProto.INT8


def _constants(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    values = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    values[node.output[0]] = numpy_helper.to_array(attr.t)
    return values


def _elem_types(model: onnx.ModelProto) -> dict[str, int]:
    graph = model.graph
    types = {v.name: v.type.tensor_type.elem_type
             for v in [*graph.input, *graph.output, *graph.value_info] if v.type.HasField("tensor_type")}
    types.update({i.name: i.data_type for i in graph.initializer})
    return types


def _check_qdq(node: onnx.NodeProto, consts: dict[str, np.ndarray], types: dict[str, int]) -> list[str]:
    """TensorRT: symmetric int8 only (zero point 0), no quantized int32 bias."""
    errors = []
    if len(node.input) > 2 and node.input[2]:
        zp = consts.get(node.input[2])
        if zp is None or np.any(zp != 0):
            errors.append(f"{node.op_type} {node.name!r}: zero point must be a constant 0 (symmetric)")
        elif zp.dtype != np.int8:
            errors.append(f"{node.op_type} {node.name!r}: {zp.dtype} quantization; TensorRT takes int8")
    elif node.op_type == "QuantizeLinear":
        errors.append(f"QuantizeLinear {node.name!r} has no zero point, so it outputs uint8; TensorRT "
                      "takes int8")
    elif types.get(node.input[0], INT8) != INT8:
        errors.append(f"DequantizeLinear {node.name!r}: quantized input is not int8")
    return errors


def lint_onnx(path: str | Path) -> dict:
    """Check an ONNX file against TensorRT 10.3's ONNX parser; {"ok", "errors", "warnings", ...}.

    Errors are things the parser rejects (unsupported op, domain or opset, asymmetric or non-int8
    Q/DQ, non-constant axes); warnings are things that build but need care (dynamic dims need an
    optimization profile, control flow, double precision).
    """
    model = onnx.load(str(path))
    errors, warnings = [], []
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as e:
        errors.append(f"onnx checker: {str(e).splitlines()[0]}")
    graph = model.graph
    used_domains = {n.domain or "" for n in graph.node}
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is None or not OPSETS[0] <= opset <= OPSETS[1]:
        errors.append(f"opset {opset}: TensorRT 10.3 reads opsets {OPSETS[0]}..{OPSETS[1]}")
    for domain in sorted(used_domains - {"", "ai.onnx"}):
        ops = sorted({n.op_type for n in graph.node if n.domain == domain})
        errors.append(f"domain {domain!r} ops {ops}: no TensorRT parser support (would need plugins)")
    consts, types = _constants(graph), _elem_types(model)
    for node in graph.node:
        if node.domain not in ("", "ai.onnx"):
            continue
        if node.op_type not in SUPPORTED_OPS:
            errors.append(f"op {node.op_type} ({node.name!r}) is not supported by TensorRT's ONNX parser")
        if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            errors += _check_qdq(node, consts, types)
        index = CONSTANT_INPUT.get(node.op_type)
        if index is not None and len(node.input) > index and node.input[index] \
                and node.input[index] not in consts:
            errors.append(f"{node.op_type} {node.name!r}: input {index} (axes) must be a constant")
        if node.op_type == "LayerNormalization" and any(node.output[1:]):
            used = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
            if any(o in used for o in node.output[1:]):
                errors.append(f"LayerNormalization {node.name!r}: only its first output is supported")
        if node.op_type in CONTROL_FLOW:
            warnings.append(f"control flow {node.op_type} {node.name!r}: check that its trip count and "
                            "branch shapes are static")
    dynamic = []
    for value in [*graph.input, *graph.output]:
        if not value.type.HasField("tensor_type"):
            errors.append(f"graph I/O {value.name!r} is not a tensor (sequences/optionals are unsupported)")
            continue
        dims = value.type.tensor_type.shape.dim
        if any(not d.HasField("dim_value") for d in dims):
            dynamic.append(value.name)
        if value.type.tensor_type.elem_type == onnx.TensorProto.DOUBLE:
            warnings.append(f"{value.name!r} is double: TensorRT casts it to float")
    if dynamic:
        warnings.append(f"dynamic dims in {dynamic}: the engine needs an optimization profile")
    return {"ok": not errors, "parser": "TensorRT 10.3 ONNX parser (opsets 9-20)", "opset": opset,
            "errors": errors, "warnings": warnings, "dynamic_io": dynamic,
            "ops": dict(sorted(Counter(n.op_type for n in graph.node).items()))}


def build_script(inputs: list[dict], onnx_name: str, workspace_mib: int,
                 builder_optimization_level: int) -> str:
    """`build_engine.sh`: trtexec with the bundle's shapes, strongly typed, timing cache kept."""
    shape_lines = "\n".join(f"#   {t['name']:<12} {'x'.join(map(str, t['shape'])):<10} {t['dtype']}"
                            for t in inputs)
    dynamic = any(d < 0 for t in inputs for d in t["shape"])
    shapes = ",".join(f"{t['name']}:{'x'.join(str(abs(d)) for d in t['shape'])}" for t in inputs)
    shape_flags = (f" \\\n  --minShapes={shapes} --optShapes={shapes} --maxShapes={shapes}"
                   if dynamic else "")
    return f"""#!/usr/bin/env bash
# Build this bundle's TensorRT engine ON the device that will run it (an engine is tied to its
# GPU and TensorRT version). JetPack 6 ships TensorRT 10.3 with trtexec in /usr/src/tensorrt/bin.
# The network is strongly typed: precision comes from the ONNX itself (fp16 tensors, int8 Q/DQ).
# Inputs (batch 1, static shapes = the FeatureSpec's max_len; the runtime pads windows):
{shape_lines}
# The `tensorrt` backend of edge-msa builds the same engine on first use and reuses model.engine.
set -euo pipefail
cd "$(dirname "$0")"
TRTEXEC="${{TRTEXEC:-$(command -v trtexec || echo /usr/src/tensorrt/bin/trtexec)}}"
"$TRTEXEC" --onnx={onnx_name} --saveEngine=model.engine --stronglyTyped \\
  --timingCacheFile=timing.cache --memPoolSize=workspace:{workspace_mib} \\
  --builderOptimizationLevel={builder_optimization_level}{shape_flags} "$@"
echo "wrote $(pwd)/model.engine"
"""


def build_engine(onnx_path: Path, engine_path: Path, cache_path: Path, workspace_mib: int = 1024,
                 builder_optimization_level: int = 3) -> bytes:
    """Parse the ONNX into a strongly typed network, build, save the engine and timing cache."""
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        problems = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise UserError(f"TensorRT {trt.__version__} cannot parse {onnx_path}: {problems}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mib << 20)
    config.builder_optimization_level = builder_optimization_level
    cache = config.create_timing_cache(cache_path.read_bytes() if cache_path.is_file() else b"")
    config.set_timing_cache(cache, ignore_mismatch=True)  # a stale cache only costs time
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise UserError(f"TensorRT {trt.__version__} failed to build an engine from {onnx_path} "
                        "(see its log above)")
    engine = bytes(plan)
    engine_path.write_bytes(engine)
    cache_path.write_bytes(bytes(config.get_timing_cache().serialize()))
    return engine
