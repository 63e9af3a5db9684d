"""`edge-msa score`: the `run --fast` pipeline over a folder or manifest; one row per event, bad files
reported. Real clips: the CREMA-D sample (face + speech) and a corrupt copy of one."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from shared_data import SHARED_DATA

from edge_msa.cli import main

CREMA = SHARED_DATA / "crema-d-sample"
pytestmark = pytest.mark.skipif(not CREMA.is_dir(), reason="needs ../shared/data")
BUNDLE = "default/onnx-int8"


def score(capsys, *args) -> tuple[int, str, str]:
    code = main(["score", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_score_a_folder_one_row_per_event_and_bad_files_reported(tmp_path, capsys):
    folder = tmp_path / "clips"
    folder.mkdir()
    for name in ("1001_DFA_HAP_XX.flv", "1001_DFA_ANG_XX.flv"):
        shutil.copy(CREMA / name, folder / name)
    (folder / "broken.mp4").write_bytes(b"\0" * 4000)
    out = tmp_path / "results.csv"
    code, printed, err = score(capsys, folder, "--out", out, "--bundle", BUNDLE)
    assert code == 0, err
    rows = list(csv.DictReader(out.open()))
    assert {Path(r["file"]).name for r in rows} == {"1001_DFA_HAP_XX.flv", "1001_DFA_ANG_XX.flv"}
    for r in rows:  # the clips hold one utterance each, with voice and face
        assert r["kind"] == "utterance" and float(r["end_s"]) > float(r["start_s"])
        assert -3 <= float(r["score"]) <= 3 and r["label"] in ("positive", "neutral", "negative")
        assert r["voice_score"] and r["face_score"] and "audio_score" not in r
    [bad] = list(csv.DictReader((tmp_path / "results.bad.csv").open()))
    assert Path(bad["path"]).name == "broken.mp4" and bad["reason"]
    assert "2 files" in printed and "1 bad files" in printed
    # the same scores through a labelled JSONL manifest: the label of the segment an event overlaps
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"path,start_s,end_s,label\n{folder / '1001_DFA_HAP_XX.flv'},0,,HAP\n")
    out2 = tmp_path / "labelled.jsonl"
    code, _, err = score(capsys, manifest, "--out", out2, "--bundle", BUNDLE)
    assert code == 0, err
    [event] = [json.loads(line) for line in out2.read_text().splitlines()]
    [same] = [r for r in rows if r["file"].endswith("HAP_XX.flv")]
    assert event["true_label"] == "HAP"
    np.testing.assert_allclose(event["score"], float(same["score"]), atol=1e-4)  # deterministic per file


@pytest.mark.parametrize("args, message", [
    (["--out", "r.txt"], "must end in .csv or .jsonl"),
    (["--out", "r.csv", "--workers", "0"], "--workers must be at least 1"),
])
def test_score_bad_options_are_one_line(tmp_path, capsys, args, message):
    code, _, err = score(capsys, CREMA, *[str(tmp_path / a) if a.startswith("r.") else a for a in args])
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_score_refuses_to_replace_results_without_force(tmp_path, capsys):
    out = tmp_path / "r.csv"
    out.write_text("mine\n")
    code, _, err = score(capsys, CREMA, "--out", out)
    assert code == 2 and "--force" in err and out.read_text() == "mine\n"
