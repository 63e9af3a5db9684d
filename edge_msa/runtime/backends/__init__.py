"""Backends: one interface over torch, onnxruntime, executorch and tensorrt.

    backend = load_backend("bundles/android-xnnpack-int8")        # "auto": the bundle's first
    score, uncertainty = backend.predict(inputs)                   # that runs on this machine

`inputs` is the model's forward tuple as numpy arrays in `INPUT_NAMES` order, batch first, time
axes at the bundle's static lengths (the spec's max_len; `edge_msa.features.spec.pad_to_spec`
pads shorter windows).
Bundles are exported at batch 1: a batch of B rows runs as B calls. Where the bundle's text axis
varies (manifest `min_shape`), each row's text is cut after its last kept token before the call:
the same result (tests/test_family_contract.py) for a fraction of the cost on short utterances.
"""

from __future__ import annotations

import importlib
import json
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from edge_msa.errors import UserError
from edge_msa.export.bundle import Bundle, load_bundle
from edge_msa.features.spec import INPUT_NAMES, FeatureSpec, trim_text

Outputs = tuple[np.ndarray, np.ndarray]
_MODULES = {"torch": "torch_backend", "onnxruntime": "onnxruntime_backend",
            "executorch": "executorch_backend", "tensorrt": "tensorrt_backend"}
BACKEND_NAMES = tuple(_MODULES)


class Backend(ABC):
    """Runs one bundle. Subclasses set `name` and implement `_run` on one batch-1 row."""

    name: str = ""
    takes_short_text: bool = True  # False: the backend's engine has static shapes

    def __init__(self, bundle: Bundle, threads: int | None = None) -> None:
        self.bundle = bundle
        self.manifest = bundle.manifest
        self.spec: FeatureSpec = bundle.spec
        self.threads = threads
        self._dtypes = [np.dtype(t.dtype) for t in self.manifest.inputs]
        self._shapes = [tuple(t.shape[1:]) for t in self.manifest.inputs]
        self.trims_text = self.takes_short_text and self.manifest.text_varies

    @staticmethod
    def unavailable() -> str | None:
        """Why this backend cannot run on this machine (None: it can)."""
        return None

    @abstractmethod
    def _run(self, inputs: tuple[np.ndarray, ...]) -> Outputs:
        """One row (batch 1) -> (score [1], uncertainty [1])."""

    def predict(self, inputs: tuple[np.ndarray, ...]) -> Outputs:
        arrays = self._check(inputs)
        rows = [tuple(a[i : i + 1] for a in arrays) for i in range(arrays[0].shape[0])]
        rows = [self._run(trim_text(row) if self.trims_text else row) for row in rows]
        score = np.concatenate([np.asarray(r[0], np.float32).reshape(-1) for r in rows])
        uncertainty = np.concatenate([np.asarray(r[1], np.float32).reshape(-1) for r in rows])
        return score, uncertainty

    def _check(self, inputs: tuple[np.ndarray, ...]) -> list[np.ndarray]:
        if len(inputs) != len(INPUT_NAMES):
            raise UserError(f"{self.name} backend takes {len(INPUT_NAMES)} inputs {INPUT_NAMES}, "
                            f"got {len(inputs)}")
        arrays = [np.ascontiguousarray(x, dtype=t) for x, t in zip(inputs, self._dtypes, strict=True)]
        batch = arrays[0].shape[0] if arrays[0].ndim else 0
        for name, a, shape in zip(INPUT_NAMES, arrays, self._shapes, strict=True):
            if a.ndim == 0 or a.shape[1:] != shape or a.shape[0] != batch or batch == 0:
                raise UserError(f"input {name!r} has shape {a.shape}; this bundle takes "
                                f"[{batch or 'B'}, {', '.join(map(str, shape))}] (pad windows to the spec's "
                                "max_len: edge_msa.features.spec.pad_to_spec)")
        return arrays


def backend_class(name: str) -> type[Backend]:
    if name not in _MODULES:
        raise UserError(f"unknown backend {name!r}; expected one of {', '.join(BACKEND_NAMES)} or 'auto'")
    module = importlib.import_module(f"{__name__}.{_MODULES[name]}")
    return module.BACKEND


def runs_here(bundle_dir: Path) -> bool:
    """Whether a bundle folder exists and one of the backends it is made for can run here (reads
    its manifest only: no runtime is imported, no file hashed)."""
    manifest = bundle_dir / "manifest.json"
    if not manifest.is_file():
        return False
    made_for = json.loads(manifest.read_text()).get("backends", [])
    return any(name in _MODULES and backend_class(name).unavailable() is None for name in made_for)


def load_backend(bundle: str | Path | Bundle, name: str = "auto", threads: int | None = None) -> Backend:
    """A ready backend for a bundle (verified: sha256 and format version).

    name: "auto" takes the first of the bundle's backends that can run here; a named backend
    the bundle is not made for, or one this machine cannot run, is a clear error.
    """
    if not isinstance(bundle, Bundle):
        bundle = load_bundle(bundle)
    made_for = bundle.manifest.backends
    if name == "auto":
        reasons = {}
        for candidate in made_for:
            reasons[candidate] = backend_class(candidate).unavailable()
            if reasons[candidate] is None:
                return backend_class(candidate)(bundle, threads)
        raise UserError(f"no backend of bundle {bundle.root} runs here: "
                        + "; ".join(f"{k}: {v}" for k, v in reasons.items()))
    cls = backend_class(name)
    if name not in made_for:
        raise UserError(f"bundle {bundle.root} is not made for the {name} backend; "
                        f"it runs on: {', '.join(made_for)}")
    reason = cls.unavailable()
    if reason is not None:
        raise UserError(f"the {name} backend cannot run here: {reason}")
    return cls(bundle, threads)
