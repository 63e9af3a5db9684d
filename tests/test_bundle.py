"""Bundle manifest and verification: a corrupted, incomplete or too-new bundle is refused clearly."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from export_helpers import bundle, copy_bundle

from edge_msa.errors import UserError
from edge_msa.export.bundle import FORMAT_VERSION, MANIFEST, load_bundle, sha256_file
from edge_msa.features.spec import LIVE
from edge_msa.runtime.backends import load_backend

NAME = "onnx-cpu-fp32"


def _edit_manifest(root, change):
    raw = json.loads((root / MANIFEST).read_text())
    change(raw)
    (root / MANIFEST).write_text(json.dumps(raw))


def test_manifest_describes_the_bundle():
    b = load_bundle(bundle(NAME))
    m = b.manifest
    assert m.format_version == FORMAT_VERSION and m.name == NAME and b.spec == LIVE
    assert m.model == "mean_pool_mlp" and m.family == "mean_pool_mlp" and m.scale == "mosi"
    assert m.precision == "fp32" and m.quantization is None
    assert m.versions["torch"] and m.versions["onnxruntime"] and m.versions["edge-msa"]
    assert m.source["run_metrics"]["mae"] > 0
    for rel, info in m.files.items():
        assert sha256_file(b.root / rel) == info.sha256 and (b.root / rel).stat().st_size == info.bytes
    assert {rel for rel in m.files if rel.startswith("tokenizer/")} == {
        "tokenizer/vocab.txt", "tokenizer/tokenizer.json", "tokenizer/tokenizer_config.json",
        "tokenizer/special_tokens_map.json"}
    assert b.path("model").name == "model.onnx" and b.path("reference").name == "model.pt2"


def test_shipped_tokenizer_tokenizes_like_the_package():
    from edge_msa.features.text import load_tokenizer, tokenize

    text = ["A gorgeous, witty, seductive movie."]
    ids, mask = tokenize(text, 64, tokenizer=load_tokenizer(str(bundle(NAME) / "tokenizer")))
    ref_ids, ref_mask = tokenize(text, 64)
    assert (ids == ref_ids).all() and (mask == ref_mask).all()


def test_changed_file_is_refused(tmp_path):
    root = copy_bundle(NAME, tmp_path)
    data = bytearray((root / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (root / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(UserError, match="corrupted: model.onnx does not match its sha256"):
        load_bundle(root)
    with pytest.raises(UserError, match="corrupted"):
        load_backend(root)


def test_missing_file_is_refused(tmp_path):
    root = copy_bundle(NAME, tmp_path)
    (root / "tokenizer" / "vocab.txt").unlink()
    with pytest.raises(UserError, match="incomplete: tokenizer/vocab.txt is missing"):
        load_bundle(root)


def test_newer_format_is_refused(tmp_path):
    root = copy_bundle(NAME, tmp_path)
    _edit_manifest(root, lambda raw: raw.update(format_version=FORMAT_VERSION + 1, new_field=1))
    with pytest.raises(UserError, match=f"format version {FORMAT_VERSION + 1}, newer than this edge-msa"):
        load_bundle(root)


def test_malformed_manifest_is_refused(tmp_path):
    root = copy_bundle(NAME, tmp_path)
    _edit_manifest(root, lambda raw: raw.pop("spec"))
    with pytest.raises(UserError, match="malformed: spec: Field required"):
        load_bundle(root)
    (root / MANIFEST).write_text("{not json")
    with pytest.raises(UserError, match="not valid JSON"):
        load_bundle(root)
    with pytest.raises(UserError, match="no manifest.json"):
        load_bundle(tmp_path)


@pytest.mark.parametrize("entry", ["../outside.txt", "{abs}", "inside-link.txt"])
def test_listed_path_outside_the_bundle_is_refused(tmp_path, entry):
    """A manifest entry that leaves the folder is refused even with the outside file's real sha256."""
    import shutil

    from edge_msa.export.bundle import FileInfo
    from edge_msa.runtime.launch import ASSETS

    root = Path(shutil.copytree(ASSETS / "nano" / "executorch-int8", tmp_path / "bundle"))  # small, shipped
    outside = tmp_path / "outside.txt"
    outside.write_text("not part of the bundle\n")
    (root / "inside-link.txt").symlink_to(outside)
    rel = entry.format(abs=outside)
    info = FileInfo(sha256=sha256_file(outside), bytes=outside.stat().st_size, role="script")
    load_bundle(root)  # the copy itself is fine
    _edit_manifest(root, lambda raw: raw["files"].update({rel: info.model_dump()}))
    with pytest.raises(UserError, match=f"invalid: {re.escape(rel)} in manifest.json lies outside"):
        load_bundle(root)
