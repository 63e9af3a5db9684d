"""`export_run`: a trained run + a recipe -> a verified bundle, or a loud failure.

    1. load the run and real samples: a held-out slice of its validation split (parity), a
       calibration set from its training split (static int8 only)
    2. write the artifact (ExecuTorch .pte or ONNX), the reference program, tokenizer files, the
       voice front-end graph (export/frontend.py; by default when the audio input is the live
       `audio:logmel-40-pitch-energy`), checked against the Python extractor on real speech
    3. hash everything into manifest.json, load the bundle back with its backend, run the slice
       through it and through the eager model, record parity and metrics
    4. outside the recipe's tolerance: error, nothing left behind; else write INPUTS.md (what an
       app feeds the model, generated from the manifest) and move into place
The bundle is assembled in `<out>.partial` so a failed export never leaves a half bundle.
"""

from __future__ import annotations

import platform
import shutil
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from edge_msa.data.samples import DataSource, held_out_slice, run_data_source, spec_arrays
from edge_msa.errors import UserError
from edge_msa.export.bundle import Manifest, TensorInfo, describe_files, write_manifest
from edge_msa.export.executorch_export import export_executorch
from edge_msa.export.frontend import has_frontend, write_frontend
from edge_msa.export.inputs_doc import INPUTS_MD, inputs_markdown
from edge_msa.export.onnx_export import export_onnx
from edge_msa.export.parity import compare, eager_outputs, failure_message
from edge_msa.export.recipes import ExportRecipe, load_calibration_recipe, load_export_recipe
from edge_msa.export.shapes import fit_positions, input_min_shape
from edge_msa.features.spec import FeatureSpec
from edge_msa.features.text import minilm_path
from edge_msa.models.base import INPUT_NAMES, OUTPUT_NAMES
from edge_msa.outputs import check_outputs
from edge_msa.quantize.calibration import build_calibration_set, load_calibration
from edge_msa.runtime.backends import backend_class, load_backend
from edge_msa.train.run import load_run, read_metrics

TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
PACKAGES = ("edge-msa", "torch", "executorch", "torchao", "onnx", "onnxruntime", "tensorrt")


def versions() -> dict[str, str | None]:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def parity_backend(recipe: ExportRecipe) -> str:
    """The first backend of the recipe that runs here and runs the artifact (not the torch program)."""
    for name in recipe.backends:
        if name != "torch" and backend_class(name).unavailable() is None:
            return name
    raise UserError(f"none of {recipe.backends} runs on this machine, so parity cannot be checked")


def copy_tokenizer(spec: FeatureSpec, out: Path) -> dict[str, str]:
    if not spec.text.is_tokens:
        return {}
    (out / "tokenizer").mkdir()
    for name in TOKENIZER_FILES:
        shutil.copyfile(minilm_path() / name, out / "tokenizer" / name)
    return {f"tokenizer/{name}": "tokenizer" for name in TOKENIZER_FILES}


def calibration_inputs(recipe: ExportRecipe, spec: FeatureSpec, source: DataSource,
                       calibration_file: str | Path | None
                       ) -> tuple[tuple[np.ndarray, ...] | None, dict | None]:
    """The static-int8 calibration set (a saved file, or built from the recipe) and its description."""
    if not recipe.calibrated:
        if calibration_file is not None:
            raise UserError(f"{recipe.name} does not calibrate ({recipe.precision}, "
                            f"{recipe.quantization.scheme if recipe.quantization else 'no quantization'}); "
                            "drop --calibration")
        return None, None
    if calibration_file is not None:
        arrays, meta = load_calibration(calibration_file, spec)
        meta = {**meta, "file": str(calibration_file)}
    else:
        arrays, meta = build_calibration_set(load_calibration_recipe(recipe.quantization.calibration), spec,
                                             source)
    return arrays, {k: meta[k] for k in meta if k != "spec"}


def _partial_folder(out: Path) -> Path:
    """An empty `<out>.partial` to assemble the bundle in."""
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    return partial


def export_run(run_dir: str | Path, recipe: ExportRecipe | str | Path, out: str | Path, *,
               dataset: str | None = None, data: str | None = None, calibration: str | Path | None = None,
               target: str | None = None, force: bool = False, trust_pickle: bool = False,
               progress: bool = True, frontend: bool | None = None) -> Manifest:
    """Export `run_dir` with `recipe` into the bundle folder `out`; returns its manifest.

    frontend: ship the voice front-end graph (None: as the recipe says; a recipe without a word:
    when the audio spec is the one it computes).
    """
    recipe = recipe if isinstance(recipe, ExportRecipe) else load_export_recipe(recipe)
    frontend = recipe.frontend if frontend is None else frontend
    if target is not None and target.startswith("jetson"):
        if recipe.format != "onnx":
            raise UserError(f"--target {target}: Jetson runs TensorRT from ONNX; {recipe.name} makes a "
                            f"{recipe.format} bundle (use a jetson-trt-* recipe)")
        recipe = recipe.model_copy(update={"target": "jetson", "dynamic_text": False})
    out = Path(out)
    check_outputs({}, folders={"--out": out}, force=force,
                  inputs={"RUN": run_dir, "--calibration": calibration})  # before the slow work
    model, config = load_run(run_dir)
    spec = model.spec
    if spec.text.is_tokens:
        model = fit_positions(model, spec.text.max_len)
    scale = config.get("scale", "mosi")
    columns = (TextColumn("{task.description:<28}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
               TimeElapsedColumn())
    with Progress(*columns, disable=not progress) as bar:
        task = bar.add_task("real samples", total=4)
        source = run_data_source(config, dataset, data, trust_pickle)
        held_out = held_out_slice(source.split("valid", spec), recipe.parity.samples)
        inputs = spec_arrays(held_out, spec)
        calib, calib_meta = calibration_inputs(recipe, spec, source, calibration)
        example = tuple(torch.from_numpy(np.ascontiguousarray(a[:1])) for a in inputs)  # a real row
        inputs_info = [{"name": n, "shape": list(a[:1].shape), "dtype": str(a.dtype),
                        "min_shape": input_min_shape(n, list(a[:1].shape), recipe.text_varies)}
                       for n, a in zip(INPUT_NAMES, inputs, strict=True)]
        bar.update(task, advance=1, description=f"export {recipe.format} {recipe.precision}")

        partial = _partial_folder(out)
        try:
            if recipe.format == "executorch":
                rows = None if calib is None else [tuple(torch.from_numpy(a[i : i + 1]) for a in calib)
                                                   for i in range(len(calib[0]))]
                artifact = export_executorch(model, recipe, example, rows, partial)
            else:
                artifact = export_onnx(model, recipe, example, calib, partial, inputs_info)
            files = {**artifact["files"], **copy_tokenizer(spec, partial)}
            if frontend and not has_frontend(spec.audio.kind):
                raise UserError(f"the voice front-end computes audio:logmel-40-pitch-energy; this run's "
                                f"audio input is {spec.audio.kind}")
            frontend_entry = None
            if frontend or (frontend is None and has_frontend(spec.audio.kind)):
                frontend_files, frontend_entry = write_frontend(partial, recipe.format == "executorch")
                files |= frontend_files
            backends = recipe.backends + (["torch"] if recipe.reference_program and "torch" not in
                                          recipe.backends else [])
            quantization = None if recipe.quantization is None else {
                **recipe.quantization.model_dump(), "calibration_set": calib_meta}
            manifest = Manifest(
                name=recipe.name, created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                model=str(config["model"]), family=model.family, overrides=dict(config.get("overrides", {})),
                spec=spec.to_dict(), scale=scale, format=recipe.format, precision=recipe.precision,
                quantization=quantization, target=target or recipe.target, backends=backends,
                inputs=[TensorInfo(**i) for i in inputs_info],
                outputs=[TensorInfo(name=n, shape=[1], dtype="float32") for n in OUTPUT_NAMES],
                files=describe_files(partial, files), delegation=artifact.get("delegation"),
                tensorrt=artifact.get("tensorrt"),
                source={"run": str(Path(run_dir).resolve()), "run_metrics": _run_metrics(run_dir),
                        "parity_data": {**source.describe(), "split": "valid", "seed": 0}},
                modalities=config.get("modalities"), frontend=frontend_entry, versions=versions())
            write_manifest(partial, manifest)
            bar.update(task, advance=1, description="parity on real samples")

            backend_name = parity_backend(recipe)
            exported = load_backend(partial, backend_name).predict(inputs)
            parity, metrics = compare(eager_outputs(model, inputs), exported, held_out.labels, scale, recipe)
            manifest.parity = {**parity, "backend": backend_name}
            manifest.metrics = metrics
            write_manifest(partial, manifest)
            bar.update(task, advance=1, description="check")
            if not parity["passed"]:
                raise UserError(f"{recipe.name}: parity outside the recipe's tolerance with {backend_name}: "
                                f"{failure_message(parity)}; no bundle written")
            (partial / INPUTS_MD).write_text(inputs_markdown(manifest))  # never lists its own hash
            manifest.files |= describe_files(partial, {INPUTS_MD: "doc"})
            write_manifest(partial, manifest)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        if out.exists():
            shutil.rmtree(out)
        partial.rename(out)
        bar.update(task, advance=1, description="done")
    return manifest


def _run_metrics(run_dir: str | Path) -> dict | None:
    metrics = read_metrics(run_dir)
    return metrics.get("valid") if metrics else None
