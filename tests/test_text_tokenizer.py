"""The runtime's tokenizer (a bundle's vocab.txt through the `tokenizers` package, no torch or
transformers) gives the same ids as transformers' MiniLM tokenizer used in training."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from shared_data import SHARED_DATA

from edge_msa.errors import UserError
from edge_msa.export.bundle import bundle_tokenizer, load_bundle
from edge_msa.features.text import WordPieceTokenizer, tokenize
from edge_msa.runtime.tiers import ASSETS, tier_bundles

VADER = SHARED_DATA / "vader_icwsm2014"
TRICKY = ["", "   ", "Naïve CAFÉ déjà-vu!!", "don't... can't -- won't?", "日本語のテキスト and emoji 😀",
          "a " * 200, "supercalifragilisticexpialidocious", "tab\tand\nnewline", "$3.50 @ 10:30pm #1"]


def _sentences() -> list[str]:
    """Real review snippets (VADER's movie set: id, score, text per line) and some odd strings."""
    lines = (VADER / "movieReviewSnippets_GroundTruth.txt").read_text(errors="replace").splitlines()
    texts = [line.split("\t", 2)[2] for line in lines if line.count("\t") >= 2]
    return texts[:: max(1, len(texts) // 600)] + TRICKY


@pytest.mark.parametrize("tier", ["default", "nano"])
def test_bundle_tokenizer_matches_transformers(tier):
    texts = _sentences()
    assert len(texts) > 500
    ours = bundle_tokenizer(load_bundle(ASSETS / tier / tier_bundles(tier)[0]))
    assert (ASSETS / tier / tier_bundles(tier)[0] / "tokenizer" / "vocab.txt").is_file()  # the bundle's own
    for max_len in (8, 64):
        ids, mask = tokenize(texts, max_len, tokenizer=ours)
        ref_ids, ref_mask = tokenize(texts, max_len)
        assert ids.dtype == ref_ids.dtype and mask.dtype == ref_mask.dtype
        np.testing.assert_array_equal(ids, ref_ids)
        np.testing.assert_array_equal(mask, ref_mask)


NO_TORCH = """
import sys
from edge_msa.export.bundle import load_bundle
from edge_msa.export.bundle import bundle_tokenizer
from edge_msa.runtime.tiers import ASSETS
ids, _ = bundle_tokenizer(load_bundle(ASSETS / "default" / "onnx-int8")).encode(["great film"], 6)
print(ids.tolist(), "torch" in sys.modules, "transformers" in sys.modules)
"""


def test_tokenizer_needs_neither_torch_nor_transformers():
    out = subprocess.run([sys.executable, "-c", NO_TORCH], capture_output=True, text=True, check=True).stdout
    assert out.split("]]")[1].split() == ["False", "False"]


def test_missing_vocabulary_is_one_line():
    with pytest.raises(UserError, match="tokenizer vocabulary .* does not exist"):
        WordPieceTokenizer("/nonexistent/vocab.txt")
