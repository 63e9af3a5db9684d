"""`onnxruntime`: runs the bundle's `model.onnx` (fp32, fp16, Q/DQ int8 or dynamic int8)."""

from __future__ import annotations

import numpy as np

from edge_msa.export.bundle import Bundle
from edge_msa.features.spec import INPUT_NAMES
from edge_msa.runtime.backends import Backend, Outputs

# CUDA when this onnxruntime build has it (onnxruntime-gpu, JetPack wheels), else the CPU
PROVIDERS = ("CUDAExecutionProvider", "CPUExecutionProvider")
_ORT_TYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
              "tensor(int64)": "int64", "tensor(int32)": "int32"}


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"

    def __init__(self, bundle: Bundle, threads: int | None = None) -> None:
        super().__init__(bundle, threads)
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        options.log_severity_level = 3  # warnings about unused initializers are noise to a user
        # idle pool threads spin by default, taking cores from the runtime's other workers (audio,
        # face, ASR) between calls
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = [p for p in PROVIDERS if p in ort.get_available_providers()]
        self.session = ort.InferenceSession(str(bundle.path("model")), options, providers=providers)
        # 'tensor(float)' -> float32; a named axis ('s12': the dynamic text length) is free
        bundle.check_model_io([(i.name, _ORT_TYPES.get(i.type, i.type), [d if isinstance(d, int) else None
                                                                          for d in i.shape])
                               for i in self.session.get_inputs()], len(self.session.get_outputs()))

    def _run(self, inputs: tuple[np.ndarray, ...]) -> Outputs:
        score, uncertainty = self.session.run(None, dict(zip(INPUT_NAMES, inputs, strict=True)))
        return score, uncertainty


BACKEND = OnnxRuntimeBackend
