"""`edge-msa profile BUNDLE` end to end on real bundles: ONNX and ExecuTorch, operators, stages, errors.

The bundles are the export tests' own (`export_helpers.bundle`: the real export pipeline on a tiny
run trained on real VADER sentences), built once per test process.
"""

from __future__ import annotations

import json

import pytest
from export_helpers import bundle

from edge_msa.cli import main
from edge_msa.profile.report import load_result

QUICK = ("--backend", "onnxruntime", "--runs", "1", "--warmup", "0")


@pytest.fixture(scope="module")
def bundles():
    return {name: bundle(name) for name in ("onnx-cpu-fp32", "android-xnnpack-fp32")}


def profile(args, tmp_path, capsys) -> tuple[int, dict | None, str]:
    out = tmp_path / "result.json"
    code = main(["profile", *map(str, args), "--runs", "5", "--warmup", "1", "--json", str(out)])
    err = capsys.readouterr().err
    return code, (json.loads(out.read_text()) if out.is_file() else None), err


def test_onnx_bundle_profile_json_validates_and_covers_every_backend(bundles, tmp_path, capsys):
    code, raw, _ = profile([bundles["onnx-cpu-fp32"]], tmp_path, capsys)
    assert code == 0
    result = load_result(tmp_path / "result.json")
    assert raw["schema"] == "edge-msa/profile/1"
    # the recipe ships the reference program too, so the bundle runs on onnxruntime and torch
    assert [r.backend for r in result.results] == ["onnxruntime", "torch"]
    for r in result.results:
        assert r.status == "ok" and r.runs == 5
        assert 0 < r.p50_ms <= r.p90_ms <= r.p99_ms
        assert r.throughput_per_s == pytest.approx(1e3 / r.mean_ms)
        assert r.peak_rss_mb > 0
    size = (bundles["onnx-cpu-fp32"] / "model.onnx").stat().st_size
    assert result.bundle["model_size_mb"] == pytest.approx(size / 1e6, abs=1e-3)
    assert result.bundle["format"] == "onnx" and result.settings["runs"] == 5
    assert result.device["cores"] >= 1 and result.device["device_id"]
    assert result.operators is None and result.stages is None


def test_text_tokens_set_what_the_bundle_computes(bundles, tmp_path, capsys):
    """The default input is the 17-token sentence, cut to its tokens (the bundle's text axis varies);
    --text-tokens 64 times the whole window."""
    for tokens in (None, 64):
        extra = [] if tokens is None else ["--text-tokens", tokens]
        code, raw, _ = profile([bundles["android-xnnpack-fp32"], "--backend", "executorch", *extra],
                               tmp_path, capsys)
        assert code == 0
        assert raw["settings"]["text_tokens"] == (tokens or 17) and raw["settings"]["text_cut"] is True
        (tmp_path / "result.json").unlink()


def test_operators_break_an_executorch_bundle_down(bundles, tmp_path, capsys):
    code, raw, _ = profile([bundles["android-xnnpack-fp32"], "--backend", "executorch", "--operators"],
                           tmp_path, capsys)
    assert code == 0
    ops = load_result(tmp_path / "result.json").operators
    assert [r.backend for r in load_result(tmp_path / "result.json").results] == ["executorch"]
    rows = ops["operators"]
    assert {r["kind"] for r in rows} == {"portable", "delegate"}
    assert all(r["count"] >= 1 and r["total_ms"] >= 0 for r in rows)
    # top-level rows partition the program's time; the rest is the runtime between instructions
    assert sum(r["total_ms"] for r in rows) <= ops["execute_ms"] * 1.001
    assert ops["portable_ms"] + ops["delegate_ms"] + ops["other_ms"] == pytest.approx(ops["execute_ms"])
    assert [r["total_ms"] for r in rows] == sorted((r["total_ms"] for r in rows), reverse=True)
    # the MLP's Linear layers run inside XNNPACK; executorch 1.5.1 leaves mean pooling's sums portable
    assert any(r["name"].startswith("Fully Connected") for r in ops["delegated_ops"])
    assert any(r["name"].startswith("sum") for r in rows if r["kind"] == "portable")
    assert ops["runs"] == 5 and "ms per run" in ops["summary"]
    # the exporter's counts come along: what XNNPACK took and what it left, by op
    d = ops["delegation"]
    assert d["delegated_ops"] > 0 and sum(d["non_delegated_by_op"].values()) == d["non_delegated_ops"]
    assert f"{d['non_delegated_ops']} left on portable kernels" in ops["summary"]


def test_stages_profile_the_runtime_on_a_media_file(bundles, tmp_path, capsys):
    from runtime_helpers import decode_demo, write_media

    frames, fps, wave = decode_demo(3.0)  # the demo clip's first utterance
    media = write_media(tmp_path / "clip.mp4", frames, fps, wave)
    code, raw, _ = profile([bundles["onnx-cpu-fp32"], "--backend", "onnxruntime", "--stages", media],
                           tmp_path, capsys)
    assert code == 0
    stages = load_result(tmp_path / "result.json").stages
    assert stages["events"] >= 1 and stages["rtf"] > 0 and stages["media_s"] == pytest.approx(3.0, abs=0.1)
    for key in ("vad_ms", "audio_features_ms", "face_ms", "backend_ms", "event_ms"):
        s = stages["stages"][key]
        assert s["count"] >= 1 and 0 <= s["p50_ms"] <= s["p95_ms"] <= s["max_ms"]


@pytest.mark.parametrize(("args", "message"), [
    (["missing-bundle"], "missing-bundle"),
    (["{onnx}", "--backend", "executorch"], "not made for executorch"),
    (["{onnx}", "--runs", "0"], "--runs"),
    (["{onnx}", "--operators", *QUICK], "needs an ExecuTorch (.pte) bundle"),
    (["{onnx}", "--stages", "no-such.mp4", *QUICK], "no-such.mp4 does not exist"),
    (["{onnx}", "--text-tokens", "65", *QUICK], "--text-tokens must be 2..64"),
])
def test_bad_inputs_exit_2_with_one_line(bundles, tmp_path, capsys, args, message):
    args = [a.format(onnx=bundles["onnx-cpu-fp32"]) for a in args]
    if args[0] == "missing-bundle":
        args[0] = str(tmp_path / "missing-bundle")
    code = main(["profile", *args])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("edge-msa: error:") and "\n" not in err and message in err
