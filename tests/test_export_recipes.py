"""Export and calibration recipes: every shipped one loads; mistakes are named by file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_msa.errors import UserError
from edge_msa.export.recipes import load_calibration_recipe, load_export_recipe

REPO = Path(__file__).resolve().parents[1]
SHIPPED = sorted(p.stem for p in (REPO / "export").glob("*.yaml"))


def test_the_issue_recipes_are_shipped():
    assert {"android-xnnpack-fp32", "android-xnnpack-int8", "android-xnnpack-int8-dynamic", "jetson-trt-fp16",
            "jetson-trt-int8", "onnx-cpu-fp32", "onnx-cpu-int8"} <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_export_recipes_load(name):
    r = load_export_recipe(name)
    assert r.name == name
    if r.calibrated:
        assert load_calibration_recipe(r.quantization.calibration).split == "train"


@pytest.mark.parametrize("path", sorted((REPO / "calibration").glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_calibration_recipes_load(path):
    r = load_calibration_recipe(path)
    assert abs(sum(c.share for c in r.mix) - 1) < 1e-9


def _write(tmp_path, text, name="r.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


BASE = "name: x\nformat: {fmt}\nprecision: {prec}\nbackends: [{backends}]\n"
INT8 = "parity: {mae_delta: 0.03, acc2_drop: 1}\n"
FP = "parity: {max_abs_diff: 0.1}\n"


@pytest.mark.parametrize("text, message", [
    (BASE.format(fmt="onnx", prec="int8", backends="onnxruntime") + INT8,
     "int8 recipes need a quantization section"),
    (BASE.format(fmt="executorch", prec="int8", backends="executorch")
     + "quantization: {scheme: onnx-qdq, calibration: mixed-missing}\n" + INT8,
     "scheme 'onnx-qdq' does not apply to executorch"),
    (BASE.format(fmt="executorch", prec="int8", backends="executorch")
     + "quantization: {scheme: pt2e-static}\n" + INT8,
     "static schemes need `calibration`"),
    (BASE.format(fmt="onnx", prec="int8", backends="onnxruntime")
     + "quantization: {scheme: onnx-qdq, calibration: c}\n" + INT8,
     "onnx-qdq puts Q/DQ on `op_types` only; set embeddings: false"),
    (BASE.format(fmt="executorch", prec="int8", backends="executorch")
     + "quantization: {scheme: pt2e-dynamic, dynamic_modules: ['*.ffn_out']}\n" + INT8,
     "keep_float, dynamic_modules and operators apply to the pt2e-static scheme only"),
    (BASE.format(fmt="executorch", prec="fp16", backends="executorch") + "parity: {max_abs_diff: 0.1}\n",
     "fp16 is exported as an fp16 ONNX only"),
    (BASE.format(fmt="onnx", prec="fp32", backends="executorch") + "parity: {max_abs_diff: 0.1}\n",
     "do not run onnx bundles"),
    (BASE.format(fmt="onnx", prec="fp32", backends="tensorrt") + "parity: {max_abs_diff: 0.1}\n",
     "onnx bundles list 'onnxruntime' among their backends"),
    (BASE.format(fmt="onnx", prec="fp32", backends="onnxruntime") + "parity: {samples: 10}\n",
     "float recipes need parity.max_abs_diff"),
    (BASE.format(fmt="onnx", prec="fp32", backends="onnxruntime") + FP + "opset: 21\n",
     "opset: Input should be less than or equal to 20"),
    (BASE.format(fmt="onnx", prec="fp32", backends="onnxruntime") + FP + "shapes: 1\n",
     "shapes: Extra inputs are not permitted"),
    ("- just\n- a list\n", "must be a YAML mapping"),
    ("name: [unclosed\n", "is not valid YAML"),
])
def test_bad_export_recipes_are_refused_with_the_file_and_field(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(UserError, match=str(path)) as err:
        load_export_recipe(path)
    assert message in str(err.value)


def test_unknown_recipe_name_lists_the_known_ones():
    with pytest.raises(UserError, match="no export recipe named 'android-tflite'; known: .*android-xnnpack"):
        load_export_recipe("android-tflite")
    with pytest.raises(UserError, match="recipe file nowhere/x.yaml does not exist"):
        load_export_recipe("nowhere/x.yaml")


@pytest.mark.parametrize("mix, message", [
    ("[{share: 0.5}, {share: 0.4}]", "mix shares must add up to 1 (they add up to 0.9)"),
    ("[{share: 1.0, keep: LX}]", "keep 'LX' must be one of"),
    ("[{share: 1.0, rate: 1.5}]", "rate: Input should be less than or equal to 1"),
])
def test_bad_calibration_recipes_are_refused(tmp_path, mix, message):
    path = _write(tmp_path, f"name: c\nsamples: 8\nmix: {mix}\n")
    with pytest.raises(UserError) as err:
        load_calibration_recipe(path)
    assert message in str(err.value)


def test_shipped_tier_recipes_carry_the_voice_frontend():
    """The tiers ship the float32 front-end (0.1 MB per file): a re-export of a tier keeps it."""
    from pathlib import Path

    from edge_msa.export.recipes import load_export_recipe

    root = Path(__file__).resolve().parents[1] / "export" / "default"
    for name in ("executorch-int8.yaml", "onnx-int8.yaml"):
        assert load_export_recipe(root / name).frontend is True
