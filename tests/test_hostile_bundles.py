"""Tampered bundles (issue 29, defects 4 and 11): every file the runtime reads is listed with its
sha256, and a manifest re-hashed around a wrong file (another model, a huge spec, a broken
vocabulary) is refused with one line at load, never a crash or a score from garbage.

Works on copies of the shipped default/onnx-int8 and nano/executorch-int8 bundles."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edge_msa.errors import UserError
from edge_msa.export.bundle import MANIFEST, load_bundle, sha256_file
from edge_msa.runtime.backends import load_backend
from edge_msa.runtime.tiers import ASSETS

ONNX_BUNDLE = ASSETS / "default" / "onnx-int8"
PTE_BUNDLE = ASSETS / "nano" / "executorch-int8"
OTHER_ONNX = ASSETS / "vad" / "silero_vad_16k_sequence.onnx"  # a real model with other inputs
VOCAB = "tokenizer/vocab.txt"
SENTENCE = "What a wonderful surprise! I love it."


def _copy(src: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(src, tmp_path / src.name))


def _edit(root: Path, change) -> None:
    raw = json.loads((root / MANIFEST).read_text())
    change(raw)
    (root / MANIFEST).write_text(json.dumps(raw))


def _rehash(root: Path, rel: str) -> None:
    """What a tamperer does: the manifest's sha256 and size follow the changed file."""
    def change(raw):
        raw["files"][rel].update(sha256=sha256_file(root / rel), bytes=(root / rel).stat().st_size)
    _edit(root, change)


def _model(root: Path):
    from edge_msa import SentimentModel

    return SentimentModel(root, backend="onnxruntime")


def test_unlisted_tokenizer_is_refused(tmp_path):
    """Defect 4: vocab.txt dropped from `files` and shuffled loaded and turned +2.16 into +0.47."""
    root = _copy(ONNX_BUNDLE, tmp_path)
    assert _model(root).score_text(SENTENCE).score > 1.5  # the untouched copy scores as shipped
    words = (root / VOCAB).read_text().splitlines()
    random.Random(0).shuffle(words)
    (root / VOCAB).write_text("\n".join(words) + "\n")
    _edit(root, lambda raw: raw["files"].pop(VOCAB))
    with pytest.raises(UserError, match="reads tokenizer/vocab.txt, which manifest.json does not list"):
        _model(root)


def test_listed_tokenizer_changed_is_refused(tmp_path):
    root = _copy(ONNX_BUNDLE, tmp_path)
    (root / VOCAB).write_text((root / VOCAB).read_text().replace("wonderful", "terrible", 1))
    with pytest.raises(UserError, match="corrupted: tokenizer/vocab.txt does not match its sha256"):
        _model(root)


def test_properly_listed_extra_files_are_accepted(tmp_path):
    """The rule is "listed with its sha256", not "only the files of today": a listed extra file
    (e.g. the voice front-end another export adds) loads."""
    root = _copy(ONNX_BUNDLE, tmp_path)
    shutil.copyfile(OTHER_ONNX, root / "frontend.onnx")
    listed = {"sha256": sha256_file(OTHER_ONNX), "bytes": OTHER_ONNX.stat().st_size, "role": "frontend"}
    _edit(root, lambda raw: raw["files"].update({"frontend.onnx": listed}))
    assert _model(root).score_text(SENTENCE).score > 1.5


def test_another_onnx_as_model_is_refused(tmp_path):
    """Defect 11: another ONNX under a re-hashed sha256 failed on the first call (ValueError)."""
    root = _copy(ONNX_BUNDLE, tmp_path)
    shutil.copyfile(OTHER_ONNX, root / "model.onnx")
    _rehash(root, "model.onnx")
    with pytest.raises(UserError, match=r"invalid: its model takes input float32\[\?, 576\].* but manifest"):
        load_backend(root, "onnxruntime")


@pytest.mark.parametrize("value", [1e9, 10**9, 0, -3, "300", True])
def test_spec_size_out_of_bounds_is_refused(tmp_path, value):
    """Defect 11: `spec.audio.max_len` 1e9 tried to allocate 156 GiB after 16 s."""
    root = _copy(ONNX_BUNDLE, tmp_path)
    _edit(root, lambda raw: raw["spec"]["audio"].update(max_len=value))
    with pytest.raises(UserError, match=r"invalid: its spec in manifest.json: .*max_len must be an integer"):
        load_bundle(root)


def _shorter_audio(raw: dict) -> None:
    """A self-consistent manifest (spec and inputs agree) that is not what the model file takes."""
    raw["spec"]["audio"]["max_len"] = 200
    raw["inputs"][2]["shape"], raw["inputs"][3]["shape"] = [1, 200, 42], [1, 200]


def test_manifest_inputs_against_its_spec_are_checked(tmp_path):
    root = _copy(ONNX_BUNDLE, tmp_path)
    _edit(root, lambda raw: raw["spec"]["audio"].update(max_len=200))  # inputs still say 300
    with pytest.raises(UserError, match=r"invalid: manifest.json lists inputs .* its spec needs inputs"):
        load_bundle(root)


@pytest.mark.parametrize("src, backend", [(ONNX_BUNDLE, "onnxruntime"), (PTE_BUNDLE, "executorch")])
def test_model_inputs_against_the_manifest_are_checked(tmp_path, src, backend):
    root = _copy(src, tmp_path)
    _edit(root, _shorter_audio)
    load_bundle(root)  # the manifest agrees with itself; only the model file can tell
    with pytest.raises(UserError, match=r"its model takes .*300, 42\].* but manifest.json says .*200, 42\]"):
        load_backend(root, backend)


@pytest.mark.parametrize("content, match", [
    (b"", "vocab.txt is unreadable: sep_token not found"),
    (b"[CLS]\n[SEP]\nhello\n", "vocab.txt is not a WordPiece vocabulary: it lacks \\[PAD\\], \\[UNK\\]"),
    (bytes(random.Random(1).randbytes(4000)), "unreadable|not a WordPiece vocabulary"),
    (None, "has 30622 words, more than the model's vocabulary of 30522"),
])
def test_broken_vocabulary_is_refused(tmp_path, content, match):
    """Defect 11: a random or empty vocab.txt under a re-hashed sha256 gave a WordPiece exception
    or a TypeError; a longer one would feed ids past the embedding table."""
    root = _copy(ONNX_BUNDLE, tmp_path)
    if content is None:
        with open(root / VOCAB, "a") as f:
            f.writelines(f"extra{i}\n" for i in range(100))
    else:
        (root / VOCAB).write_bytes(content)
    _rehash(root, VOCAB)
    with pytest.raises(UserError, match=match):
        _model(root)


def test_tampered_bundle_is_one_line_exit_2_in_the_cli(tmp_path):
    root = _copy(ONNX_BUNDLE, tmp_path)
    _edit(root, lambda raw: raw["spec"]["audio"].update(max_len=1e9))
    out = subprocess.run([sys.executable, "-m", "edge_msa", "profile", "bundle", str(root)],
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 2, out.stderr[-2000:]
    assert out.stderr.strip().startswith("edge-msa: error: bundle ") and "max_len" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
