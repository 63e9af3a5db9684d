"""Bundles with a variable text axis: the artifact takes 2..max_len tokens, the backends cut each row's
text after its last kept token, and that changes no score (a tiny run trained on real VADER text)."""

from __future__ import annotations

import numpy as np
from export_helpers import bundle, real_inputs

from edge_msa.export.bundle import load_bundle
from edge_msa.features.spec import MIN_TEXT_LEN, trim_text, used_text_len
from edge_msa.runtime.backends import load_backend


def test_manifests_say_which_bundles_take_short_text():
    for name in ("android-xnnpack-fp32", "onnx-cpu-int8"):
        inputs = load_bundle(bundle(name)).manifest.inputs
        assert [t.min_shape for t in inputs[:2]] == [[1, MIN_TEXT_LEN]] * 2, name
        assert all(t.min_shape is None for t in inputs[2:]), name
        assert f"| `text` | [1, {MIN_TEXT_LEN}..64] | int64 |" in (bundle(name) / "INPUTS.md").read_text()
    jetson = load_bundle(bundle("jetson-trt-fp16")).manifest.inputs  # static TensorRT engines
    assert all(t.min_shape is None for t in jetson)
    assert "Every shape is static" in (bundle("jetson-trt-fp16") / "INPUTS.md").read_text()


def test_cut_rows_score_what_padded_rows_score():
    inputs, _ = real_inputs(24)
    lengths = [used_text_len(inputs[1][i]) for i in range(24)]
    assert max(lengths) < inputs[0].shape[1] and min(lengths) > MIN_TEXT_LEN  # real sentences, padded
    rows = [tuple(a[i : i + 1] for a in inputs) for i in range(24)]
    pairs = (("android-xnnpack-fp32", ("executorch", "torch")), ("onnx-cpu-fp32", ("onnxruntime",)))
    for name, backends in pairs:
        for b in backends:
            backend = load_backend(bundle(name), b)
            assert backend.trims_text
            cut = np.concatenate([backend._run(trim_text(row))[0] for row in rows])
            full = np.concatenate([backend._run(row)[0] for row in rows])
            np.testing.assert_allclose(cut, full, atol=1e-4, err_msg=f"{name} on {b}")
            np.testing.assert_allclose(backend.predict(inputs)[0], full, atol=1e-4, err_msg=f"{name} on {b}")


def test_a_row_without_text_runs_at_the_shortest_length():
    inputs, _ = real_inputs(1)
    no_text = (np.zeros_like(inputs[0]), np.zeros_like(inputs[1]), *inputs[2:])
    cut = trim_text(no_text)
    assert cut[0].shape == cut[1].shape == (1, MIN_TEXT_LEN)
    backend = load_backend(bundle("android-xnnpack-fp32"), "executorch")
    np.testing.assert_allclose(backend._run(cut)[0], backend._run(no_text)[0], atol=1e-4)


def test_position_tables_are_cut_to_the_positions_a_bundle_uses():
    import torch

    from edge_msa.export.shapes import fit_positions
    from edge_msa.models import create_model
    from edge_msa.models.text_encoder import TextEncoder

    torch.manual_seed(0)
    model = create_model("lnln_lite-tiny").eval()  # the whole MiniLM-L6: 512 positions
    x = model.example_inputs(2)  # at the live spec's 64 tokens
    with torch.no_grad():
        before = model(*x)
        fit_positions(model, 64)
        after = model(*x)
    tables = [m.position for m in model.modules() if isinstance(m, TextEncoder)]
    assert [t.num_embeddings for t in tables] == [64]
    torch.testing.assert_close(after, before, atol=0, rtol=0)
