"""`torch`: runs the bundle's `model.pt2`, the exported program its artifact was made from.

For ExecuTorch int8 bundles that is the PT2E-quantized program (reference int8 kernels); for
ONNX bundles the program before any ONNX-level quantization.
"""

from __future__ import annotations

import numpy as np

from edge_msa.export.bundle import Bundle
from edge_msa.extras import missing_extra
from edge_msa.runtime.backends import Backend, Outputs


class TorchBackend(Backend):
    name = "torch"

    @staticmethod
    def unavailable() -> str | None:
        return missing_extra("torch")

    def __init__(self, bundle: Bundle, threads: int | None = None) -> None:
        super().__init__(bundle, threads)
        import torch

        self._torch = torch
        if threads:
            torch.set_num_threads(threads)  # process-wide: torch has one intra-op pool
        self.module = torch.export.load(str(bundle.path("reference"))).module()

    def _run(self, inputs: tuple[np.ndarray, ...]) -> Outputs:
        with self._torch.inference_mode():
            score, uncertainty = self.module(*(self._torch.from_numpy(a) for a in inputs))
        return score.float().numpy(), uncertainty.float().numpy()


BACKEND = TorchBackend
