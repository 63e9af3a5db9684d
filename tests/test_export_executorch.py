"""ExecuTorch bundles (fp32, static int8, dynamic int8) of a tiny run trained on real VADER text."""

from __future__ import annotations

import numpy as np
import pytest
from export_helpers import CALIBRATION_SAMPLES, bundle, real_inputs, trained_run

from edge_msa.export.bundle import load_bundle
from edge_msa.export.parity import eager_outputs
from edge_msa.runtime.backends import load_backend
from edge_msa.train.run import load_run

RECIPES = ("android-xnnpack-fp32", "android-xnnpack-int8", "android-xnnpack-int8-dynamic")


@pytest.fixture(scope="module")
def manifests():
    return {name: load_bundle(bundle(name)).manifest for name in RECIPES}


def test_every_recipe_passes_parity_on_real_samples_and_records_it(manifests):
    for m in manifests.values():
        assert m.format == "executorch" and m.backends == ["executorch", "torch"]
        assert m.parity["passed"] and m.parity["backend"] == "executorch"
        assert m.parity["samples"] == 512 and m.source["parity_data"]["dataset"] == "vader-movie"
        roles = {info.role for info in m.files.values()}
        assert roles == {"model", "reference", "tokenizer", "frontend", "doc"}  # + front-end, INPUTS.md
        assert [t.shape for t in m.inputs] == [[1, 64], [1, 64], [1, 300, 42], [1, 300], [1, 60, 62], [1, 60]]
        assert m.delegation["delegated_ops"] > 0 and m.delegation["delegated_subgraphs"] >= 1
        assert set(m.metrics) == {"eager", "exported"} and "mae" in m.metrics["exported"]
    assert manifests["android-xnnpack-fp32"].parity["max_abs_diff_score"] < 1e-4
    for name in RECIPES[1:]:
        assert manifests[name].precision == "int8"
        assert abs(manifests[name].parity["mae_delta"]) <= 0.03


def test_int8_tables_shrink_the_file(manifests):
    size = {n: m.files["model.pte"].bytes for n, m in manifests.items()}
    # the 30522-word embedding table is most of this model: int8 stores it in a quarter
    assert size["android-xnnpack-int8"] < 0.5 * size["android-xnnpack-fp32"]
    assert size["android-xnnpack-int8-dynamic"] < 0.5 * size["android-xnnpack-fp32"]


def test_static_int8_records_its_calibration_set(manifests):
    q = manifests["android-xnnpack-int8"].quantization
    assert q["scheme"] == "pt2e-static" and q["operators"] == ["linear"]
    assert q["dynamic_modules"] == ["*.ffn_out"]
    calib = q["calibration_set"]
    assert calib["samples"] == CALIBRATION_SAMPLES and calib["recipe"]["split"] == "train"
    assert len(calib["recipe"]["mix"]) == 5 and calib["source"]["dataset"] == "vader-movie"
    assert manifests["android-xnnpack-int8-dynamic"].quantization["calibration_set"] is None


def test_backends_reproduce_eager_on_held_out_sentences(manifests):
    inputs, _ = real_inputs(48)
    model, _ = load_run(trained_run())
    eager_score, eager_unc = eager_outputs(model, inputs)
    for name in RECIPES:
        runs = {b: load_backend(bundle(name), b).predict(inputs) for b in ("executorch", "torch")}
        tol = 1e-4 if name.endswith("fp32") else 0.1
        for score, unc in runs.values():
            assert score.shape == unc.shape == (48,)
            assert np.max(np.abs(score - eager_score)) < tol and np.max(np.abs(unc - eager_unc)) < tol
        # the torch backend runs the program that was lowered (quantized for int8): same numbers
        assert np.max(np.abs(runs["executorch"][0] - runs["torch"][0])) < 0.02


def test_a_lowering_that_asserts_is_one_clear_error(tmp_path, monkeypatch):
    """executorch 1.5.1's XNNPACK partitioner asserts on lnln_lite-tiny with pt2e-dynamic ("Invalid
    partition, found dependency cycles", minutes to reproduce): that assertion stands in here, raised
    where the lowering runs, and must reach the user as a UserError naming the recipe."""
    import executorch.exir
    import torch

    from edge_msa.errors import UserError
    from edge_msa.export.executorch_export import export_executorch
    from edge_msa.export.recipes import load_export_recipe
    from edge_msa.models import create_model

    def asserting_lowering(*_args, **_kwargs):
        raise AssertionError("Invalid partition, found dependency cycles")

    monkeypatch.setattr(executorch.exir, "to_edge_transform_and_lower", asserting_lowering)
    model = create_model("mean_pool_mlp-tiny", "live-minilm")
    example = tuple(torch.as_tensor(x) for x in model.example_inputs(1))
    with pytest.raises(UserError, match="'android-xnnpack-fp32'.*dependency cycles"):
        export_executorch(model, load_export_recipe("android-xnnpack-fp32"), example, None, tmp_path)
