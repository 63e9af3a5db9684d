"""The bundle: one folder that the runtime and the profiler take, and nothing else.

    BUNDLE/manifest.json   what the folder holds (schema below, `format_version` first)
    BUNDLE/model.pte | model.onnx      the artifact a device runs
    BUNDLE/model.pt2       the torch program the artifact was made from (the `torch` backend)
    BUNDLE/tokenizer/...   tokenizer files when the text input is token ids
    BUNDLE/frontend.onnx | frontend.pte   the voice front-end graph: PCM -> audio input (export/frontend.py)
    BUNDLE/INPUTS.md       what an app feeds the model and how to compute it (export/inputs_doc.py)
    BUNDLE/build_engine.sh TensorRT build step for Jetson targets

Every listed file carries its sha256; `load_bundle` refuses a bundle whose files are missing,
changed or outside its folder, whose manifest comes from a newer format than this edge-msa
reads, or whose manifest contradicts itself (inputs that are not its FeatureSpec's shapes, sizes
out of bounds). A file the runtime reads from a bundle is reached through `Bundle.listed` or
`Bundle.path`, so an unlisted file (a vocabulary dropped in beside the manifest) is refused, and
each backend compares its model file's inputs with the manifest's (`Bundle.check_model_io`): a
different model re-hashed into the manifest is refused before its first call. Files the runtime
adds later (a TensorRT engine, its timing cache) are not listed and not checked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from edge_msa.errors import UserError
from edge_msa.features.spec import INPUT_NAMES, OUTPUT_NAMES, FeatureSpec
from edge_msa.features.text import BUNDLE_VOCAB, WordPieceTokenizer, wordpiece_tokenizer
from edge_msa.user_files import StrictModel, sha256_file, validated

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
    scale: Literal["mosi", "sims"]  # label scale: "mosi" (-3..3) or "sims" (-1..1)
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

    def listed(self, rel: str) -> Path:
        """`root / rel` when the manifest lists it (so `load_bundle` checked its sha256); refused if not."""
        if rel not in self.manifest.files:
            raise UserError(f"bundle {self.root} is invalid: it reads {rel}, which {MANIFEST} does not list "
                            "with a sha256 (re-export the bundle)")
        return self.root / rel

    def check_model_io(self, inputs: list[tuple[str | None, str, list[int | None]]], outputs: int) -> None:
        """Refuse a model file whose inputs (name or None, dtype, shape with None for a free axis) or
        output count are not the manifest's: another model re-hashed into the manifest would
        otherwise fail inside the backend on its first call."""
        want = [(t.name, t.dtype, t.shape) for t in self.manifest.inputs]
        same = len(inputs) == len(want) and outputs == len(self.manifest.outputs) and all(
            name in (None, w_name) and dtype == w_dtype and len(shape) == len(w_shape)
            and all(d is None or d == w for d, w in zip(shape, w_shape, strict=True))
            for (name, dtype, shape), (w_name, w_dtype, w_shape) in zip(inputs, want, strict=True))
        if not same:
            def show(io: list, n_out: int) -> str:
                dims = [", ".join("?" if x is None else str(x) for x in s) for _, _, s in io]
                return ", ".join(f"{n or '?'} {d}[{s}]" for (n, d, _), s in zip(io, dims, strict=True)) \
                    + f" -> {n_out} outputs"

            raise UserError(f"bundle {self.root} is invalid: its model takes {show(inputs, outputs)}, but "
                            f"{MANIFEST} says {show(want, len(self.manifest.outputs))}")


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


def _expected_inputs(spec: FeatureSpec) -> list[tuple[str, tuple[str, ...], list[int]]]:
    """(name, allowed dtypes, batch-1 shape) of each model input, as the spec defines them."""
    out, floats = [], ("float32", "float16")
    for i, m in enumerate((spec.text, spec.audio, spec.vision)):
        shape = [1, m.max_len] if m.is_tokens else [1, m.max_len, m.dim]
        out += [(INPUT_NAMES[2 * i], ("int64", "int32") if m.is_tokens else floats, shape),
                (INPUT_NAMES[2 * i + 1], floats, shape[:2])]
    return out


def _fits(info: TensorInfo, name: str, dtypes: tuple[str, ...], shape: list[int]) -> bool:
    low = info.min_shape or shape  # a shorter axis (dynamic text) lies within 1..the full length
    return (info.name, info.shape) == (name, shape) and info.dtype in dtypes and len(low) == len(shape) \
        and all(1 <= a <= b for a, b in zip(low, shape, strict=True))


def _check_inputs(root: Path, manifest: Manifest) -> None:
    """The manifest's inputs and outputs are the ones its FeatureSpec defines (names, dtypes,
    shapes): the runtime sizes every window from the spec and the model must take them."""
    try:
        spec = manifest.feature_spec
    except UserError as e:
        raise UserError(f"bundle {root} is invalid: its spec in {MANIFEST}: {e}") from None
    expected = _expected_inputs(spec)
    if len(manifest.inputs) != len(expected) or tuple(t.name for t in manifest.outputs) != OUTPUT_NAMES or \
            not all(_fits(info, *want) for info, want in zip(manifest.inputs, expected, strict=True)):
        got = [(t.name, t.dtype, t.shape) for t in manifest.inputs]
        need = [(name, "|".join(dtypes), shape) for name, dtypes, shape in expected]
        raise UserError(f"bundle {root} is invalid: {MANIFEST} lists inputs {got} and outputs "
                        f"{[t.name for t in manifest.outputs]}; its spec needs inputs {need} and outputs "
                        f"{list(OUTPUT_NAMES)}")


def load_bundle(root: str | Path) -> Bundle:
    """Read a bundle, check every listed file's presence and sha256 and that the manifest's inputs
    are its spec's."""
    root = Path(root)
    manifest = read_manifest(root)
    _check_inputs(root, manifest)
    for rel, info in manifest.files.items():
        path = _listed_path(root, rel)
        if not path.is_file():
            raise UserError(f"bundle {root} is incomplete: {rel} is missing")
        if path.stat().st_size != info.bytes or sha256_file(path) != info.sha256:
            raise UserError(f"bundle {root} is corrupted: {rel} does not match its sha256 in {MANIFEST}")
    return Bundle(root, manifest)


def bundle_tokenizer(bundle: Bundle) -> WordPieceTokenizer | None:
    """The tokenizer a loaded bundle carries (BUNDLE/tokenizer/vocab.txt), None when its text input
    is not token ids. The vocabulary must be listed in the manifest (so `load_bundle` checked its
    sha256) and fit the model's embedding table: an unlisted or shuffled vocabulary would feed the
    model wrong ids without any error."""
    text = bundle.spec.text
    if not text.is_tokens:
        return None
    path = bundle.listed(BUNDLE_VOCAB)
    tokenizer = wordpiece_tokenizer(str(path.parent), bundle.manifest.files[BUNDLE_VOCAB].sha256)
    if tokenizer.size > text.dim:
        raise UserError(f"bundle {bundle.root} is invalid: {BUNDLE_VOCAB} has {tokenizer.size} words, more "
                        f"than the model's vocabulary of {text.dim} (its spec's text dim)")
    return tokenizer
