"""A training recipe's bundles: calibrate on its training mix, export the run with each export recipe,
slim the tokenizer (`edge-msa train --recipe ... --bundles DIR`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_msa.data.batch import MSAData
from edge_msa.data.mix import MixPart, rows_per_epoch
from edge_msa.errors import UserError
from edge_msa.features.spec import FeatureSpec
from edge_msa.train.recipe import TrainRecipe, load_parts


def calibration_file(recipe: TrainRecipe, run_dir: Path, data_path: str | Path | None,
                     spec: FeatureSpec) -> Path:
    """A static-int8 calibration set drawn from the recipe's training mix, by the part weights."""
    from edge_msa.data.samples import spec_arrays
    from edge_msa.quantize.calibration import save_calibration

    splits = load_parts(recipe, spec, data_path)
    parts = [MixPart(p.name, splits[p.name]["train"], p.weight) for p in recipe.data.parts]
    counts = rows_per_epoch(parts, recipe.export.calibration_samples)
    rng = np.random.default_rng(recipe.seed)
    rows = [p.data.subset(np.sort(rng.choice(len(p.data), min(c, len(p.data)), replace=False)))
            for p, c in zip(parts, counts, strict=True)]
    meta = {"recipe": f"{recipe.name} training mix", "parts": dict(zip([p.name for p in parts], counts,
                                                                          strict=True)),
            "samples": int(sum(len(r) for r in rows)), "spec": spec.to_dict()}
    return save_calibration(run_dir / "calibration.npz", spec_arrays(MSAData.concat(rows), spec), meta)


def slim_tokenizer(bundle: Path):
    """Drop tokenizer.json: vocab.txt + the two configs rebuild the identical BERT tokenizer, and
    the 0.5 MB it saves per bundle keeps the shipped tiers within the package's 60 MB."""
    from edge_msa.export.bundle import describe_files, load_bundle, write_manifest
    from edge_msa.export.inputs_doc import INPUTS_MD, inputs_markdown

    manifest = load_bundle(bundle).manifest
    rel = "tokenizer/tokenizer.json"
    if rel in manifest.files:
        (bundle / rel).unlink()
        manifest.files = {k: v for k, v in manifest.files.items() if k != rel}
        if INPUTS_MD in manifest.files:  # it names the tokenizer files: rewrite it without that one
            del manifest.files[INPUTS_MD]
            (bundle / INPUTS_MD).write_text(inputs_markdown(manifest))
            manifest.files |= describe_files(bundle, {INPUTS_MD: "doc"})
        write_manifest(bundle, manifest)
    return manifest


def export_bundles(recipe: TrainRecipe, run_dir: str | Path, out_root: str | Path, *,
                   data_path: str | Path | None = None, progress: bool = True) -> dict[str, dict]:
    """Export the run with each of the recipe's export recipes into `out_root/<name>`; every
    manifest records (from the run) per modality whether its signal is learned, a prior or absent."""
    import executorch.kernels.quantized  # noqa: F401  out-variants of the int8 ops XNNPACK leaves

    from edge_msa.export.recipes import load_export_recipe
    from edge_msa.train.run import read_config
    from edge_msa.workflows.export_run import export_run

    if recipe.export is None:
        raise UserError(f"{recipe.source}: the recipe has no export section")
    run_dir, out_root = Path(run_dir), Path(out_root)
    config = read_config(run_dir)
    calib = calibration_file(recipe, run_dir, data_path, FeatureSpec.from_dict(config["spec"]))
    out = {}
    for name, rel in recipe.export.bundles.items():
        export = load_export_recipe(recipe.resolve(rel))
        # tiers share export recipes (nano uses default's): the bundle is named after the tier
        export = export.model_copy(update={"name": f"{recipe.name}-{name}"})
        manifest = export_run(run_dir, export, out_root / name, data=data_path, force=True, progress=progress,
                              calibration=calib if export.calibrated else None)
        manifest = slim_tokenizer(out_root / name)  # export_run copied the run's "modalities"
        out[name] = {"parity": manifest.parity, "metrics": manifest.metrics,
                     "bytes": sum(f.bytes for f in manifest.files.values())}
    return out

