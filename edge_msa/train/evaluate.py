"""Predict and score a model (an eager MSAModel or an exported bundle's backend) on an MSAData."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from edge_msa.data.batch import ARRAY_FIELDS, MSAData
from edge_msa.train.metrics import msa_metrics

if TYPE_CHECKING:  # eager models only: a bundle's backend is scored without torch (lean install)
    import torch


def trim_padding(inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    """Cut each modality's time axis after the last frame any row has present (at least 1).

    Padding is masked out, so the outputs do not change; short sentences padded to 64 tokens
    then cost what they are, which is most of the training time of a text model.
    """
    import torch

    out = list(inputs)
    for i in range(0, len(out), 2):
        mask = out[i + 1]
        present = torch.nonzero(mask.sum(0) > 0)
        length = int(present.max()) + 1 if len(present) else 1
        out[i], out[i + 1] = out[i][:, :length], mask[:, :length]
    return tuple(out)


def predict(model, data: MSAData, batch_size: int = 64) -> np.ndarray:
    """Scores for every row of `data`, in order.

    `model` is a torch module (run in eval mode, padding trimmed) or a bundle's backend
    (`edge_msa.runtime.backends.Backend`: numpy inputs padded to its spec's static lengths).
    """
    scores = []
    if hasattr(model, "predict"):  # a backend: numpy in and out
        from edge_msa.features.spec import pad_to_spec

        for start in range(0, len(data), batch_size):
            rows = slice(start, start + batch_size)
            arrays = pad_to_spec(tuple(getattr(data, k)[rows] for k in ARRAY_FIELDS[:-1]), model.spec)
            scores.append(np.asarray(model.predict(arrays)[0], np.float32))
    else:
        import torch

        model.eval()
        with torch.inference_mode():
            for inputs, _ in data.batches(batch_size):
                scores.append(model(*trim_padding(inputs))[0].float().numpy())
    return np.concatenate(scores) if scores else np.zeros(0, np.float32)


def evaluate(model, data: MSAData, scale: str | None = None, batch_size: int = 64) -> dict[str, float]:
    """The field's metrics (`msa_metrics`) of `model` on `data` (scale defaults to the data's)."""
    return msa_metrics(data.labels, predict(model, data, batch_size), scale or data.scale)
