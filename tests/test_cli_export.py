"""`edge-msa export` and `edge-msa calibrate` from the command line."""

from __future__ import annotations

import json

from export_helpers import calibration_recipe, trained_run

from edge_msa.cli import main
from edge_msa.export.bundle import load_bundle
from edge_msa.features.spec import LIVE
from edge_msa.quantize.calibration import load_calibration


def test_export_writes_a_bundle_and_refuses_to_overwrite(tmp_path, capsys):
    out, js = tmp_path / "bundle", tmp_path / "manifest.json"
    assert main(["export", str(trained_run()), "--recipe", "onnx-cpu-fp32", "--out", str(out),
                 "--json", str(js)]) == 0
    assert "TensorRT 10.3 lint: ok" in capsys.readouterr().out
    assert load_bundle(out).manifest.parity["passed"] and json.loads(js.read_text())["parity"]["passed"]
    assert main(["export", str(trained_run()), "--recipe", "onnx-cpu-fp32", "--out", str(out)]) == 2
    assert "exists and is not empty; pass --force to replace it" in capsys.readouterr().err


def test_export_errors_are_one_line(tmp_path, capsys):
    assert main(["export", str(trained_run()), "--recipe", "tflite", "--out", str(tmp_path / "b")]) == 2
    assert capsys.readouterr().err.startswith("edge-msa: error: no export recipe named 'tflite'")
    assert main(["export", str(tmp_path), "--recipe", "onnx-cpu-fp32", "--out", str(tmp_path / "b")]) == 2
    assert "is not a run folder" in capsys.readouterr().err
    assert main(["export", str(trained_run()), "--recipe", "onnx-cpu-int8", "--out", str(tmp_path / "b"),
                 "--calibration", str(tmp_path / "c.npz")]) == 2
    assert "does not calibrate (int8, onnx-dynamic); drop --calibration" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def test_calibrate_then_export_with_that_set(tmp_path, capsys):
    calib = tmp_path / "calib.npz"
    plan = calibration_recipe("mixed-missing", samples=24)
    assert main(["calibrate", "--recipe", str(plan), "--run", str(trained_run()), "--out", str(calib)]) == 0
    assert "wrote" in capsys.readouterr().out
    arrays, meta = load_calibration(calib, LIVE)
    assert len(arrays[0]) == 24 and meta["source"]["dataset"] == "vader-movie"
    out = tmp_path / "trt-int8"
    assert main(["export", str(trained_run()), "--recipe", "jetson-trt-int8", "--out", str(out),
                 "--calibration", str(calib), "--target", "jetson-orin-nano"]) == 0
    m = load_bundle(out).manifest
    assert m.target == "jetson-orin-nano" and m.quantization["calibration_set"]["file"] == str(calib)
    assert m.quantization["calibration_set"]["samples"] == 24 and (out / "build_engine.sh").is_file()


