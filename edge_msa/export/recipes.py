"""Typed export and calibration recipes (`export/*.yaml`, `calibration/*.yaml`).

A recipe is found by path, or by name in `export/` (resp. `calibration/`) under the working
directory or the copy edge-msa carries (edge_msa.recipe_folders). Anything wrong in it (unknown
key, a scheme that does not fit the format, a missing tolerance) is a one-line `UserError` naming
the file and the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, TypeVar

from pydantic import Field, model_validator

from edge_msa.errors import UserError
from edge_msa.quantize.calibration import CalibrationRecipe
from edge_msa.recipe_folders import find_named
from edge_msa.user_files import StrictModel as _Strict
from edge_msa.user_files import read_yaml, validated

BACKENDS = ("torch", "onnxruntime", "executorch", "tensorrt")
FORMAT_BACKENDS = {"executorch": {"executorch", "torch"}, "onnx": {"onnxruntime", "tensorrt", "torch"}}
ARTIFACT_RUNNER = {"executorch": "executorch", "onnx": "onnxruntime"}  # runs the file on any CPU
SCHEMES = {"executorch": {"pt2e-static", "pt2e-dynamic"}, "onnx": {"onnx-qdq", "onnx-dynamic"}}
STATIC_SCHEMES = {"pt2e-static", "onnx-qdq"}


class QuantizationConfig(_Strict):
    scheme: Literal["pt2e-static", "pt2e-dynamic", "onnx-qdq", "onnx-dynamic"]
    per_channel: bool = True
    # int8 embedding tables (pt2e-*, onnx-dynamic): at student size the vocabulary is most of the file
    embeddings: bool = True
    # pt2e-static: module-name patterns (fnmatch) left in float, e.g. "*.ffn_out" (the stock static
    # recipe on every op breaks a BERT-style encoder)
    keep_float: list[str] = Field(default_factory=list)
    # pt2e-static: module-name patterns quantized dynamically instead (int8 weights, activation
    # ranges per call) for layers whose activations a calibrated range clips
    dynamic_modules: list[str] = Field(default_factory=list)
    # pt2e-static: aten ops to quantize (e.g. [linear]); empty = every pattern XNNPACK supports
    operators: list[Literal["linear", "conv1d", "conv2d", "add", "mul", "cat"]] = Field(default_factory=list)
    # onnx-qdq: op types whose inputs get Q/DQ pairs (TensorRT fuses them into int8 kernels)
    op_types: list[str] = Field(default_factory=lambda: ["MatMul", "Gemm"])
    calibration: str | None = None  # calibration recipe name or path (static schemes)


class ParityConfig(_Strict):
    samples: int = Field(512, ge=1)  # a held-out slice of the run's validation split
    max_abs_diff: float | None = Field(None, gt=0)  # fp32/fp16: score and uncertainty vs eager
    mae_delta: float | None = Field(None, gt=0)  # int8: |MAE(exported) - MAE(eager)|
    acc2_drop: float | None = Field(None, ge=0)  # int8: Acc-2 drop in points (percent)


class TensorRTConfig(_Strict):
    workspace_mib: int = Field(1024, ge=64)
    builder_optimization_level: int = Field(3, ge=0, le=5)


class ExportRecipe(_Strict):
    name: str
    description: str = ""
    format: Literal["executorch", "onnx"]
    precision: Literal["fp32", "fp16", "int8"]
    quantization: QuantizationConfig | None = None
    backends: list[str]  # backends that run the bundle, preferred first; parity uses the first here
    target: Literal["jetson"] | None = None  # jetson: TensorRT lint must pass, build_engine.sh
    opset: int = Field(18, ge=13, le=20)  # TensorRT 10.3's ONNX parser reads opsets 9..20
    reference_program: bool = True  # ship model.pt2 so the torch backend can run the bundle
    # ship the voice front-end graph (frontend.onnx/.pte, 0.1 MB each); null: whenever the bundle's
    # audio input is the live voice kind it computes
    frontend: bool | None = None
    # a text axis of 2..max_len tokens, so a short utterance costs what its tokens cost (the text
    # encoder is most of a call); null: variable unless the target is jetson (the engine build
    # script here makes static-shape engines)
    dynamic_text: bool | None = None
    parity: ParityConfig
    tensorrt: TensorRTConfig = Field(default_factory=TensorRTConfig)

    @model_validator(mode="after")
    def _consistent(self) -> ExportRecipe:
        q = self.quantization
        if (self.precision == "int8") != (q is not None):
            raise ValueError("int8 recipes need a quantization section and float recipes none")
        if q is not None and q.scheme not in SCHEMES[self.format]:
            raise ValueError(f"scheme {q.scheme!r} does not apply to {self.format}; "
                             f"use one of {sorted(SCHEMES[self.format])}")
        if q is not None and (q.scheme in STATIC_SCHEMES) != (q.calibration is not None):
            raise ValueError(f"scheme {q.scheme!r}: static schemes need `calibration`, dynamic ones none")
        if q is not None and (q.keep_float or q.dynamic_modules or q.operators) and q.scheme != "pt2e-static":
            raise ValueError("keep_float, dynamic_modules and operators apply to the pt2e-static scheme only")
        if q is not None and q.scheme == "onnx-qdq" and q.embeddings:
            raise ValueError("onnx-qdq puts Q/DQ on `op_types` only; set embeddings: false")
        if self.precision == "fp16" and self.format != "onnx":
            raise ValueError("fp16 is exported as an fp16 ONNX only")
        if self.target == "jetson" and self.format != "onnx":
            raise ValueError("jetson targets take an ONNX (TensorRT builds the engine on the device)")
        if self.target == "jetson" and self.dynamic_text:
            raise ValueError("dynamic_text: jetson bundles are built as static-shape TensorRT engines")
        if not self.backends or not set(self.backends) <= FORMAT_BACKENDS[self.format]:
            raise ValueError(f"backends {self.backends} do not run {self.format} bundles; "
                             f"choose from {sorted(FORMAT_BACKENDS[self.format])}")
        runner = ARTIFACT_RUNNER[self.format]
        if runner not in self.backends or self.backends[0] == "torch":
            raise ValueError(f"{self.format} bundles list {runner!r} among their backends and not 'torch' "
                             "first (parity runs the artifact itself)")
        p = self.parity
        if self.precision == "int8" and (p.mae_delta is None or p.acc2_drop is None):
            raise ValueError("int8 recipes need parity.mae_delta and parity.acc2_drop")
        if self.precision != "int8" and p.max_abs_diff is None:
            raise ValueError("float recipes need parity.max_abs_diff")
        return self

    @property
    def text_varies(self) -> bool:
        return self.dynamic_text if self.dynamic_text is not None else self.target != "jetson"

    @property
    def calibrated(self) -> bool:
        return self.quantization is not None and self.quantization.scheme in STATIC_SCHEMES


Recipe = TypeVar("Recipe", ExportRecipe, CalibrationRecipe)


def find_recipe(name_or_path: str | Path, folder: str) -> Path:
    """A recipe file by path, or by name in `folder`/ (working directory, then the installed copy)."""
    return find_named(name_or_path, folder, f"{folder} recipe")


def _load(kind: type[Recipe], name_or_path: str | Path, folder: str) -> Recipe:
    path = find_recipe(name_or_path, folder)
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise UserError(f"{path} must be a YAML mapping of recipe fields")
    return validated(kind, raw, str(path), "recipe")


def load_export_recipe(name_or_path: str | Path) -> ExportRecipe:
    return _load(ExportRecipe, name_or_path, "export")


def load_calibration_recipe(name_or_path: str | Path) -> CalibrationRecipe:
    return _load(CalibrationRecipe, name_or_path, "calibration")
