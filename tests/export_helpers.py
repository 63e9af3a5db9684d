"""Shared by the export tests: one trained tiny run on real VADER sentences, bundles built once.

Exports are slow-ish (ExecuTorch lowering), so each bundle is made once per test process and
shared by every test file that needs it; tests that change a bundle work on a copy.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from shared_data import SHARED_DATA

from edge_msa.data.samples import DataSource, held_out_slice, spec_arrays
from edge_msa.export.recipes import ExportRecipe, load_export_recipe
from edge_msa.features.spec import LIVE
from edge_msa.models import create_model
from edge_msa.train.trainer import train
from edge_msa.workflows.export_run import export_run

ROOT = Path(tempfile.mkdtemp(prefix="edge-msa-export-tests-"))
atexit.register(shutil.rmtree, ROOT, ignore_errors=True)
CALIBRATION_SAMPLES = 32  # the shipped recipe takes 256; the mix is the same


def source() -> DataSource:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"needs the shared data folder {SHARED_DATA}")
    return DataSource("vader-movie", str(SHARED_DATA))


@cache
def trained_run() -> Path:
    """mean_pool_mlp-tiny trained for 2 epochs on 1000 real VADER movie-review sentences."""
    data = {split: source().split(split, LIVE) for split in ("train", "valid")}
    data["train"] = data["train"].subset(slice(0, 1000))
    torch.manual_seed(0)
    run = ROOT / "run"
    train(create_model("mean_pool_mlp-tiny"), data, run, epochs=2, batch_size=32, progress=False,
          data_info=source().describe())
    return run


def calibration_recipe(name: str = "mixed-missing", **changes) -> Path:
    """A shipped calibration recipe with fewer samples (and any other field changed)."""
    path = Path(__file__).resolve().parents[1] / "calibration" / f"{name}.yaml"
    raw = {**yaml.safe_load(path.read_text()), "samples": CALIBRATION_SAMPLES, **changes}
    out = ROOT / f"calibration-{name}-{abs(hash(str(sorted(changes.items()))))}.yaml"
    out.write_text(yaml.safe_dump(raw))
    return out


@cache
def recipe(name: str) -> ExportRecipe:
    """A shipped export recipe; static int8 ones calibrate on the smaller set."""
    r = load_export_recipe(name)
    if r.calibrated:
        small = calibration_recipe(r.quantization.calibration)
        q = r.quantization.model_copy(update={"calibration": str(small)})
        r = r.model_copy(update={"quantization": q})
    return r


@cache
def bundle(name: str) -> Path:
    out = ROOT / "bundles" / name
    export_run(trained_run(), recipe(name), out, progress=False)
    return out


def copy_bundle(name: str, dest: Path) -> Path:
    return Path(shutil.copytree(bundle(name), dest / name))


def real_inputs(n: int = 64) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """n held-out validation rows at the live spec's static shapes, and their labels."""
    valid = held_out_slice(source().split("valid", LIVE), n, seed=1)
    return spec_arrays(valid, LIVE), valid.labels
