"""The exported voice front-end: the graph, its ONNX / ExecuTorch files in bundles, INPUTS.md, and
`--frontend bundle` in `edge-msa run` and `edge-msa eval`, all against the Python extractor on real speech."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from runtime_helpers import tiny_bundle

from edge_msa.cli import main
from edge_msa.export import frontend as F
from edge_msa.export.bundle import load_bundle, read_manifest, sha256_file, write_manifest
from edge_msa.export.inputs_doc import INPUTS_MD, inputs_markdown
from edge_msa.features import audio as A
from edge_msa.features.audio_graph import frontend_frames
from edge_msa.features.face import FEATURE_NAMES
from edge_msa.features.media import demo_clip_path, read_audio
from edge_msa.runtime.sinks.jsonl import read_jsonl

LIBRIVOX = sorted(Path("tests/data/librivox").glob("*.wav"))
MAX_BYTES = 1_000_000  # each front-end file (issue 28: a float32 graph of at most 1 MB)


def _speech() -> list[Path]:
    return F.speech_files(limit_per_folder=4)


def test_float32_graph_equals_the_python_extractor_on_real_speech():
    """All 42 channels within TOLERANCE on every frame, pitch included: on these files (and on all
    55,608 frames of the demo clip, LibriVox and EmoDB: bench/bench_frontend.py --parity) float32 YIN
    takes the float64 extractor's decision on every frame."""
    voiced = 0
    for f in _speech():
        wave = read_audio(f, A.SAMPLE_RATE)
        ref, got = A.AudioFeaturizer().offline(wave), frontend_frames(wave)
        assert got.shape == ref.shape and got.dtype == np.float32
        np.testing.assert_allclose(got, ref, atol=F.TOLERANCE, rtol=0)
        voiced += int((ref[:, A.N_MELS] > 0).sum())
    assert voiced > 100  # the pitch channel is exercised, not all zeros


def test_graph_holds_only_float32_tables_of_a_few_kb():
    import torch

    from edge_msa.features.audio_graph import VoiceFrontend

    tables = list(VoiceFrontend().buffers())
    assert tables and all(t.dtype == torch.float32 for t in tables)
    assert sum(t.numel() * t.element_size() for t in tables) < 100_000  # factorised DFTs: no dense matrix


def test_parity_counts_pitch_frames_that_took_another_dip():
    """A frame whose pitch differs beyond TOLERANCE is counted, kept out of the pitch column, and fails
    the check once more than MAX_PITCH_FLIP_SHARE of the frames differ; log-mel never passes late."""
    files = [LIBRIVOX[0]]

    def shifted(channel: int, frames: slice):
        def run(wave):
            out = A.AudioFeaturizer().offline(wave)
            out[frames, channel] += 0.5
            return out
        return run

    one = F.measure_parity(shifted(A.N_MELS, slice(0, 1)), files)
    assert one["pitch_frames_differing"] == 1 and one["max_abs_diff_pitch"] == 0.0
    assert one["passed"] == (1 <= F.MAX_PITCH_FLIP_SHARE * one["frames"])
    assert not F.measure_parity(shifted(A.N_MELS, slice(None)), files)["passed"]
    mel = F.measure_parity(shifted(3, slice(0, 1)), files)
    assert not mel["passed"] and mel["max_abs_diff_logmel_energy"] == pytest.approx(0.5)


def test_streamed_graph_frames_equal_offline():
    wave = read_audio(LIBRIVOX[0], A.SAMPLE_RATE)[: int(1.3 * A.SAMPLE_RATE)]
    featurizer = F.FrontendFeaturizer(frontend_frames)
    rng, parts, i = np.random.default_rng(0), [], 0
    while i < len(wave):
        n = int(rng.choice([1, 100, 320, 640, 1000, 4000]))
        parts.append(featurizer.push(wave[i : i + n]))
        i += n
    np.testing.assert_allclose(np.concatenate(parts), A.AudioFeaturizer().offline(wave), atol=F.TOLERANCE)


def test_onnx_bundle_has_frontend_inputs_md_and_parity():
    root = tiny_bundle()  # onnx-cpu-int8 of a live-spec model: the front-end is on by default
    bundle = load_bundle(root)  # every listed file, frontend.onnx and INPUTS.md included, matches its sha256
    m = bundle.manifest
    assert m.files[F.ONNX].role == "frontend" and m.files[INPUTS_MD].role == "doc" and F.PTE not in m.files
    assert m.files[F.ONNX].sha256 == sha256_file(root / F.ONNX) and m.files[F.ONNX].bytes <= MAX_BYTES
    assert m.frontend["precision"] == "float32"
    parity = m.frontend["parity"]["onnxruntime"]
    assert parity["passed"] and parity["max_abs_diff"] < F.TOLERANCE and parity["frames"] > 1000
    assert set(parity["data"]) >= {"demo", "librivox"}
    # generated from the manifest: regenerating gives the same file
    doc = (root / INPUTS_MD).read_text()
    assert doc == inputs_markdown(read_manifest(root))
    for needle in ("`text`", "`audio_mask`", "tokenizer/vocab.txt", "BertTokenizer", F.ONNX, "`pcm`",
                   "`frames`", "YIN pitch included", FEATURE_NAMES[0], FEATURE_NAMES[-1], "`score`"):
        assert needle in doc, needle
    # the shipped file itself, on a clip and on inputs too short for a frame
    run = F.OnnxFrontend(root / F.ONNX)
    wave = read_audio(LIBRIVOX[-1], A.SAMPLE_RATE)
    assert np.abs(run(wave) - A.AudioFeaturizer().offline(wave)).max() < F.TOLERANCE
    for n in (0, 1, 319, 320, 641):
        w = np.random.default_rng(n).normal(0, 0.1, n).astype(np.float32)
        np.testing.assert_allclose(run(w), A.AudioFeaturizer().offline(w), atol=F.TOLERANCE)


def test_executorch_frontend_matches(tmp_path):
    F.export_frontend_pte(tmp_path / F.PTE)
    assert (tmp_path / F.PTE).stat().st_size <= MAX_BYTES
    parity = F.measure_parity(F.PteFrontend(tmp_path / F.PTE), F.speech_files(limit_per_folder=2))
    assert parity["passed"] and parity["max_abs_diff"] < F.TOLERANCE and parity["pitch_frames_differing"] == 0
    # XNNPACK takes every matmul of the DFTs and the mel filterbank; none is left on a portable kernel
    delegation = F.pte_delegation()
    assert delegation["delegated_ops"] > delegation["non_delegated_ops"]
    assert not {"aten_mm_default", "aten_bmm_default", "aten_linear_default", "aten_addmm_default"} & set(
        delegation["non_delegated_by_op"])
    assert "demo" in parity["data"] and parity["frames"] > F.PTE_MAX_SECONDS * 50  # 17.5 s clip: chunks
    assert F.PteFrontend(tmp_path / F.PTE)(np.zeros(100, np.float32)).shape == (0, A.DIM)
    # the documented chunk rule: start one hop early, drop the chunk's first frame
    wave = read_audio(LIBRIVOX[1], A.SAMPLE_RATE)[: 3 * A.SAMPLE_RATE + 123]
    chunked = F.PteFrontend(tmp_path / F.PTE, max_samples=7 * A.HOP)(wave)
    np.testing.assert_allclose(chunked, A.AudioFeaturizer().offline(wave), atol=F.TOLERANCE)


def _without_frontend(tmp_path: Path) -> Path:
    """A copy of the tiny bundle as exported with `frontend=False` (no graph, INPUTS.md says so)."""
    root = Path(shutil.copytree(tiny_bundle(), tmp_path / "no-frontend"))
    m = read_manifest(root)
    (root / F.ONNX).unlink()
    m.files.pop(F.ONNX)
    m.frontend = None
    (root / INPUTS_MD).write_text(inputs_markdown(m))
    m.files[INPUTS_MD].sha256 = sha256_file(root / INPUTS_MD)
    m.files[INPUTS_MD].bytes = (root / INPUTS_MD).stat().st_size
    write_manifest(root, m)
    load_bundle(root)
    assert "_yin_pitch" in (root / INPUTS_MD).read_text()
    return root


def test_run_demo_clip_with_the_bundle_frontend(tmp_path, capsys):
    """The exported path end to end: same events, voice evidence within tolerance of the Python run."""
    events = {}
    for frontend in ("python", "bundle"):
        out = tmp_path / f"{frontend}.jsonl"
        argv = ["run", "--video", str(demo_clip_path()), "--fast", "--bundle", str(tiny_bundle()),
                "--jsonl", str(out), "--console", "off", "--frontend", frontend]
        assert main(argv) == 0, capsys.readouterr().err
        events[frontend] = read_jsonl(out)
    py, graph = events["python"], events["bundle"]
    assert len(py) == len(graph) >= 5
    for a, b in zip(py, graph, strict=True):
        assert (a.start, a.end) == (b.start, b.end)
        assert a.evidence["voice"].present and b.evidence["voice"].present
        assert abs(a.evidence["voice"].score - b.evidence["voice"].score) < 1e-3

    out = tmp_path / "none.jsonl"
    argv = ["run", "--video", str(demo_clip_path()), "--fast", "--bundle", str(_without_frontend(tmp_path)),
            "--jsonl", str(out), "--frontend", "bundle"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "has no voice front-end" in err and "--frontend python" in err and not out.exists()


def _events(tmp_path: Path, bundle: str, frontend: str, capsys) -> list:
    out = tmp_path / f"{bundle.replace('/', '-')}-{frontend}.jsonl"
    argv = ["run", "--audio", str(LIBRIVOX[0]), "--fast", "--bundle", bundle, "--jsonl", str(out),
            "--console", "off", "--frontend", frontend]
    assert main(argv) == 0, capsys.readouterr().err
    return read_jsonl(out)


@pytest.mark.parametrize("bundle", ["default", "default/onnx-int8"])
def test_shipped_default_gives_the_same_events_with_its_own_frontend(tmp_path, capsys, bundle):
    """`--frontend bundle` on the shipped default (its frontend.onnx) against `--frontend python` on real
    speech: the same events, transcripts and voice presence; scores within 1e-3 (measured here and on the
    demo clip: identical with onnxruntime, within 1e-7 with ExecuTorch; the frames differ by <= 1.1e-4)."""
    py, graph = (_events(tmp_path, bundle, frontend, capsys) for frontend in ("python", "bundle"))
    assert len(py) == len(graph) >= 2
    for a, b in zip(py, graph, strict=True):
        assert (a.start, a.end, a.transcript, a.label) == (b.start, b.end, b.transcript, b.label)
        assert a.evidence["voice"].present and b.evidence["voice"].present
        assert abs(a.evidence["voice"].score - b.evidence["voice"].score) < 1e-3
        assert abs(a.score - b.score) < 1e-3


def test_api_takes_the_bundle_frontend():
    from edge_msa import SentimentModel
    from edge_msa.errors import UserError

    wave = read_audio(LIBRIVOX[1], A.SAMPLE_RATE)
    py, graph = (SentimentModel("default/onnx-int8", frontend=f).score_utterance(text="fine", audio=wave)
                 for f in ("python", "bundle"))
    assert py.evidence["voice"].present and graph.evidence["voice"].present
    assert abs(py.evidence["voice"].score - graph.evidence["voice"].score) < 1e-3
    assert abs(py.score - graph.score) < 1e-3
    with pytest.raises(UserError, match="frontend must be one of python, bundle"):
        SentimentModel("default/onnx-int8", frontend="graph")


def test_bundle_frontend_runs_without_torch(tmp_path):
    """The lean install (no torch, no executorch) runs `--frontend bundle` through onnxruntime."""
    from test_lean_install import _lean

    done = _lean("run", "--audio", str(LIBRIVOX[0].resolve()), "--fast", "--console", "off", "--jsonl",
                 "events.jsonl", "--frontend", "bundle", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "leaked: []" in done.stdout and read_jsonl(tmp_path / "events.jsonl")


def test_eval_emodb_with_the_bundle_frontend(tmp_path, capsys):
    data = Path(F.SPEECH[1]).parents[1]
    if not F.SPEECH[1].is_dir():
        pytest.skip(f"needs EmoDB in {data}")
    results = {}
    for frontend in ("python", "bundle"):
        out = tmp_path / f"{frontend}.json"
        argv = ["eval", str(tiny_bundle()), "--dataset", "emodb", "--data", str(data), "--json", str(out),
                "--frontend", frontend]
        assert main(argv) == 0, capsys.readouterr().err
        results[frontend] = json.loads(out.read_text())
    (py,), (graph,) = results["python"]["rows"].values(), results["bundle"]["rows"].values()
    assert results["bundle"]["frontend"] == "bundle"
    for k, v in py.items():
        if isinstance(v, float):
            assert abs(v - graph[k]) < 1e-3, (k, v, graph[k])
    assert main(["eval", str(tiny_bundle()), "--dataset", "synthetic", "--frontend", "bundle"]) == 2
    assert "only emodb" in capsys.readouterr().err


def test_executorch_bundle_ships_the_pte_frontend(tmp_path):
    import torch

    from edge_msa.features.spec import LIVE
    from edge_msa.models import create_model
    from edge_msa.train.run import save_run
    from edge_msa.workflows.export_run import export_run

    torch.manual_seed(0)
    save_run(tmp_path / "run", create_model("mean_pool_mlp-tiny", LIVE), {"data": {"dataset": "synthetic"}})
    m = export_run(tmp_path / "run", "android-xnnpack-fp32", tmp_path / "bundle", progress=False)
    assert {f for f, i in m.files.items() if i.role == "frontend"} == {F.ONNX, F.PTE}
    assert all(p["passed"] for p in m.frontend["parity"].values()) and "executorch" in m.frontend["parity"]
    assert m.frontend["pte_max_samples"] == F.PTE_MAX_SECONDS * A.SAMPLE_RATE
    load_bundle(tmp_path / "bundle")
    doc = (tmp_path / "bundle" / INPUTS_MD).read_text()
    assert "`frontend.onnx` or `frontend.pte`" in doc and "| executorch |" in doc
    assert not (tmp_path / "bundle.partial").exists()


def test_frontend_refused_for_other_audio_kinds(tmp_path):
    import torch

    from edge_msa.errors import UserError
    from edge_msa.features.spec import MOSI_BERT
    from edge_msa.models import create_model
    from edge_msa.train.run import save_run
    from edge_msa.workflows.export_run import export_run

    torch.manual_seed(0)
    save_run(tmp_path / "run", create_model("mean_pool_mlp-tiny", MOSI_BERT),
             {"data": {"dataset": "synthetic"}})
    with pytest.raises(UserError, match="front-end computes audio:logmel-40-pitch-energy"):
        export_run(tmp_path / "run", "onnx-cpu-fp32", tmp_path / "bundle", progress=False, frontend=True)
    m = export_run(tmp_path / "run", "onnx-cpu-fp32", tmp_path / "bundle", progress=False)  # default: off
    assert m.frontend is None and F.ONNX not in m.files
    assert "no live extractor" in (tmp_path / "bundle" / INPUTS_MD).read_text()
