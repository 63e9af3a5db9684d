"""Parity gates the export: numbers computed by hand, and a failing export that leaves nothing."""

from __future__ import annotations

import numpy as np
import pytest
from export_helpers import calibration_recipe, recipe, source, trained_run

from edge_msa.errors import UserError
from edge_msa.export.parity import compare
from edge_msa.export.recipes import load_calibration_recipe
from edge_msa.features.spec import LIVE
from edge_msa.features.text import UNK_ID
from edge_msa.models.base import INPUT_NAMES
from edge_msa.quantize.calibration import build_calibration_set, load_calibration, save_calibration
from edge_msa.workflows.export_run import export_run


def test_int8_parity_is_the_metric_change():
    labels = np.array([-2.0, -1.0, 1.0, 2.0], np.float32)
    eager = (np.array([-1.5, -0.5, 0.5, 1.5], np.float32), np.ones(4, np.float32))
    exported = (np.array([-1.5, 0.25, 0.5, 1.5], np.float32), np.ones(4, np.float32))  # one sign flips
    r = recipe("android-xnnpack-int8-dynamic")
    parity, metrics = compare(eager, exported, labels, "mosi", r)
    # MAE 0.5 -> (0.5 + 1.25 + 0.5 + 0.5) / 4 = 0.6875; acc2 (negative vs positive) 4/4 -> 3/4
    assert parity["mae_delta"] == pytest.approx(0.1875) and parity["acc2_drop_points"] == pytest.approx(25.0)
    assert parity["max_abs_diff_score"] == pytest.approx(0.75) and not parity["passed"]
    assert metrics["eager"]["mae"] == pytest.approx(0.5)
    same, _ = compare(eager, eager, labels, "mosi", r)
    assert same["passed"] and same["mae_delta"] == 0 and same["acc2_drop_points"] == 0


def test_float_parity_is_the_largest_difference():
    labels = np.zeros(3, np.float32)
    eager = (np.array([0.1, 0.2, 0.3], np.float32), np.array([1.0, 1.0, 1.0], np.float32))
    exported = (np.array([0.1, 0.2, 0.3], np.float32), np.array([1.0, 1.0, 1.0 + 2e-3], np.float32))
    parity, _ = compare(eager, exported, labels, "mosi", recipe("onnx-cpu-fp32"))
    assert parity["max_abs_diff_uncertainty"] == pytest.approx(2e-3, rel=1e-3) and not parity["passed"]
    nan = (np.array([0.1, np.nan, 0.3], np.float32), eager[1])
    assert not compare(eager, nan, labels, "mosi", recipe("onnx-cpu-fp32"))[0]["passed"]


def test_export_outside_tolerance_fails_loudly_and_leaves_nothing(tmp_path):
    strict = recipe("jetson-trt-fp16")
    strict = strict.model_copy(update={"parity": strict.parity.model_copy(update={"max_abs_diff": 1e-9})})
    out = tmp_path / "fp16"
    with pytest.raises(UserError, match=r"parity outside the recipe's tolerance with onnxruntime: "
                                        r"max \|diff\|.*allowed 1e-09\) on 512 samples; no bundle written"):
        export_run(trained_run(), strict, out, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_existing_bundle_is_not_overwritten_without_force(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "manifest.json").write_text("{}")  # an empty folder holds nothing to replace
    with pytest.raises(UserError, match="exists and is not empty; pass --force"):
        export_run(trained_run(), "onnx-cpu-fp32", tmp_path / "b", progress=False)


def test_calibration_set_mixes_missing_conditions(tmp_path):
    mix = [{"share": 0.5}, {"share": 0.25, "rate": 0.5}, {"share": 0.25, "keep": "AV"}]
    plan = load_calibration_recipe(calibration_recipe("complete", samples=40, mix=mix))
    arrays, meta = build_calibration_set(plan, LIVE, source())
    text, text_mask = arrays[0], arrays[1]
    assert [a.shape[1:] for a in arrays] == [(64,), (64,), (300, 42), (300,), (60, 62), (60,)]
    assert meta["samples"] == 40 and meta["source"]["dataset"] == "vader-movie"
    absent = ~text_mask.any(1)
    assert absent.sum() == 10 and not text[absent].any()  # "AV": no transcript, ids and mask zeroed
    with_unk = (text == UNK_ID).any(1)
    assert 5 <= with_unk[:30].sum() <= 10 and with_unk[:20].sum() == 0  # rate 0.5 rows: 20..29
    path = save_calibration(tmp_path / "c.npz", arrays, meta)
    again, meta2 = load_calibration(path, LIVE)
    assert all(np.array_equal(a, b) for a, b in zip(arrays, again, strict=True)) and meta2 == meta
    other = LIVE.__class__(**{**{m: getattr(LIVE, m) for m in ("text", "audio", "vision")}, "name": "other"})
    with pytest.raises(UserError, match="built for FeatureSpec 'live-minilm', not the model's 'other'"):
        load_calibration(path, other)
    np.savez(tmp_path / "bad.npz", **{INPUT_NAMES[0]: arrays[0]})
    with pytest.raises(UserError, match="is not an edge-msa calibration set"):
        load_calibration(tmp_path / "bad.npz", LIVE)
