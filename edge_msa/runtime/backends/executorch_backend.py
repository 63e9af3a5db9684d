"""`executorch`: runs the bundle's `model.pte` with the ExecuTorch runtime (XNNPACK delegate)."""

from __future__ import annotations

import numpy as np

from edge_msa.export.bundle import Bundle
from edge_msa.extras import missing_extra
from edge_msa.runtime.backends import Backend, Outputs


class ExecuTorchBackend(Backend):
    name = "executorch"

    @staticmethod
    def unavailable() -> str | None:
        return missing_extra("executorch")

    def __init__(self, bundle: Bundle, threads: int | None = None) -> None:
        super().__init__(bundle, threads)
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
        score, uncertainty = self.method.execute([self._torch.from_numpy(a) for a in inputs])
        return score.numpy(), uncertainty.numpy()


BACKEND = ExecuTorchBackend
