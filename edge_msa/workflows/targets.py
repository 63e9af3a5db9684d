"""What `edge-msa eval` scores: a run folder (the eager model) or a bundle (its runtime backend), with
what it records about its data, so one sweep measures what export and quantization cost."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from edge_msa.errors import UserError
from edge_msa.features.spec import FeatureSpec


@dataclass
class Target:
    model: object  # an eager MSAModel or a bundle's Backend: whatever `evaluate` takes
    spec: FeatureSpec
    scale: str | None
    data: dict  # what the run was trained on: {"dataset", "path", "split_seed", ...}
    name: str


def load_target(target: Path, backend: str) -> Target:
    """A run folder (eager model) or a bundle (its backend), with what it records about its data."""
    from edge_msa.train.run import CONFIG, WEIGHTS, load_run

    if (target / "manifest.json").is_file():
        from edge_msa.export.bundle import load_bundle
        from edge_msa.runtime.backends import load_backend

        bundle = load_bundle(target)  # checks every file's sha256 and the format version
        m = bundle.manifest
        return Target(load_backend(bundle, backend), bundle.spec, m.scale,
                      m.source.get("parity_data") or {}, m.name)
    if (target / CONFIG).is_file() and (target / WEIGHTS).is_file():
        model, config = load_run(target)
        return Target(model, model.spec, config.get("scale"), config.get("data") or {}, config["model"])
    raise UserError(f"{target} is neither a run folder ({CONFIG} + {WEIGHTS}) nor a bundle (manifest.json)")


def bundle_voice(rows, files: list[Path], featurizer, max_len: int):
    """`rows` with audio and audio_mask recomputed from `files` (one per row) by `featurizer`."""
    import numpy as np

    from edge_msa.features.audio import SAMPLE_RATE
    from edge_msa.features.media import read_audio

    if [f.stem for f in files] != list(rows.ids):
        raise UserError("the recordings do not match the dataset's rows; cannot recompute the voice features")
    audio, mask = np.zeros_like(rows.audio), np.zeros_like(rows.audio_mask)
    for i, f in enumerate(files):
        x = featurizer.offline(read_audio(f, SAMPLE_RATE))[:max_len]
        audio[i, : len(x)], mask[i, : len(x)] = x, 1.0
    return dataclasses.replace(rows, audio=audio, audio_mask=mask)
