"""ONNX bundles (onnxruntime fp32/int8, Jetson fp16 and Q/DQ int8) and the TensorRT lint."""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
from export_helpers import bundle, real_inputs, trained_run
from onnx import TensorProto, helper, numpy_helper

from edge_msa.errors import UserError
from edge_msa.export.bundle import load_bundle
from edge_msa.export.parity import eager_outputs
from edge_msa.export.tensorrt import lint_onnx
from edge_msa.runtime.backends import load_backend
from edge_msa.train.run import load_run
from edge_msa.workflows.export_run import export_run

RECIPES = ("onnx-cpu-fp32", "onnx-cpu-int8", "jetson-trt-fp16", "jetson-trt-int8")


@pytest.fixture(scope="module")
def manifests():
    return {name: load_bundle(bundle(name)).manifest for name in RECIPES}


def _onnx(name: str) -> onnx.ModelProto:
    return onnx.load(str(bundle(name) / "model.onnx"))


def test_every_recipe_passes_parity_with_onnxruntime(manifests):
    for m in manifests.values():
        assert m.format == "onnx" and m.parity["passed"] and m.parity["backend"] == "onnxruntime"
        assert m.tensorrt["lint"]["opset"] == 18
    assert manifests["onnx-cpu-fp32"].parity["max_abs_diff_score"] < 1e-4
    assert manifests["jetson-trt-fp16"].parity["max_abs_diff_score"] < 0.05
    assert manifests["jetson-trt-int8"].backends == ["tensorrt", "onnxruntime", "torch"]


def test_backend_outputs_match_eager_on_held_out_sentences(manifests):
    inputs, _ = real_inputs(32)
    model, _ = load_run(trained_run())
    eager_score, _ = eager_outputs(model, inputs)
    for name, tol in (("onnx-cpu-fp32", 1e-4), ("jetson-trt-fp16", 0.05), ("jetson-trt-int8", 0.1),
                      ("onnx-cpu-int8", 0.3)):
        score, unc = load_backend(bundle(name), "onnxruntime").predict(inputs)
        assert np.max(np.abs(score - eager_score)) < tol and np.all(unc > 0)


def test_jetson_bundles_are_tensorrt_ready(manifests):
    for name in ("jetson-trt-fp16", "jetson-trt-int8"):
        m = manifests[name]
        assert m.target == "jetson" and m.tensorrt["lint"]["ok"], m.tensorrt["lint"]["errors"]
        assert m.tensorrt["build"] == {"workspace_mib": 1024, "builder_optimization_level": 3}
        script = bundle(name) / "build_engine.sh"
        text = script.read_text()
        assert os.access(script, os.X_OK) and m.files["build_engine.sh"].role == "script"
        assert "--onnx=model.onnx --saveEngine=model.engine --stronglyTyped" in text
        assert "--timingCacheFile=timing.cache" in text and "--memPoolSize=workspace:1024" in text
        assert "#   audio        1x300x42   float32" in text and "#   text         1x64       int64" in text


def test_int8_onnx_has_symmetric_int8_qdq_and_float_biases():
    model = _onnx("jetson-trt-int8")
    consts = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    qdq = [n for n in model.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    assert sum(n.op_type == "QuantizeLinear" for n in qdq) > 0
    for n in qdq:
        zp = consts[n.input[2]]
        assert zp.dtype == np.int8 and not zp.any()
    assert not any(n.op_type == "DequantizeLinear" and consts.get(n.input[0], np.zeros(1, np.int8)).dtype
                   == np.int32 for n in qdq)


def test_fp16_onnx_computes_in_half_with_fp32_edges():
    model = _onnx("jetson-trt-fp16")
    types = [i.data_type for i in model.graph.initializer if len(i.dims) == 2]
    assert types and all(t == TensorProto.FLOAT16 for t in types)
    edges = [v.type.tensor_type.elem_type for v in [*model.graph.input, *model.graph.output]]
    assert edges == [TensorProto.INT64] + [TensorProto.FLOAT] * 7


def test_cpu_int8_onnx_is_flagged_as_not_for_tensorrt(manifests):
    lint = manifests["onnx-cpu-int8"].tensorrt["lint"]
    assert not lint["ok"] and manifests["onnx-cpu-int8"].target is None
    assert any("MatMulInteger" in e for e in lint["errors"])
    assert "build_engine.sh" not in manifests["onnx-cpu-int8"].files


def _model(nodes, inputs, outputs, inits=(), opsets=(("", 18),)):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets])


def test_lint_names_what_tensorrt_would_reject(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])
    q = helper.make_tensor_value_info("q", TensorProto.UINT8, ["batch", 4])
    scale = numpy_helper.from_array(np.array(0.1, np.float32), "s")
    zp = numpy_helper.from_array(np.array(128, np.uint8), "z")
    uint8 = _model([helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], name="quant")], [x], [q],
                   [scale, zp])
    onnx.save(uint8, tmp_path / "uint8.onnx")
    report = lint_onnx(tmp_path / "uint8.onnx")
    assert not report["ok"] and any("zero point must be a constant 0" in e for e in report["errors"])
    assert report["dynamic_io"] == ["x", "q"] and any("optimization profile" in w for w in report["warnings"])

    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    xs = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    contrib = _model([helper.make_node("FastGelu", ["x"], ["y"], domain="com.microsoft", name="g")],
                     [xs], [y], opsets=[("", 21), ("com.microsoft", 1)])
    onnx.save(contrib, tmp_path / "contrib.onnx")
    errors = lint_onnx(tmp_path / "contrib.onnx")["errors"]
    assert any("opset 21" in e for e in errors) and any("com.microsoft" in e for e in errors)


def test_jetson_target_refuses_a_mobile_recipe(tmp_path):
    with pytest.raises(UserError, match="Jetson runs TensorRT from ONNX"):
        export_run(trained_run(), "android-xnnpack-fp32", tmp_path / "b", target="jetson-orin-nano",
                   progress=False)
    assert not (tmp_path / "b").exists()
