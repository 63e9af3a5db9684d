"""`edge-msa profile compare`: Markdown table and PNG plot from two result files; bad inputs."""

import json

from edge_msa.cli import main
from edge_msa.profile.report import SCHEMA


def _result(device: str, p50: float, backend_rows: list[tuple[str, float]]) -> dict:
    return {
        "schema": SCHEMA, "created": "2026-11-24T00:00:00+00:00", "command": "edge-msa profile b",
        "device": {"device_id": device, "cpu_model": "x", "cores": 2}, "device_profile": None,
        "bundle": {"name": "onnx-cpu-int8", "precision": "int8", "model_size_mb": 1.5},
        "settings": {"threads": 2, "runs": 10, "warmup": 2},
        "results": [
            {"backend": b, "status": "ok", "p50_ms": p50 * f, "p90_ms": p50 * f * 1.2,
             "p99_ms": p50 * f * 1.5, "mean_ms": p50 * f, "throughput_per_s": 1000 / (p50 * f),
             "peak_rss_mb": 300.0}
            for b, f in backend_rows
        ] + [{"backend": "tensorrt", "status": "unavailable", "reason": "no tensorrt module"}],
    }


def test_compare_writes_markdown_and_png(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(_result("amd-epyc-2c", 2.0, [("onnxruntime", 1.0), ("torch", 2.5)])))
    b.write_text(json.dumps(_result("raspberry-pi-5", 6.0, [("onnxruntime", 1.0)])))
    md, png = tmp_path / "cmp.md", tmp_path / "cmp.png"
    assert main(["profile", "compare", str(a), str(b), "--markdown", str(md), "--plot", str(png)]) == 0
    lines = md.read_text().splitlines()
    assert len(lines) == 2 + 3  # header, rule, three backends that ran (tensorrt skipped)
    assert "| raspberry-pi-5 | onnx-cpu-int8 | int8 | onnxruntime | 2 | 6.000 | 7.200 | 9.000 |" in lines[4]
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_compare_bad_inputs(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"schema": "something-else"}))
    ok = tmp_path / "ok.json"
    ok.write_text(json.dumps(_result("d", 1.0, [("torch", 1.0)])))
    for args in (["profile", "compare", str(tmp_path / "missing.json")],
                 ["profile", "compare", str(bad)],
                 ["profile", "compare", str(other)],
                 ["profile", "compare", str(ok), "--plot", str(tmp_path / "x.jpg")]):
        assert main(args) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("edge-msa: error:") and "\n" not in err
