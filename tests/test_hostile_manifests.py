"""Issue 29, the manifest side: hostile or careless manifests against `score`, `data extract` and the
readers. One test per defect, named after it. Media are tiny generated WAVs (a 220 Hz tone, which
the extractor's signal check accepts; no speech model runs: `--no-asr`, and `score` is stopped by
its output checks before any model loads)."""

from __future__ import annotations

import csv
import json
import math
import os
import re
import warnings
import wave
from pathlib import Path

import numpy as np
import pytest

from edge_msa.cli import main
from edge_msa.data.media_sources import Clip, assign_splits, label_values, read_manifest
from edge_msa.errors import UserError
from edge_msa.workflows.extract_media import FileJob, extract_job
from edge_msa.workflows.score_archive import ScoreJob, bad_rows

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


def tone(path: Path, seconds: float = 3.0, width: int = 2) -> Path:
    """A mono 16 kHz WAV of a 220 Hz tone; width 1 writes unsigned 8-bit samples (centre 128)."""
    t = np.arange(round(seconds * 16000)) / 16000
    x = 0.3 * np.sin(2 * np.pi * 220 * t)
    data = (128 + 100 * x / 0.3).astype(np.uint8) if width == 1 else (x * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(width)
        w.setframerate(16000)
        w.writeframes(data.tobytes())
    return path


def cli(capsys, *args) -> tuple[int, str, str]:
    code = main([*map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def one_line_error(capsys, *args) -> str:
    code, _, err = cli(capsys, *args)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("edge-msa: error: "), (code, err)
    return lines[0]


def test_score_never_overwrites_listed_input(tmp_path, capsys):
    """A file a manifest lists is an input: neither --report nor --out may replace it (even with
    --force), and `data extract --out` may not be the folder that holds it; all refused before work."""
    media = tmp_path / "v"
    media.mkdir()
    clip = tone(media / "clip.wav")
    listed_csv = media / "notes.csv"
    listed_csv.write_text("mine\n")
    manifest = tmp_path / "v.csv"
    manifest.write_text(f"path\n{clip}\n{listed_csv}\n")
    before = clip.read_bytes()
    line = one_line_error(capsys, "score", manifest, "--out", tmp_path / "r.csv", "--report", clip, "--force")
    assert "--report" in line and "listed media" in line and "never replaces an input" in line
    line = one_line_error(capsys, "score", manifest, "--out", listed_csv, "--force")
    assert "--out" in line and "listed media" in line
    labelled = tmp_path / "m.csv"
    labelled.write_text(f"path,start_s,end_s,label\n{clip},0,2,F\n")
    line = one_line_error(capsys, "data", "extract", labelled, "--out", media, "--force", "--no-asr")
    assert "holds the listed media input" in line
    assert clip.read_bytes() == before and listed_csv.read_text() == "mine\n"
    assert sorted(p.name for p in media.iterdir()) == ["clip.wav", "notes.csv"]
    assert not (tmp_path / "r.csv").exists()


def test_times_in_the_wrong_unit_go_to_the_report(tmp_path, capsys):
    """Milliseconds by mistake (0..2750 in a 3 s file) or 1e300: the row goes to the report with the
    reason (no numpy cast warning); when every row is such a row, the command fails."""
    tone(tmp_path / "clip.wav")
    only_ms = tmp_path / "ms.csv"
    only_ms.write_text("path,start_s,end_s,label\nclip.wav,0,2750,F\n")
    line = one_line_error(capsys, "data", "extract", only_ms, "--out", tmp_path / "ds0", "--no-asr")
    assert "no usable rows" in line and "milliseconds by mistake" in line
    assert not (tmp_path / "ds0").exists()
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("path,start_s,end_s,label\nclip.wav,0,2.5,F\nclip.wav,0,2750,N\nclip.wav,0,1e300,W\n"
                     "clip.wav,9,12,F\n")
    code, printed, err = cli(capsys, "data", "extract", mixed, "--out", tmp_path / "ds", "--no-asr")
    assert code == 0, err
    assert "1 rows" in printed and "3 left out" in printed
    report = list(csv.DictReader((tmp_path / "ds" / "report.csv").open(newline="")))
    assert [(r["end_s"], r["reason"].split(":")[0]) for r in report] == [
        ("2750.0", "segment ends at 2750 s, after the end of the audio (3.00 s)"),
        ("1e+300", "segment ends at 1e+300 s, after the end of the audio (3.00 s)"),
        ("12.0", "segment starts at 9 s, after the end of the audio (3.00 s)")]
    # the extractor itself (main() hides library warnings): no numpy "invalid value encountered in cast"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        job = extract_job(FileJob(str(tmp_path / "clip.wav"), [(0.0, 1e300), (0.0, 2.5)], [None, None],
                                  asr=False))
    assert [r.error.split(":")[0] for r in job.results] == [
        "segment ends at 1e+300 s, after the end of the audio (3.00 s)", ""]
    # score: a labelled segment outside a scored file, or under no event, is reported with its line
    job = ScoreJob(str(tmp_path / "clip.wav"), None, None, media_s=3.0,
                   rows=[{"start_s": 0.4, "end_s": 1.5}],
                   rows_of=[Clip("x", 0.0, 2750.0, "F", line=2), Clip("x", 0.5, 1.0, "N", line=3),
                            Clip("x", 2.0, 2.9, "N", line=4), Clip("x", line=5)])
    assert [reason.split(":")[0] for _, reason in bad_rows([job])] == ["line 2, 0-2750 s", "line 4, 2-2.9 s"]
    assert "milliseconds" in bad_rows([job])[0][1] and "no event overlaps" in bad_rows([job])[1][1]


def test_formula_cells_are_neutralised_in_every_csv(tmp_path, capsys, monkeypatch):
    """OWASP CSV injection: text cells starting = + - @ tab CR get a quote in front, in score's results
    and every other CSV edge-msa writes; numbers (and text that is a plain number) stay numbers."""
    from edge_msa.csv_files import safe_cell
    from edge_msa.workflows.score_archive import COLUMNS, write_rows

    for hostile in ("=cmd|' /C calc'!A0", '=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)", "\t=1",
                    "\r=1", "-inf"):
        assert safe_cell(hostile) == "'" + hostile
    for kept in (-0.5, 3, "-0.5", "+3", "1e-3", "-.5", "neutral", "", None, "a=b"):
        assert safe_cell(kept) == kept
    row = dict.fromkeys(COLUMNS, "") | {"file": "=HYPERLINK(\"x\")", "score": -0.5, "start_s": 0.0,
                                         "label": "negative", "true_label": "=cmd|' /C calc'!A0",
                                         "transcript": "@me -1", "voice_score": -1.25}
    write_rows(tmp_path / "r.csv", [row])
    [back] = list(csv.DictReader((tmp_path / "r.csv").open(newline="")))
    assert back["true_label"] == "'=cmd|' /C calc'!A0" and back["file"] == "'=HYPERLINK(\"x\")"
    assert back["transcript"] == "'@me -1" and back["score"] == "-0.5" and back["voice_score"] == "-1.25"
    # extract's report.csv: a row naming "=HYPERLINK(...).wav" (relative to a manifest in the cwd)
    monkeypatch.chdir(tmp_path)
    tone(tmp_path / "clip.wav")
    Path("m.csv").write_text('path,start_s,end_s,label\nclip.wav,0,2,F\n"=HYPERLINK(""x"").wav",0,1,F\n')
    assert cli(capsys, "data", "extract", "m.csv", "--out", "ds", "--no-asr")[0] == 0
    [bad] = list(csv.DictReader(Path("ds/report.csv").open(newline="")))
    assert bad["path"] == "'=HYPERLINK(\"x\").wav" and bad["reason"] == "missing file"
    # and no module writes a CSV any other way
    writers = [str(p.relative_to(REPO)) for p in (REPO / "edge_msa").rglob("*.py")
               if p.name != "csv_files.py" and re.search(r"csv\.(writer|DictWriter)\(", p.read_text())]
    assert writers == []


@pytest.mark.parametrize("label", ["nan", "NaN", "inf", "-Infinity", "1e999"])
def test_nan_label_is_refused(tmp_path, capsys, label):
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"path,start_s,end_s,label\nclip.wav,0,1,{label}\n")
    line = one_line_error(capsys, "data", "extract", manifest, "--out", tmp_path / "ds", "--no-asr")
    assert "is not a finite number" in line and not (tmp_path / "ds").exists()
    jsonl = tmp_path / "m.jsonl"  # JSON's own NaN literal (Python's json accepts it)
    jsonl.write_text('{"path": "clip.wav", "start_s": 0, "end_s": 1, "label": NaN}\n')
    with pytest.raises(UserError, match="not a finite number"):
        read_manifest(jsonl)


def test_nan_label_in_an_edited_dataset_is_refused(tmp_path, capsys):
    from edge_msa.data.media_dataset import load_media
    from edge_msa.features.spec import LIVE

    tone(tmp_path / "clip.wav")
    (tmp_path / "m.csv").write_text("path,start_s,end_s,label\nclip.wav,0,2,0.5\n")
    assert cli(capsys, "data", "extract", tmp_path / "m.csv", "--out", tmp_path / "ds", "--no-asr")[0] == 0
    features = tmp_path / "ds" / "features.npz"
    with np.load(features, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    assert arrays["labels"].tolist() == [0.5] and load_media(tmp_path / "ds", LIVE)["train"].labels[0] == 0.5
    np.savez(features, **arrays | {"labels": np.array([np.nan], np.float32)})
    with pytest.raises(UserError, match="not finite"):
        load_media(tmp_path / "ds", LIVE)


def test_workers_are_capped_at_the_cpu_count(capsys, monkeypatch):
    """--workers 1000 starts at most one process per CPU, and says so in one line on stderr."""
    import concurrent.futures

    from edge_msa.workflows.jobs import cpu_count, run_files

    real = concurrent.futures.ProcessPoolExecutor
    sizes = []

    def recording_pool(max_workers, **kwargs):  # the real pool; only its size is noted
        sizes.append(max_workers)
        return real(max_workers, **kwargs)

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", recording_pool)
    jobs = list(range(-(cpu_count() + 3), 0))
    assert run_files(abs, jobs, workers=1000, progress=False) == [abs(j) for j in jobs]
    assert sizes == [cpu_count()]
    [note] = capsys.readouterr().err.strip().splitlines()
    n = cpu_count()
    assert note == f"edge-msa: note: --workers 1000 is more than the {n} CPUs here; using {n}"


@pytest.mark.parametrize("field, value, message", [
    ("start_s", [1], "start_s must be a string or a number, got a list ([1])"),
    ("end_s", {"s": 2}, "end_s must be a string or a number, got an object"),
    ("end_s", True, "end_s must be a string or a number, got true/false"),
    ("label", ["F"], "label must be a string or a number, got a list"),
    ("path", 5, "path must be a string, got int"),
    ("text", {"t": "hi"}, "text must be a string, got an object"),
    ("split", ["train"], "split must be a string, got a list"),
    ("start_s", 10 ** 400, "start_s must be a finite time >= 0"),
])
def test_jsonl_list_or_object_where_a_number_belongs(tmp_path, capsys, field, value, message):
    row = {"path": "clip.wav", "start_s": 0, "end_s": 1, "label": 0.5} | {field: value}
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps(row) + "\n")
    line = one_line_error(capsys, "data", "extract", manifest, "--out", tmp_path / "ds")
    assert f"{manifest}, line 1: {message}" in line


def test_cache_naming_an_existing_file_is_one_line(tmp_path, capsys, monkeypatch):
    tone(tmp_path / "clip.wav")
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,start_s,end_s,label\nclip.wav,0,2,F\n")
    (tmp_path / "cache").write_text("mine\n")
    line = one_line_error(capsys, "data", "extract", manifest, "--out", tmp_path / "ds", "--cache",
                          tmp_path / "cache", "--no-asr")
    assert "--cache" in line and "is a file" in line and (tmp_path / "cache").read_text() == "mine\n"
    (tmp_path / "xdg").write_text("")  # the default cache's parent is a file
    line = one_line_error(capsys, "data", "extract", manifest, "--out", tmp_path / "ds", "--no-asr")
    assert "cannot be created" in line and "XDG_CACHE_HOME" in line


def test_newlines_and_u2028_are_kept(tmp_path, capsys):
    """CSV by the csv module's rules (a quoted cell keeps its line breaks), JSONL split on '\\n' only:
    a path with a newline is looked up with it, a transcript keeps CR LF and U+2028."""
    odd = tone(tmp_path / "take\none.wav")
    said = "first line\r\nsecond\u2028third\u2029end"
    manifest = tmp_path / "m.csv"
    with manifest.open("w", newline="") as f:
        csv.writer(f).writerows([["path", "start_s", "end_s", "label", "text"], [odd.name, 0, 2, "F", said],
                                 ["missing.wav", 0, 1, "N", ""]])
    [first, second] = read_manifest(manifest)
    assert first.path == str(odd) and first.text == said and (first.line, second.line) == (2, 5)
    jsonl = tmp_path / "m.jsonl"
    jsonl.write_text(json.dumps({"path": odd.name, "start_s": 0, "end_s": 2, "label": "F", "text": said},
                                ensure_ascii=False) + "\n", newline="")
    [clip] = read_manifest(jsonl)
    assert clip.path == str(odd) and clip.text == said
    code, _, err = cli(capsys, "data", "extract", manifest, "--out", tmp_path / "ds", "--no-asr")
    assert code == 0, err
    with np.load(tmp_path / "ds" / "features.npz", allow_pickle=False) as z:
        assert z["texts"].tolist() == [said] and z["paths"].tolist() == [str(odd)]


def test_a_manifest_scale_that_is_not_a_known_name_is_refused(tmp_path, capsys):
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,start_s,end_s,label,scale\nclip.wav,0,1,0.5,likert\n")
    assert "scale 'likert' is not one of sims, mosi" in one_line_error(
        capsys, "data", "extract", manifest, "--out", tmp_path / "ds")
    manifest.write_text("path,start_s,end_s,label,scale\nclip.wav,0,1,2.5,sims\n")
    with pytest.raises(UserError, match="beyond the sims scale"):
        read_manifest(manifest)
    manifest.write_text("path,start_s,end_s,label,scale\na.wav,0,1,0.5,mosi\nb.wav,0,1,0.5,sims\n")
    with pytest.raises(UserError, match="one scale"):
        read_manifest(manifest)
    # a named scale wins over the guess: labels within -1..1 on MOSI's -3..3
    manifest.write_text("path,start_s,end_s,label,scale\na.wav,0,1,0.5,MOSI\n")
    [clip] = read_manifest(manifest)
    assert clip.scale == "mosi" and label_values([clip.label], clip.scale)[1] == "mosi"
    assert label_values([clip.label])[1] == "sims"


def test_duplicate_manifest_rows_are_reported(tmp_path, capsys):
    tone(tmp_path / "clip.wav")
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,start_s,end_s,label\nclip.wav,0,2,F\n./clip.wav,0,2.0,N\nclip.wav,0,1,F\n")
    code, printed, err = cli(capsys, "data", "extract", manifest, "--out", tmp_path / "ds", "--no-asr")
    assert code == 0 and "2 rows" in printed and "1 left out" in printed, err
    [dup] = list(csv.DictReader((tmp_path / "ds" / "report.csv").open(newline="")))
    assert dup["reason"] == "duplicate of line 2 (same file and times; label 'F' kept)"


def test_unsigned_8_bit_audio_is_centred(tmp_path):
    """An 8-bit WAV stores 128 for silence; decoded, the tone swings around 0 (FFmpeg's u8 -> float)."""
    from edge_msa.features.media import read_audio

    pcm = read_audio(tone(tmp_path / "u8.wav", 1.0, width=1), 16000)
    assert abs(float(pcm.mean())) < 0.01 and 0.7 < pcm.max() < 0.8 and -0.8 < pcm.min() < -0.7


def test_two_speakers_without_a_split_column_get_a_validation_split(tmp_path, capsys):
    """Two named speakers: one is train, the other valid. No speaker column (or one speaker): the
    split goes by file, so two or more files give a valid split; one file alone gets a note on how."""
    two = [Clip(f"{s}{i}.wav", label="F", speaker=s) for s in ("anna", "ben") for i in range(3)]
    clips, by = assign_splits(two)
    per_speaker = {frozenset(c.split for c in clips if c.speaker == s) for s in ("anna", "ben")}
    assert by == "speaker" and per_speaker == {frozenset({"train"}), frozenset({"valid"})}
    clips, by = assign_splits([Clip(f"f{i}.wav", 0.0, None, "F") for i in range(6)])
    assert by == "file" and sorted(c.split for c in clips) == ["test"] + ["train"] * 4 + ["valid"]
    for name in ("a.wav", "b.wav"):
        tone(tmp_path / name)
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,start_s,end_s,label\na.wav,0,1,F\na.wav,1,2,N\nb.wav,0,1,W\n")
    code, printed, err = cli(capsys, "data", "extract", manifest, "--out", tmp_path / "ds", "--no-asr")
    assert code == 0, err
    meta = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    assert meta["split_by"] == "file" and set(meta["splits"]) == {"train", "valid"} and "note" not in err
    manifest.write_text("path,start_s,end_s,label\na.wav,0,1,F\na.wav,1,2,N\n")
    code, printed, err = cli(capsys, "data", "extract", manifest, "--out", tmp_path / "ds1", "--no-asr")
    assert code == 0 and "no row is in the 'valid' split" in err and "split column" in err


def test_nothing_in_a_segment_is_reported(tmp_path, capsys):
    """A segment shorter than one voice frame (20 ms) holds nothing: reported, not a blank row."""
    tone(tmp_path / "clip.wav")
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,start_s,end_s,label\nclip.wav,0,2,F\nclip.wav,1.005,1.01,N\n")
    code, printed, err = cli(capsys, "data", "extract", manifest, "--out", tmp_path / "ds", "--no-asr")
    assert code == 0, err
    [bad] = list(csv.DictReader((tmp_path / "ds" / "report.csv").open(newline="")))
    assert bad["reason"].startswith("no voice frame in the segment")
    assert math.isclose(float(bad["start_s"]), 1.005) and os.path.basename(bad["path"]) == "clip.wav"


def test_a_path_the_system_refuses_is_a_reported_row(tmp_path, capsys):
    """A 300-character file name (ENAMETOOLONG on a lookup) is a bad row with the reason, for the
    output checks of both commands and for the extractor, never an OSError traceback."""
    tone(tmp_path / "clip.wav")
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"path,start_s,end_s,label\n{'a' * 300}.wav,0,1,F\nclip.wav,0,2,F\n")
    code, printed, err = cli(capsys, "data", "extract", manifest, "--out", tmp_path / "ds", "--no-asr")
    assert code == 0 and "1 left out" in printed, err
    [bad] = list(csv.DictReader((tmp_path / "ds" / "report.csv").open(newline="")))
    assert bad["reason"] == "cannot open: File name too long"
    (tmp_path / "r.csv").write_text("mine\n")
    assert "exists; pass --force" in one_line_error(capsys, "score", manifest, "--out", tmp_path / "r.csv")
