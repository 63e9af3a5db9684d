"""One rule for every output of every sub-command (edge_msa/outputs.py): never an input, never
replaced without --force, checked before any work starts.

The inputs here are junk on purpose (media that FFmpeg cannot read, a run folder whose config is
not JSON, ...): a command that did any work before checking its outputs would fail with a
different message, so each case also proves that the check comes first.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge_msa.cli import main

TINY = ["--model", "mean_pool_mlp-tiny", "--dataset", "synthetic"]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """Junk inputs of every kind, and outputs left by an earlier run."""
    paths = {
        "wav": tmp_path / "x.wav", "mp4": tmp_path / "clip.mp4", "npz": tmp_path / "d.npz",
        "pkl": tmp_path / "p.pkl", "results": tmp_path / "r.json", "png": tmp_path / "r.png",
        "yaml": tmp_path / "face-off.yaml", "prompts": tmp_path / "prompts.jsonl",
        "run": tmp_path / "run", "bundle": tmp_path / "bundle", "full": tmp_path / "full",
        "old": tmp_path / "old.json", "old_mp4": tmp_path / "old.mp4", "old_npz": tmp_path / "old.npz",
        "link": tmp_path / "link.wav", "tmp": tmp_path,
    }
    for name in ("wav", "mp4", "npz", "pkl", "results", "png", "prompts", "old", "old_mp4", "old_npz"):
        paths[name].write_bytes(f"junk {name}\n".encode())
    paths["yaml"].write_text("face:\n  enabled: false\n")  # a valid pipeline config
    paths["link"].symlink_to(paths["wav"])
    for folder, name in (("run", "config.json"), ("run", "model.safetensors"), ("bundle", "manifest.json"),
                         ("full", "keep.txt")):
        paths[folder].mkdir(exist_ok=True)
        (paths[folder] / name).write_text("{not json")
    return paths


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("edge-msa: error: "), err[0]
    return err[0]


def refused(argv: list[str], files: dict[str, Path], capsys) -> str:
    """Run argv (with {name} filled in); it must exit 2 with one line and change no file."""
    before = snapshot(files["tmp"])
    capsys.readouterr()
    assert main([a.format(**files) for a in argv]) == 2
    line = one_error_line(capsys)
    assert snapshot(files["tmp"]) == before
    return line


@pytest.mark.parametrize("argv, message", [
    (["run", "--audio", "{wav}", "--fast", "--jsonl", "{wav}"], "--jsonl {wav} is the --audio input"),
    (["run", "--audio", "{wav}", "--fast", "--jsonl", "{link}"], "is the --audio input"),  # a symlink to it
    (["run", "--video", "{mp4}", "--fast", "--overlay", "{mp4}"], "--overlay {mp4} is the --video input"),
    (["run", "--video", "{mp4}", "--config", "{yaml}", "--json", "{yaml}"], "is the --config input"),
    (["demo", "--bundle", "{bundle}", "--jsonl", "{bundle}/manifest.json"],
     "would replace a file inside the --bundle input"),
    (["eval", "{run}", "--json", "{run}/model.safetensors"], "would replace a file inside the TARGET input"),
    (["eval", "{run}", "--data", "{npz}", "--markdown", "{npz}"], "--markdown {npz} is the --data input"),
    (["profile", "{bundle}", "--json", "{bundle}"], "--json {bundle} is the BUNDLE input"),
    (["profile", "compare", "{results}", "--markdown", "{results}"], "is the RESULTS input"),
    (["profile", "compare", "{png}", "--plot", "{png}"], "--plot {png} is the RESULTS input"),
    (["export", "{run}", "--recipe", "onnx-cpu-fp32", "--out", "{run}"], "--out {run} is the RUN input"),
    (["export", "{run}", "--recipe", "onnx-cpu-fp32", "--out", "{tmp}"], "--out {tmp} holds the RUN input"),
    (["export", "{run}", "--recipe", "{yaml}", "--out", "{tmp}/b", "--json", "{yaml}"], "the --recipe input"),
    (["calibrate", "--recipe", "mixed-missing", "--run", "{run}", "--out", "{run}"], "is the --run input"),
    (["calibrate", "--recipe", "mixed-missing", "--run", "{run}", "--out", "{tmp}/c.npz", "--json",
      "{run}/config.json"], "would replace a file inside the --run input"),
    (["data", "convert", "{pkl}", "{pkl}", "--trust-pickle"], "OUT {pkl} is the PKL input"),
    (["train", *TINY[:2], "--data", "{npz}", "--out", "{tmp}"], "holds the --data input"),
    (["train", "--recipe", "{yaml}", "--out", "{tmp}/r", "--json", "{yaml}"], "is the --recipe input"),
    (["distill", "--teacher", "{run}", "--out", "{run}"], "--out {run} is the --teacher input"),
    (["distill-teacher", "--dataset", "synthetic", "--prompts", "{prompts}", "--out", "{tmp}/t", "--json",
      "{prompts}"], "is the --prompts input"),
])
def test_an_output_never_replaces_an_input_even_with_force(files, capsys, argv, message):
    line = refused([*argv, "--force"], files, capsys)
    assert message.format(**files) in line and "an output never replaces an input" in line


@pytest.mark.parametrize("argv", [
    ["run", "--audio", "{wav}", "--fast", "--jsonl", "{old}"],
    ["run", "--audio", "{wav}", "--fast", "--json", "{old}"],
    ["run", "--video", "{mp4}", "--fast", "--overlay", "{old_mp4}"],
    ["demo", "--bundle", "{bundle}", "--jsonl", "{old}"],
    ["eval", "{run}", "--json", "{old}"],
    ["eval", "{run}", "--markdown", "{old}"],
    ["profile", "{bundle}", "--json", "{old}"],
    ["profile", "compare", "{results}", "--markdown", "{old}"],
    ["profile", "compare", "{results}", "--plot", "{png}"],
    ["export", "{run}", "--recipe", "onnx-cpu-fp32", "--out", "{tmp}/b", "--json", "{old}"],
    ["export", "{run}", "--recipe", "onnx-cpu-fp32", "--out", "{full}"],
    ["calibrate", "--recipe", "mixed-missing", "--run", "{run}", "--out", "{old_npz}"],
    ["calibrate", "--recipe", "mixed-missing", "--run", "{run}", "--out", "{tmp}/c.npz", "--json", "{old}"],
    ["data", "convert", "{pkl}", "{old_npz}", "--trust-pickle"],
    ["train", *TINY, "--out", "{full}"],
    ["train", *TINY, "--out", "{tmp}/new", "--json", "{old}"],
    ["models", "--json", "{old}"],
    ["distill-teacher", "--dataset", "synthetic", "--out", "{tmp}/t", "--json", "{old}"],
])
def test_an_existing_output_is_replaced_only_with_force(files, capsys, argv):
    line = refused(argv, files, capsys)
    assert "exists" in line and "pass --force to replace it" in line
    assert not (files["tmp"] / "b").exists() and not (files["tmp"] / "new").exists()


@pytest.mark.parametrize("argv, message", [
    (["run", "--audio", "{wav}", "--fast", "--jsonl", "{tmp}/nowhere/e.jsonl"], "output folder"),
    (["run", "--audio", "{wav}", "--fast", "--overlay", "{wav}/o.mp4"], "is not a folder"),
    (["eval", "{run}", "--json", "{tmp}/nowhere/e.json"], "output folder"),
    (["profile", "{bundle}", "--json", "{tmp}"], "is a folder: name a file"),
    (["train", *TINY, "--out", "{wav}/run"], "is not a folder"),
    (["train", *TINY, "--out", "{wav}", "--force"], "is a file, not a folder"),
    (["run", "--audio", "{wav}", "--fast", "--jsonl", "{tmp}/e", "--json", "{tmp}/e"], "both name"),
])
def test_an_output_that_cannot_be_written_fails_at_once(files, capsys, argv, message):
    assert message in refused(argv, files, capsys)


def test_force_replaces_an_output(tmp_path, capsys):
    from test_profile_compare import _result

    result, md = tmp_path / "a.json", tmp_path / "cmp.md"
    result.write_text(json.dumps(_result("amd-epyc-2c", 2.0, [("onnxruntime", 1.0)])))
    md.write_text("old table\n")
    assert main(["profile", "compare", str(result), "--markdown", str(md)]) == 2
    assert md.read_text() == "old table\n"
    assert main(["profile", "compare", str(result), "--markdown", str(md), "--force"]) == 0
    assert "| amd-epyc-2c |" in md.read_text()
