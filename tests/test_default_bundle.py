"""The shipped default (edge_msa/assets/default): integrity, every backend, sign, prior, recipe."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from edge_msa.data.batch import MSAData
from edge_msa.data.mix import MixPart, mixed_batches, rows_per_epoch
from edge_msa.errors import UserError
from edge_msa.export.bundle import load_bundle
from edge_msa.features.face import FEATURE_NAMES
from edge_msa.features.text import tokenize
from edge_msa.runtime.backends import backend_class, load_backend
from edge_msa.runtime.launch import default_bundle_path, open_bundle
from edge_msa.train.recipe import load_face_prior, load_train_recipe

ROOT = default_bundle_path().parent
BUNDLES = ("executorch-int8", "onnx-fp32", "onnx-int8")
RECIPE = Path(__file__).resolve().parents[1] / "export" / "default" / "train.yaml"
POSITIVE = ["this is wonderful, I love it", "a brilliant, moving and beautiful film"]
NEGATIVE = ["this is terrible, I hate it", "a boring, stupid waste of time"]


def _runners() -> list[tuple[str, str]]:
    found = []
    for name in BUNDLES:
        for backend in load_bundle(ROOT / name).manifest.backends:
            if backend_class(backend).unavailable() is None:
                found.append((name, backend))
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


def test_default_path_is_the_executorch_int8_bundle():
    assert default_bundle_path() == ROOT / "executorch-int8"
    runner, spec, scale = open_bundle(None, None)
    assert runner.name == "executorch" and scale == "mosi" and spec.text.kind == "tokens:minilm-l6"


def test_bundles_verify_and_fit_in_10_mb():
    for name in BUNDLES:
        bundle = load_bundle(ROOT / name)  # raises on any file whose sha256 differs from the manifest
        assert bundle.manifest.parity["passed"]
        assert "tokenizer/vocab.txt" in bundle.manifest.files
    total = sum(p.stat().st_size for p in ROOT.rglob("*") if p.is_file())
    assert total <= 10_000_000, f"shipped default is {total / 1e6:.2f} MB"


def test_tampered_bundle_is_refused(tmp_path):
    import shutil

    copy = tmp_path / "b"
    shutil.copytree(ROOT / "onnx-int8", copy)
    (copy / "model.onnx").write_bytes((copy / "model.onnx").read_bytes()[:-1] + b"\0")
    with pytest.raises(UserError, match="sha256"):
        load_bundle(copy)


@pytest.mark.parametrize(("name", "backend"), _runners())
def test_every_backend_scores_sentiment_with_the_right_sign(name, backend):
    runner = load_backend(ROOT / name, backend, threads=1)
    score, uncertainty = runner.predict(_inputs(runner.spec, POSITIVE + NEGATIVE))
    assert np.all(np.isfinite(score)) and np.all(uncertainty > 0)
    assert np.all(score[: len(POSITIVE)] > 0.3), score
    assert np.all(score[len(POSITIVE):] < -0.3), score


def test_manifest_says_where_each_modality_learned():
    for name in BUNDLES:
        modalities = load_bundle(ROOT / name).manifest.modalities
        assert modalities["text"]["signal"] == "learned"
        assert {"vader-movie", "vader-amazon", "meld"} <= set(modalities["text"]["data"])
        assert modalities["audio"] == {"signal": "learned", "data": ["emodb"]}
        assert modalities["vision"]["signal"] == "prior" and modalities["vision"]["sources"]


def test_prior_weights_load_from_the_recipe_and_drive_the_shipped_model():
    recipe = load_train_recipe(RECIPE)
    prior = recipe.prior()
    assert prior == load_face_prior(RECIPE.parent / "face_prior.yaml")
    assert yaml.safe_load((RECIPE.parent / "face_prior.yaml").read_text())["weights"] == prior.weights
    assert prior.weights["mouthSmileLeft"] > 0 and prior.weights["browDownLeft"] < 0
    runner = load_backend(ROOT / "onnx-fp32", "onnxruntime", threads=1)
    spec = runner.spec
    # face only: one row at rest, then one row per prior channel fully expressed; the learned path
    # never reads vision, so each row's score moves from rest by exactly alpha * weight
    names = list(prior.weights)
    vision = np.zeros((1 + len(names), spec.vision.max_len, spec.vision.dim), np.float32)
    for i, n in enumerate(names, start=1):
        vision[i, :, FEATURE_NAMES.index(n)] = 1.0
    score, _ = runner.predict(_inputs(spec, vision=vision))
    expected = np.array([prior.alpha * prior.weights[n] for n in names], np.float32)
    np.testing.assert_allclose(score[1:] - score[0], expected, atol=1e-4)


def test_recipe_errors_are_one_line(tmp_path):
    bad = tmp_path / "r.yaml"
    bad.write_text(RECIPE.read_text().replace("rows_per_epoch:", "rows_per_epok:"))
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
