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

NUMPY_RUNTIME = "executorch_numpy_runtime"


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
        from executorch.runtime import Runtime

        if threads:
            # the runtime's pool defaults to the core count; it is process-wide
            from executorch.extension.pybindings.portable_lib import _unsafe_reset_threadpool

            _unsafe_reset_threadpool(threads)
        program = Runtime.get().load_program(bundle.path("model"))
        self.method = program.load_method("forward")

    def _run(self, inputs: tuple[np.ndarray, ...]) -> Outputs:
        if self.numpy_runtime:
            score, uncertainty = self.method(list(inputs))
            return np.asarray(score), np.asarray(uncertainty)
        score, uncertainty = self.method.execute([self._torch.from_numpy(a) for a in inputs])
        return score.numpy(), uncertainty.numpy()


BACKEND = ExecuTorchBackend
