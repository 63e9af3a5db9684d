"""The shipped tiers (edge_msa/assets/default, edge_msa/assets/nano): integrity, every backend,
signs on clear sentences, the face table, the recipes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_msa.data.batch import MSAData
from edge_msa.data.mix import MixPart, mixed_batches, rows_per_epoch
from edge_msa.errors import UserError
from edge_msa.export.bundle import load_bundle
from edge_msa.features.face import FEATURE_NAMES
from edge_msa.features.text import tokenize
from edge_msa.runtime.backends import backend_class, load_backend
from edge_msa.runtime.launch import default_bundle_path, open_bundle
from edge_msa.runtime.tiers import ASSETS, TIERS, resolve_bundle, tier_bundles
from edge_msa.train.recipe import load_train_recipe

RECIPES = Path(__file__).resolve().parents[1] / "export"
LIMIT_MB = {"default": 30.0, "nano": 10.0}  # per bundle
SHIPPED_LIMIT_MB = 60.0  # everything under edge_msa/assets

POSITIVE = ["this is wonderful, I love it", "a brilliant, moving and beautiful film"]
NEGATIVE = ["this is terrible, I hate it", "a boring, stupid waste of time"]


def _runners() -> list[tuple[str, str, str]]:
    found = []
    for tier in TIERS:
        for name in tier_bundles(tier):
            for backend in load_bundle(ASSETS / tier / name).manifest.backends:
                if backend_class(backend).unavailable() is None:
                    found.append((tier, name, backend))
    return found


def _inputs(spec, texts: list[str] | None = None, vision: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """Batch of text-only rows (texts) or vision-only rows (vision [N, T, D]) at the spec's shapes."""
    n = len(texts) if texts is not None else len(vision)
    if texts is not None:
        ids, mask = tokenize(texts, spec.text.max_len)
    else:
        ids, mask = np.zeros((n, spec.text.max_len), np.int64), np.zeros((n, spec.text.max_len), np.float32)
    audio = np.zeros((n, spec.audio.max_len, spec.audio.dim), np.float32)
    audio_mask = np.zeros((n, spec.audio.max_len), np.float32)
    if vision is None:
        vision = np.zeros((n, spec.vision.max_len, spec.vision.dim), np.float32)
        vision_mask = np.zeros((n, spec.vision.max_len), np.float32)
    else:
        vision_mask = np.ones(vision.shape[:2], np.float32)
    return ids, mask, audio, audio_mask, vision.astype(np.float32), vision_mask


def test_default_path_is_the_default_tiers_executorch_int8_bundle():
    assert default_bundle_path() == ASSETS / "default" / "executorch-int8"
    runner, spec, scale = open_bundle(None, None)
    assert runner.name == "executorch" and scale == "mosi" and spec.text.kind == "tokens:minilm-l6"


def test_tiers_resolve_by_name():
    assert resolve_bundle("nano") == ASSETS / "nano" / "executorch-int8"
    assert resolve_bundle("default/onnx-int8") == ASSETS / "default" / "onnx-int8"
    runner, _, _ = open_bundle("default/onnx-int8", None)
    assert runner.name == "onnxruntime"
    with pytest.raises(UserError, match="has no bundle 'tflite'"):
        resolve_bundle("nano/tflite")


@pytest.mark.parametrize("tier", TIERS)
def test_bundles_verify_and_fit_their_budget(tier):
    for name in tier_bundles(tier):
        bundle = load_bundle(ASSETS / tier / name)  # raises on any file whose sha256 differs
        assert bundle.manifest.parity["passed"]
        assert "tokenizer/vocab.txt" in bundle.manifest.files
        size = sum(f.bytes for f in bundle.manifest.files.values()) / 1e6
        assert size <= LIMIT_MB[tier], f"{tier}/{name} is {size:.2f} MB"
    total = sum(p.stat().st_size for p in ASSETS.rglob("*") if p.is_file()) / 1e6
    assert total <= SHIPPED_LIMIT_MB, f"shipped assets are {total:.2f} MB"


@pytest.mark.parametrize("tier", TIERS)
def test_every_bundle_ships_the_float32_voice_frontend(tier):
    """frontend.onnx in every shipped bundle (and frontend.pte in the ExecuTorch ones), listed with
    its sha256, <= 1 MB, parity measured on all the real speech there is; the shipped file itself
    on a LibriVox clip; INPUTS.md tells an app how to run it."""
    from edge_msa.export import frontend as F
    from edge_msa.features import audio as A
    from edge_msa.features.media import read_audio

    wave = read_audio(sorted((Path(__file__).parent / "data" / "librivox").glob("*.wav"))[0])
    for name in tier_bundles(tier):
        bundle = load_bundle(ASSETS / tier / name)  # every listed file, the front-end's included, by sha256
        m = bundle.manifest
        files = {F.ONNX, F.PTE} if m.format == "executorch" else {F.ONNX}
        listed = {f for f, info in m.files.items() if info.role == "frontend"}
        assert listed == files == set(m.frontend["files"])
        assert all(m.files[f].bytes <= 1_000_000 for f in files) and m.frontend["precision"] == "float32"
        for backend, p in m.frontend["parity"].items():
            assert p["passed"] and p["max_abs_diff_logmel_energy"] < F.TOLERANCE, backend
            assert p["frames"] > 1000 and {"demo", "emodb", "librivox"} <= set(p["data"]), backend
        runs = [F.OnnxFrontend(bundle.root / F.ONNX)]
        if F.PTE in files and backend_class("executorch").unavailable() is None:
            runs.append(F.PteFrontend(bundle.root / F.PTE))
        for run in runs:
            np.testing.assert_allclose(run(wave), A.AudioFeaturizer().offline(wave), atol=F.TOLERANCE)
        doc = (bundle.root / "INPUTS.md").read_text()
        assert all(f"`{f}` (" in doc for f in files) and "float32" in doc


def test_tampered_bundle_is_refused(tmp_path):
    import shutil

    copy = tmp_path / "b"
    shutil.copytree(ASSETS / "nano" / "executorch-int8", copy)
    (copy / "model.pte").write_bytes((copy / "model.pte").read_bytes()[:-1] + b"\0")
    with pytest.raises(UserError, match="sha256"):
        load_bundle(copy)


@pytest.mark.parametrize(("tier", "name", "backend"), _runners())
def test_every_backend_scores_sentiment_with_the_right_sign(tier, name, backend):
    runner = load_backend(ASSETS / tier / name, backend, threads=1)
    score, uncertainty = runner.predict(_inputs(runner.spec, POSITIVE + NEGATIVE))
    assert np.all(np.isfinite(score)) and np.all(uncertainty > 0)
    assert np.all(score[: len(POSITIVE)] > 0.3), score
    assert np.all(score[len(POSITIVE):] < -0.3), score


@pytest.mark.parametrize("tier", TIERS)
def test_manifest_says_where_each_modality_learned(tier):
    for name in tier_bundles(tier):
        modalities = load_bundle(ASSETS / tier / name).manifest.modalities
        assert modalities["text"]["signal"] == "learned"
        assert {"vader-movie", "vader-amazon", "meld"} <= set(modalities["text"]["data"])
        assert modalities["audio"] == {"signal": "learned", "data": ["emodb"]}
        assert modalities["vision"]["signal"] == "learned" and "FER2013" in modalities["vision"]["data"][0]


@pytest.mark.parametrize("tier", TIERS)
def test_face_evidence_is_the_recipes_valence_table(tier):
    table = load_train_recipe(RECIPES / tier / "train.yaml").valence().valence
    runner = load_backend(ASSETS / tier / "executorch-int8", "executorch", threads=1)
    spec = runner.spec
    # face only: one row per expression class at probability 1 scores that class's valence, through
    # the bounded graph's tanh (one expert alone: 3 tanh(e / 3))
    names = list(table)
    vision = np.zeros((len(names), spec.vision.max_len, spec.vision.dim), np.float32)
    for i, n in enumerate(names):
        vision[i, :, FEATURE_NAMES.index(f"expression_{n}")] = 1.0
    score, _ = runner.predict(_inputs(spec, vision=vision))
    np.testing.assert_allclose(score, [3 * np.tanh(table[n] / 3) for n in names], atol=0.05)


def test_recipe_errors_are_one_line(tmp_path):
    bad = tmp_path / "r.yaml"
    recipe = (RECIPES / "default" / "train.yaml").read_text()
    bad.write_text(recipe.replace("rows_per_epoch:", "rows_per_epok:"))
    with pytest.raises(UserError, match="rows_per_epoch"):
        load_train_recipe(bad)
    with pytest.raises(UserError, match="does not exist"):
        load_train_recipe(tmp_path / "missing.yaml")


def test_mix_draws_shares_from_single_corpus_batches():
    def part(name, n, weight, present):
        data = MSAData(text=np.zeros((n, 1), np.int64), text_mask=np.full((n, 1), present, np.float32),
                       audio=np.zeros((n, 1, 2), np.float32), audio_mask=np.zeros((n, 1), np.float32),
                       vision=np.zeros((n, 1, 2), np.float32), vision_mask=np.zeros((n, 1), np.float32),
                       labels=np.arange(n, dtype=np.float32))
        return MixPart(name, data, weight)

    parts = [part("big", 1000, 1.0, 1.0), part("small", 10, 3.0, 0.0)]
    assert rows_per_epoch(parts, 400) == [100, 300]
    batches = mixed_batches(parts, 32, 400, np.random.default_rng(0))
    drawn = {0: [], 1: []}
    for i, idx in batches:
        assert len(idx) <= 32
        drawn[i] += idx.tolist()
    assert len(drawn[0]) == 100 and len(set(drawn[0])) == 100  # subsampled without repeats
    assert len(drawn[1]) == 300 and np.bincount(drawn[1]).tolist() == [30] * 10  # whole repeats
    with pytest.raises(UserError):
        part("none", 5, 0.0, 1.0)


@pytest.mark.parametrize("tier", TIERS)
def test_inputs_doc_names_only_files_the_bundle_has(tier):
    import re

    for name in tier_bundles(tier):
        bundle = load_bundle(ASSETS / tier / name)
        doc = (bundle.root / "INPUTS.md").read_text()
        assert "INPUTS.md" in bundle.manifest.files and "## Inputs" in doc
        listed = next(line for line in doc.splitlines() if "files in this bundle:" in line)
        tokenizer = {p for p in bundle.manifest.files if p.startswith("tokenizer/")}
        assert set(re.findall(r"`(tokenizer/[^`]+)`", listed)) == tokenizer, f"{tier}/{name}"
