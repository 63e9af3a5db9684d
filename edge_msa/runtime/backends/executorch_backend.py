"""`executorch`: runs the bundle's `model.pte` with the ExecuTorch runtime (XNNPACK delegate).

The runtime is the `executorch` wheel's (it needs torch: tensors in and out) or, where only that
is missing, `executorch-numpy-runtime` (a torch-free build of the ExecuTorch 1.3.1 runtime with
XNNPACK and the quantized kernels, numpy in and out; Python >= 3.12; the `executorch-lite` extra).
"""

from __future__ import annotations

import numpy as np

from edge_msa.export.bundle import Bundle
from edge_msa.extras import missing_extra
from edge_msa.runtime.backends import Backend, Outputs
from edge_msa.runtime.native_output import quiet_native_stderr

NUMPY_RUNTIME = "executorch_numpy_runtime"
_ET_TYPES = {3: "int32", 4: "int64", 5: "float16", 6: "float32", 7: "float64"}  # ExecuTorch ScalarType


class ExecuTorchBackend(Backend):
    name = "executorch"

    @staticmethod
    def unavailable() -> str | None:
        full, lite = missing_extra("executorch"), missing_extra(NUMPY_RUNTIME)
        return f"{full}; or {lite}" if full and lite else None

    def __init__(self, bundle: Bundle, threads: int | None = None) -> None:
        super().__init__(bundle, threads)
        self.numpy_runtime = missing_extra("executorch") is not None
        if self.numpy_runtime:
            import executorch_numpy_runtime

            # its own thread pool (XNNPACK's); `threads` is not settable there
            program = executorch_numpy_runtime.Runtime.get().load_program(str(bundle.path("model")))
            self.method = program.load_method("forward")
            return
        import torch  # the executorch wheel depends on it; its runtime takes and returns tensors

        self._torch = torch
        # registers quantized_decomposed kernels: int8 embedding tables need them
        import executorch.kernels.quantized  # noqa: F401

        # The compiled runtime itself, not `executorch.runtime`: its wrapper imports
        # `executorch.exir` and with it torchao (8 s on a 2-core box, measured in bench_startup.py)
        # to run a program that needs neither. torch first: _C links against libtorch.
        from executorch.extension.pybindings import _C

        with quiet_native_stderr():  # XNNPACK's cpuinfo probes log to fd 2 on every load
            if threads:
                # the runtime's pool defaults to the core count; it is process-wide
                _C._unsafe_reset_threadpool(threads)
            program = _C._load_program(str(bundle.path("model")), enable_etdump=False, debug_buffer_size=0,
                                       program_verification=_C.Verification.InternalConsistency)
            self.method = program.load_method("forward")
        self._check_program_io()

    def _check_program_io(self) -> None:
        """The program's inputs are the manifest's (a dynamic axis reports its upper bound)."""
        meta = self.method.method_meta()
        inputs = [meta.input_tensor_meta(i) for i in range(meta.num_inputs())]
        self.bundle.check_model_io([(None, _ET_TYPES.get(t.dtype(), str(t.dtype())), list(t.sizes()))
                                    for t in inputs], meta.num_outputs())

    def _run(self, inputs: tuple[np.ndarray, ...]) -> Outputs:
        if self.numpy_runtime:
            score, uncertainty = self.method(list(inputs))
            return np.asarray(score), np.asarray(uncertainty)
        score, uncertainty = self.method([self._torch.from_numpy(a) for a in inputs])
        return score.numpy(), uncertainty.numpy()


BACKEND = ExecuTorchBackend
