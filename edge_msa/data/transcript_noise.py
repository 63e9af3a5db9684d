"""Speech-recognition-like damage to token ids, so a text expert is fitted and selected on what
live transcripts look like: no punctuation, lost words, wrong words.

Pocketsphinx gets about a quarter to a third of the words wrong on the LibriVox clips and on
acted speech ("culture is jay" for "don't forget a jacket") and never writes punctuation. Per
sentence: punctuation tokens are removed; each word (a token and its `##` continuations) is
dropped with `drop` or replaced by a random common word (ids COMMON_FIRST..COMMON_LAST of the
uncased BERT vocabulary, roughly by frequency) with `substitute`. Casing needs nothing: the
vocabulary is uncased.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from edge_msa.features.text import CLS_ID, PAD_ID, SEP_ID, load_tokenizer

COMMON_FIRST, COMMON_LAST = 1996, 8000  # word pieces start at 1996, ordered by corpus frequency


@lru_cache(maxsize=1)
def _token_classes() -> tuple[np.ndarray, np.ndarray]:
    """(is punctuation, is a ## continuation) per token id of the MiniLM vocabulary."""
    vocab = load_tokenizer().convert_ids_to_tokens(list(range(len(load_tokenizer()))))
    punct = np.array([not t.startswith("[") and not any(c.isalnum() for c in t) for t in vocab])
    cont = np.array([t.startswith("##") for t in vocab])
    return punct, cont


def words(row: np.ndarray) -> list[list[int]]:
    """The ids between [CLS] and [SEP], grouped into words, punctuation left out."""
    punct, cont = _token_classes()
    out: list[list[int]] = []
    for t in row:
        if t in (CLS_ID, SEP_ID, PAD_ID) or punct[t]:
            continue
        if cont[t] and out:
            out[-1].append(int(t))
        else:
            out.append([int(t)])
    return out


def noisy_transcripts(ids: np.ndarray, mask: np.ndarray, rng: np.random.Generator, drop: float = 0.15,
                      substitute: float = 0.10) -> tuple[np.ndarray, np.ndarray]:
    """(ids, mask) [N, T] -> the same sentences as a noisy recogniser would give them."""
    out, out_mask = np.full_like(ids, PAD_ID), np.zeros_like(mask)
    for i, row in enumerate(ids):
        kept: list[int] = []
        for w in words(row[mask[i] > 0]):
            r = rng.random()
            if r < drop:
                continue
            kept.extend([int(rng.integers(COMMON_FIRST, COMMON_LAST))] if r < drop + substitute else w)
        seq = [CLS_ID, *kept[: ids.shape[1] - 2], SEP_ID]
        out[i, : len(seq)] = seq
        out_mask[i, : len(seq)] = 1.0
    return out, out_mask
