"""A run folder: what training writes and what export/eval read.

    RUN/config.json        {"model": name, "overrides": {...}, "spec": FeatureSpec, "scale": ...,
                            plus anything the trainer records (data, seed, epochs, ...)}
    RUN/model.safetensors  weights (never pickled checkpoints)
    RUN/metrics.json       validation (and test) metrics of the selected checkpoint
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from edge_msa.errors import UserError
from edge_msa.features.spec import FeatureSpec

if TYPE_CHECKING:  # torch: only when a run is saved or loaded (eval of a bundle runs without it)
    from edge_msa.models.base import MSAModel

CONFIG, WEIGHTS, METRICS = "config.json", "model.safetensors", "metrics.json"


def save_run(run_dir: str | Path, model: MSAModel, extra_config: dict | None = None,
             metrics: dict | None = None) -> Path:
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    config = {"model": model.family, "overrides": model.config, "spec": model.spec.to_dict(),
              **(extra_config or {})}
    (run / CONFIG).write_text(json.dumps(config, indent=2))
    from safetensors.torch import save_file

    # contiguous clones: safetensors refuses shared or strided storage
    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    save_file(state, str(run / WEIGHTS))
    if metrics is not None:
        (run / METRICS).write_text(json.dumps(metrics, indent=2))
    return run


def read_config(run_dir: str | Path) -> dict:
    run = Path(run_dir)
    if not (run / CONFIG).is_file():
        raise UserError(f"{run} is not a run folder (no {CONFIG})")
    try:
        return json.loads((run / CONFIG).read_text())
    except json.JSONDecodeError as e:
        raise UserError(f"{run / CONFIG} is not valid JSON: {e}") from None


def load_run(run_dir: str | Path) -> tuple[MSAModel, dict]:
    """Rebuild the model of a run folder and load its weights; returns (model in eval mode, config)."""
    run = Path(run_dir)
    config = read_config(run)
    if not (run / WEIGHTS).is_file():
        raise UserError(f"{run} has no {WEIGHTS}")
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from edge_msa.models.registry import create_model

    try:
        model = create_model(config["model"], FeatureSpec.from_dict(config["spec"]),
                             **config.get("overrides", {}))
        model.load_state_dict(load_file(str(run / WEIGHTS)))
    except SafetensorError as e:
        raise UserError(f"{run / WEIGHTS} is not a readable safetensors file (truncated or "
                        f"corrupted?): {e}") from None
    except KeyError as e:
        raise UserError(f"{run / CONFIG} lacks {e}") from None
    except RuntimeError as e:
        raise UserError(f"weights in {run} do not fit model {config['model']!r}: "
                        f"{str(e).splitlines()[0]}") from None
    return model.eval(), config


def read_metrics(run_dir: str | Path) -> dict:
    path = Path(run_dir) / METRICS
    return json.loads(path.read_text()) if path.is_file() else {}
