"""A simple reference scored on the same rows as a model: VADER's lexicon on sentences.

Every figure this project reports stands next to one; for text rows the lexicon is the one a user
would try first. It needs `vaderSentiment` (the `dev` extra); without it there is no reference row.
"""

from __future__ import annotations

import numpy as np

from edge_msa.data.batch import MSAData
from edge_msa.train.metrics import msa_metrics

LEXICON_ROW = "VADER lexicon (reference)"
COMPOUND_TO_MOSI = 3.0  # VADER's compound is -1..1


def lexicon_reference(data: MSAData) -> dict[str, float] | None:
    """Metrics of VADER's compound score x 3 on `data`'s sentences; None without sentences or the package."""
    if not data.raw_text or not any(t.strip() for t in data.raw_text) or data.scale != "mosi":
        return None
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError:
        return None
    analyser = SentimentIntensityAnalyzer()
    scores = np.array([analyser.polarity_scores(t)["compound"] for t in data.raw_text]) * COMPOUND_TO_MOSI
    return msa_metrics(data.labels, scores, "mosi")
