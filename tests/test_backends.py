"""Backends behind one interface: selection by name, input checks, the TensorRT error without TensorRT."""

from __future__ import annotations

import numpy as np
import pytest
from export_helpers import bundle, real_inputs

from edge_msa.errors import UserError
from edge_msa.features.spec import LIVE, pad_to_spec
from edge_msa.runtime.backends import backend_class, load_backend


def test_auto_takes_the_first_backend_that_runs_here():
    assert load_backend(bundle("onnx-cpu-fp32")).name == "onnxruntime"
    assert load_backend(bundle("android-xnnpack-fp32")).name == "executorch"
    if backend_class("tensorrt").unavailable() is not None:  # no TensorRT/GPU: onnxruntime runs the ONNX
        assert load_backend(bundle("jetson-trt-int8")).name == "onnxruntime"


def test_tensorrt_without_tensorrt_names_what_is_missing():
    reason = backend_class("tensorrt").unavailable()
    if reason is None:
        pytest.skip("this machine has TensorRT and a GPU")
    with pytest.raises(UserError, match="the tensorrt backend cannot run here") as err:
        load_backend(bundle("jetson-trt-fp16"), "tensorrt")
    message = str(err.value)
    import importlib.util

    import torch

    if importlib.util.find_spec("tensorrt") is None:
        assert "`tensorrt` Python module is not installed" in message
    if not torch.cuda.is_available():
        assert "no CUDA GPU is visible" in message


def test_backend_names_are_checked():
    with pytest.raises(UserError, match="not made for the executorch backend; it runs on: onnxruntime, to"):
        load_backend(bundle("onnx-cpu-fp32"), "executorch")
    with pytest.raises(UserError, match="unknown backend 'tflite'"):
        load_backend(bundle("onnx-cpu-fp32"), "tflite")


def test_batches_run_row_by_row_with_the_same_answers():
    inputs, _ = real_inputs(6)
    backend = load_backend(bundle("android-xnnpack-int8-dynamic"))
    score, unc = backend.predict(inputs)
    rows = [backend.predict(tuple(a[i : i + 1] for a in inputs)) for i in range(6)]
    assert np.array_equal(score, np.concatenate([r[0] for r in rows]))
    assert np.array_equal(unc, np.concatenate([r[1] for r in rows]))


def test_wrong_shapes_are_refused_and_pad_to_spec_fixes_short_windows():
    inputs, _ = real_inputs(2)
    backend = load_backend(bundle("onnx-cpu-fp32"))
    n = int(inputs[1].sum(1).max())  # the longest sentence: cutting there loses no token
    short = (inputs[0][:, :n], inputs[1][:, :n], *(a[:, :1] for a in inputs[2:]))
    with pytest.raises(UserError, match=r"input '\w+' has shape \(2, .*pad windows to the spec's max_len"):
        backend.predict(short)
    padded = pad_to_spec(short, LIVE)
    assert [a.shape for a in padded] == [a.shape for a in inputs]
    assert not padded[1][:, n:].any() and not padded[3].any()
    np.testing.assert_array_equal(backend.predict(padded)[0], backend.predict(inputs)[0])
    with pytest.raises(UserError, match="takes 6 inputs"):
        backend.predict(inputs[:4])
