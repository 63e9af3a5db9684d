"""Face evidence that reads 0 on a resting face: a neutral-referenced valence mapping and a
per-person baseline.

Why: the FER2013 classifier (`features/face_expression.py`) puts much of a resting face's
probability on sad and angry; neutral is its least certain class and neutral/sad its most common
confusion, so the bundle's table (valence x probability, `export/default/face_valence.yaml`) reads
a calm face as about -1 (issue 27: the CREMA-D neutral clip -1.1). Two corrections, neither
fitted to any clip:

1. Mapping. An expression moves the score by how much the classifier prefers it to "neutral":
       evidence(frame) = sum_c valence_c * max(0, P_c - P_neutral)
   A face the classifier calls sad at 0.40 beside neutral at 0.30 gives 0.10 x valence(sad); a
   clear smile (happy 0.9, neutral 0.05) keeps most of its valence. No labelled faces and no
   published FER2013 confusion matrix with numbers were reachable here, so this is a rule, not a
   fit: the manifest's valence table is used as it is, relative to neutral.
2. Baseline (`runtime/running_baseline.py`). A person's resting face is not their sentiment: the
   median of their face evidence over the last 600 face frames, shrunk toward the prior (0, or the
   enrolled value) with the weight of 50 frames, is subtracted. Early in a run the baseline is small,
   so the first events are not zeroed; it is forgotten when the face is gone longer than 10 s
   (another person may sit down). Identity is not recognised: a new face in view
   without a gap keeps the old person's baseline until the window rolls over.
"""

from __future__ import annotations

import numpy as np

from edge_msa.features.face_expression import EXPRESSIONS

NEUTRAL = EXPRESSIONS.index("neutral")


def expression_slice(vision_dim: int) -> slice:
    """The expression probabilities' channels of the live vision features (the last 7)."""
    return slice(vision_dim - len(EXPRESSIONS), vision_dim)


def valence_vector(valence: dict[str, float]) -> np.ndarray:
    """The manifest's {expression: valence} table in EXPRESSIONS order (unnamed classes 0)."""
    return np.array([float(valence.get(e, 0.0)) for e in EXPRESSIONS], np.float64)


def frame_evidence(probs: np.ndarray, valence: np.ndarray) -> np.ndarray:
    """[N, 7] expression probabilities -> [N] neutral-referenced face evidence per frame."""
    probs = np.asarray(probs, np.float64)
    above = np.maximum(probs - probs[:, NEUTRAL:NEUTRAL + 1], 0.0)
    return above @ valence
