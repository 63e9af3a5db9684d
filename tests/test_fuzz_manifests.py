"""Fuzzing the manifest readers (issue 29): whatever a CSV or JSONL manifest holds, `read_manifest`
returns well-formed clips or raises one `UserError` line, and `edge-msa data extract` / `score` exit 0
or 2 with one `edge-msa: error:` line, never a traceback. Hypothesis, derandomized (the same examples
every run); cells come from a pool of known-hostile values (times in ms, 1e300, NaN, formulas, line
breaks, U+2028, NUL, lists and objects in JSON) mixed with arbitrary text."""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import wave
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_msa.cli import main
from edge_msa.data.media_sources import SPLITS, label_values, read_manifest
from edge_msa.errors import UserError

FUZZ = settings(derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
COLUMNS = ["path", "start_s", "end_s", "label", "text", "speaker", "split", "scale"]
HOSTILE = ["", " ", "0", "-1", "2750", "1e300", "1e999", "nan", "-inf", "1_0", "0x10", "F", "neutral",
           "happiness", "3.5", "-0.5", "=cmd|' /C calc'!A0", '=HYPERLINK("x")', "@x", "a\nb", "a\r\nb",
           "\u2028", "x\u2029y", "\x00", "\ufeff", "clip.wav", "./clip.wav", "../clip.wav", "/dev/zero",
           "/", "clip.wav\n", "train", "VAL", "bogus", "sims", "mosi", "likert", "\"", ",", "a" * 300]
cells = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=12))
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10 ** 30, 10 ** 30), st.floats(allow_nan=True),
              st.sampled_from(HOSTILE), st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=4), inner, max_size=3)),
    max_leaves=6)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A folder with one real 1 s tone, `clip.wav`, that manifests may name."""
    root = tmp_path_factory.mktemp("fuzz")
    t = np.arange(16000) / 16000
    with wave.open(str(root / "clip.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((0.3 * np.sin(2 * np.pi * 220 * t) * 32767).astype("<i2").tobytes())
    return root


@st.composite
def csv_manifests(draw) -> bytes:
    header = draw(st.one_of(st.permutations(COLUMNS).map(lambda c: c[:4]), st.lists(
        st.one_of(st.sampled_from(COLUMNS), cells), min_size=1, max_size=9)))
    rows = draw(st.lists(st.lists(cells, min_size=max(0, len(header) - 1), max_size=len(header) + 1),
                         max_size=5))
    buffer = io.StringIO(newline="")
    if draw(st.booleans()):  # well quoted, so only the values are hostile
        csv.writer(buffer).writerows([header, *rows])
    else:  # joined by hand: stray quotes and line breaks break the structure too
        buffer.write("\n".join(",".join(r) for r in [header, *rows]))
    data = buffer.getvalue().encode("utf-8", "surrogatepass")
    return draw(st.one_of(st.just(data), st.binary(max_size=40).map(lambda junk: data + junk)))


@st.composite
def jsonl_manifests(draw) -> bytes:
    good = {"path": "clip.wav", "start_s": 0, "end_s": 0.5, "label": "F"}
    lines = []
    for _ in range(draw(st.integers(1, 4))):
        rec = dict(good) if draw(st.booleans()) else {}
        rec.update(draw(st.dictionaries(st.sampled_from(COLUMNS), json_values, max_size=4)))
        line = json.dumps(rec, ensure_ascii=draw(st.booleans()), allow_nan=True)
        cut = draw(st.integers(0, len(line)))
        lines.append(line if draw(st.integers(0, 4)) else line[:cut])  # one line in five truncated
    if draw(st.booleans()):
        lines.append(draw(st.one_of(json_values.map(json.dumps), st.text(max_size=10))))
    return "\n".join(lines).encode("utf-8", "surrogatepass")


def check_read(path: Path, need_labels: bool) -> None:
    """Either well-formed clips or one UserError line."""
    try:
        clips = read_manifest(path, need_labels=need_labels)
    except UserError as e:
        assert len(str(e).splitlines()) == 1, repr(str(e))
        return
    assert clips
    for c in clips:
        assert c.path and "\0" not in c.path and c.line >= 1
        assert math.isfinite(c.start_s) and c.start_s >= 0
        assert c.end_s is None or (math.isfinite(c.end_s) and c.end_s > c.start_s)
        assert c.split in ("", *SPLITS) and c.scale in ("", "sims", "mosi")
    if need_labels:
        named = next((c.scale for c in clips if c.scale), None)
        values, scale, _ = label_values([c.label for c in clips], named)
        assert all(v is None or math.isfinite(v) for v in values) and scale in ("sims", "mosi")


@settings(FUZZ, max_examples=200)
@given(data=st.one_of(csv_manifests(), st.binary(max_size=60)), need_labels=st.booleans())
def test_fuzz_csv_manifests_read_or_refuse_in_one_line(folder, data, need_labels):
    path = folder / "m.csv"
    path.write_bytes(data)
    check_read(path, need_labels)


@settings(FUZZ, max_examples=100)
@given(data=jsonl_manifests(), need_labels=st.booleans())
def test_fuzz_jsonl_manifests_read_or_refuse_in_one_line(folder, data, need_labels):
    path = folder / "m.jsonl"
    path.write_bytes(data)
    check_read(path, need_labels)


RUNS = itertools.count()


@settings(FUZZ, max_examples=25)
@given(data=st.one_of(csv_manifests().map(lambda d: (".csv", d)),
                      jsonl_manifests().map(lambda d: (".jsonl", d))))
def test_fuzz_extract_exits_0_or_2_with_one_line(folder, capsys, monkeypatch, data):
    """The whole command, in this process: a crash would raise out of main() and fail the test."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(folder / "xdg"))
    suffix, body = data
    path = folder / f"m{suffix}"
    path.write_bytes(body)
    code = main(["data", "extract", str(path), "--out", str(folder / f"ds{next(RUNS)}"), "--no-asr"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code in (0, 2)
    if code == 2:
        assert len(err) == 1 and err[0].startswith("edge-msa: error: "), err


@settings(FUZZ, max_examples=12)
@given(data=st.one_of(csv_manifests().map(lambda d: (".csv", d)),
                      jsonl_manifests().map(lambda d: (".jsonl", d))))
def test_fuzz_score_refuses_bad_manifests_in_one_line(folder, capsys, data):
    """`score` up to its first piece of work: an existing --out without --force stops it right after
    the manifest is read and the outputs are checked, so a manifest error is the only other exit."""
    suffix, body = data
    path = folder / f"s{suffix}"
    path.write_bytes(body)
    out = folder / "taken.csv"
    out.write_text("mine\n")
    code = main(["score", str(path), "--out", str(out)])
    [line] = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and line.startswith("edge-msa: error: ") and out.read_text() == "mine\n"
