"""The lean install (no extras): the runtime without torch, transformers, executorch or silero-vad.

Here those packages are installed, so a child process hides them (an import finder that reports
them absent, as a fresh venv would); `.ci/run` also installs the wheel into a real venv without
torch and runs the same commands there."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from shared_data import SHARED_DATA

from edge_msa.extras import EXTRA_OF

SHARED = SHARED_DATA
SPEECH, VADER = SHARED / "speech" / "librivox", SHARED / "vader_icwsm2014"
HIDDEN = sorted(m for m, extra in EXTRA_OF.items() if extra in ("train", "executorch"))

HIDE = f"""
import importlib.util, runpy, sys
HIDDEN = {HIDDEN!r}
class Absent:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
find_spec = importlib.util.find_spec
importlib.util.find_spec = lambda name, package=None: (
    None if name.split(".")[0] in HIDDEN else find_spec(name, package))
sys.meta_path.insert(0, Absent())
sys.argv = ["edge-msa", *sys.argv[1:]]
import edge_msa.cli
code = edge_msa.cli.main()
leaked = sorted(m for m in sys.modules if m.split(".")[0] in HIDDEN)
print("leaked:", leaked)
sys.exit(code)
"""


def _lean(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", HIDE, *args], capture_output=True, text=True, cwd=cwd)


def test_run_and_profile_without_torch(tmp_path):
    """`edge-msa run --audio FILE --fast` on real speech (the default tier falls back to its ONNX
    bundle) and `edge-msa profile` on the shipped ONNX bundle."""
    audio = SPEECH / "sense_and_sensibility_01_austen_64kb-0880.wav"
    run = _lean("run", "--audio", str(audio), "--fast", "--console", "off", "--json", "summary.json",
                "--jsonl", "events.jsonl", cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "leaked: []" in run.stdout
    from edge_msa.runtime.sinks.jsonl import read_jsonl

    events = read_jsonl(tmp_path / "events.jsonl")
    assert events and all(e.modalities["audio"] for e in events)
    assert any(e.transcript for e in events)  # text went through the bundle's tokenizer
    profile = _lean("profile", "default/onnx-int8", "--runs", "3", "--warmup", "1", "--json", "p.json",
                    cwd=tmp_path)
    assert profile.returncode == 0, profile.stderr[-2000:]
    assert '"status": "ok"' in (tmp_path / "p.json").read_text() and "leaked: []" in profile.stdout
    # an ExecuTorch bundle is profiled as unavailable, naming the extra that runs it
    nano = _lean("profile", "nano", "--runs", "1", "--warmup", "0", "--json", "n.json", cwd=tmp_path)
    (result,) = json.loads((tmp_path / "n.json").read_text())["results"]
    assert nano.returncode == 0 and result["status"] == "unavailable"
    assert "pip install 'edge-msa[executorch]'" in result["reason"]


@pytest.mark.parametrize(("args", "extra"), [
    (["train", "--model", "text_baseline", "--dataset", "vader-movie", "--out", "r"], "train"),
    (["models"], "train"),
])
def test_commands_of_an_extra_say_which_one(tmp_path, args, extra):
    out = _lean(*args, cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip() == (f"edge-msa: error: this needs torch, which the lean install leaves out: "
                                  f"pip install 'edge-msa[{extra}]'")


def test_eval_of_an_onnx_bundle_without_torch(tmp_path):
    """`edge-msa eval` on the shipped ONNX bundle: the same metrics as with torch and transformers
    installed (the text goes through the bundle's vocabulary with the `tokenizers` package)."""
    lines = (VADER / "movieReviewSnippets_GroundTruth.txt").read_text(errors="replace").splitlines()[:40]
    rows = [line.split("\t", 2) for line in lines]
    (tmp_path / "reviews.csv").write_text("text,label\n" + "".join(
        '"{}",{}\n'.format(text.strip().replace('"', "'"), score) for _, score, text in rows))
    args = ["eval", "default/onnx-int8", "--dataset", "text", "--data", "reviews.csv", "--split", "all",
            "--label-scale", "vader"]
    lean = _lean(*args, "--json", "lean.json", cwd=tmp_path)
    assert lean.returncode == 0, lean.stderr[-2000:]
    assert "leaked: []" in lean.stdout
    full = subprocess.run([sys.executable, "-m", "edge_msa", *args, "--json", "full.json"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert full.returncode == 0, full.stderr[-2000:]
    got, want = (json.loads((tmp_path / f"{n}.json").read_text())["rows"]["complete"]
                 for n in ("lean", "full"))
    assert got == want and got["corr"] > 0.3
    missing = _lean(*args, "--missing", "lnln", cwd=tmp_path)
    assert missing.returncode == 2 and "pip install 'edge-msa[train]'" in missing.stderr
