"""The bundle: one folder that the runtime and the profiler take, and nothing else.

    BUNDLE/manifest.json   what the folder holds (schema below, `format_version` first)
    BUNDLE/model.pte | model.onnx      the artifact a device runs
    BUNDLE/model.pt2       the torch program the artifact was made from (the `torch` backend)
    BUNDLE/tokenizer/...   tokenizer files when the text input is token ids
    BUNDLE/frontend.onnx | frontend.pte   the voice front-end graph: PCM -> audio input (export/frontend.py)
    BUNDLE/INPUTS.md       what an app feeds the model and how to compute it (export/inputs_doc.py)
    BUNDLE/build_engine.sh TensorRT build step for Jetson targets

Every listed file carries its sha256; `load_bundle` refuses a bundle whose files are missing,
changed or outside its folder, or whose manifest comes from a newer format than this edge-msa
reads. Files the runtime adds later (a TensorRT engine, its timing cache) are not listed and not checked.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from edge_msa.errors import UserError
from edge_msa.features.spec import FeatureSpec
from edge_msa.user_files import StrictModel, validated

FORMAT_VERSION = 2  # 2: the voice front-end (role "frontend", `frontend`) and INPUTS.md
MANIFEST = "manifest.json"
Role = Literal["model", "reference", "tokenizer", "script", "frontend", "doc"]


class TensorInfo(StrictModel):
    name: str
    shape: list[int]  # the longest input (batch 1)
    dtype: str
    # where an axis may be shorter: the shortest input (the text axis of a dynamic_text bundle)
    min_shape: list[int] | None = None


class FileInfo(StrictModel):
    sha256: str
    bytes: int
    role: Role


class Manifest(StrictModel):
    format_version: int = FORMAT_VERSION
    name: str  # the recipe's name
    created: str  # ISO time
    model: str  # registry name the run was built with
    family: str
    overrides: dict
    spec: dict  # FeatureSpec.to_dict()
    scale: str  # label scale: "mosi" (-3..3) or "sims" (-1..1)
    format: Literal["executorch", "onnx"]
    precision: Literal["fp32", "fp16", "int8"]
    quantization: dict | None  # scheme, options, calibration set; None for float bundles
    target: str | None  # e.g. "jetson": the ONNX is meant for TensorRT
    backends: list[str]  # backends that run this bundle, preferred first
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    files: dict[str, FileInfo]  # relative path -> hash, size, role
    parity: dict | None = None  # against the eager model on real samples (see export/parity.py)
    metrics: dict | None = None  # eager and exported metrics on the parity data
    delegation: dict | None = None  # ExecuTorch: what XNNPACK took and what it left
    tensorrt: dict | None = None  # ONNX bundles: {"lint": TensorRT 10.3 parser check, "build": options}
    source: dict  # the run it came from: path, metrics file, data
    # per modality: {"signal": "learned" | "prior" | "absent", "data": [...]} (the shipped default)
    modalities: dict | None = None
    # the voice front-end: {"files", "input", "output", "parity": {backend: vs AudioFeaturizer.offline}}
    frontend: dict | None = None
    versions: dict[str, str | None]

    @property
    def text_varies(self) -> bool:
        """The program takes 2..max_len text tokens (inputs[0].min_shape set at export)."""
        return self.inputs[0].min_shape is not None

    @property
    def feature_spec(self) -> FeatureSpec:
        return FeatureSpec.from_dict(self.spec)

    def file_with_role(self, role: Role) -> str | None:
        return next((path for path, info in self.files.items() if info.role == role), None)


@dataclass(frozen=True)
class Bundle:
    root: Path
    manifest: Manifest

    @property
    def spec(self) -> FeatureSpec:
        return self.manifest.feature_spec

    def path(self, role: Role) -> Path:
        """The file with this role; clear error when the bundle has none."""
        rel = self.manifest.file_with_role(role)
        if rel is None:
            raise UserError(f"bundle {self.root} has no {role} file "
                            f"(it has: {', '.join(self.manifest.files)})")
        return self.root / rel


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def describe_files(root: Path, roles: dict[str, Role]) -> dict[str, FileInfo]:
    """Hash and size of each file (relative path -> role) under `root`."""
    return {rel: FileInfo(sha256=sha256_file(root / rel), bytes=(root / rel).stat().st_size, role=role)
            for rel, role in sorted(roles.items())}


def write_manifest(root: Path, manifest: Manifest) -> Path:
    path = Path(root) / MANIFEST
    path.write_text(manifest.model_dump_json(indent=2) + "\n")
    return path


def read_manifest(root: str | Path) -> Manifest:
    """Parse and validate manifest.json (no file hashes checked: see `load_bundle`)."""
    root = Path(root)
    path = root / MANIFEST
    if not root.is_dir():
        raise UserError(f"bundle {root} does not exist or is not a folder")
    if not path.is_file():
        raise UserError(f"{root} is not a bundle: no {MANIFEST}")
    try:
        raw = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{path} is not valid JSON: {e}") from None
    version = raw.get("format_version") if isinstance(raw, dict) else None
    if not isinstance(version, int):
        raise UserError(f"{path} has no integer format_version: not an edge-msa bundle manifest")
    if version > FORMAT_VERSION:
        raise UserError(f"bundle {root} has format version {version}, newer than this edge-msa reads "
                        f"({FORMAT_VERSION}); upgrade edge-msa or re-export the bundle")
    return validated(Manifest, raw, f"{path} is malformed", "manifest")


def _listed_path(root: Path, rel: str) -> Path:
    """`root / rel`, refused when it resolves outside the bundle (`../..`, an absolute path, a link
    out): a matching sha256 proves the file is what the manifest says, not that it is the bundle's."""
    path = root / rel
    if not path.resolve().is_relative_to(root.resolve()):
        raise UserError(f"bundle {root} is invalid: {rel} in {MANIFEST} lies outside the bundle folder")
    return path


def load_bundle(root: str | Path) -> Bundle:
    """Read a bundle and check every listed file's presence and sha256."""
    root = Path(root)
    manifest = read_manifest(root)
    for rel, info in manifest.files.items():
        path = _listed_path(root, rel)
        if not path.is_file():
            raise UserError(f"bundle {root} is incomplete: {rel} is missing")
        if path.stat().st_size != info.bytes or sha256_file(path) != info.sha256:
            raise UserError(f"bundle {root} is corrupted: {rel} does not match its sha256 in {MANIFEST}")
    return Bundle(root, manifest)
