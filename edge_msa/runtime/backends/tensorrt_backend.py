"""`tensorrt`: builds (first use) and runs a TensorRT engine from the bundle's ONNX.

The engine and its timing cache are kept beside the bundle (`model.engine`, `timing.cache`, the
files `build_engine.sh` writes too); an engine from another GPU or TensorRT version fails to
deserialize and is rebuilt. Device buffers are torch CUDA tensors (JetPack's torch has CUDA).
"""

from __future__ import annotations

import importlib.util

import numpy as np

from edge_msa.errors import UserError
from edge_msa.export.bundle import Bundle
from edge_msa.extras import install_hint
from edge_msa.runtime.backends import Backend, Outputs

ENGINE, TIMING_CACHE = "model.engine", "timing.cache"


class TensorRTBackend(Backend):
    name = "tensorrt"
    takes_short_text = False  # engines are built at the manifest's shapes (build_engine.sh)

    @staticmethod
    def unavailable() -> str | None:
        missing = []
        try:
            import tensorrt  # noqa: F401
        except ImportError:
            missing.append("the `tensorrt` Python module is not installed (JetPack 6 ships TensorRT 10.3; "
                           "on x86 with CUDA: pip install 'edge-msa[jetson]')")
        if importlib.util.find_spec("torch") is None:
            missing.append(f"torch holds its device buffers: {install_hint('torch')}")
            return "; ".join(missing)
        import torch

        if not torch.cuda.is_available():
            missing.append("no CUDA GPU is visible (TensorRT needs an NVIDIA GPU and a torch build with CUDA "
                           "for its buffers)")
        return "; ".join(missing) or None

    def __init__(self, bundle: Bundle, threads: int | None = None) -> None:
        super().__init__(bundle, threads)
        import tensorrt as trt
        import torch

        self._torch = torch
        logger = trt.Logger(trt.Logger.WARNING)
        runtime = trt.Runtime(logger)
        engine_path, cache_path = bundle.root / ENGINE, bundle.root / TIMING_CACHE
        engine = runtime.deserialize_cuda_engine(engine_path.read_bytes()) if engine_path.is_file() else None
        if engine is None:  # none yet, or built for another GPU / TensorRT version
            build = (bundle.manifest.tensorrt or {}).get("build", {})
            from edge_msa.export.tensorrt import build_engine  # reads the ONNX with the onnx package

            plan = build_engine(bundle.path("model"), engine_path, cache_path, **build)
            engine = runtime.deserialize_cuda_engine(plan)
        if engine is None:
            raise UserError(f"TensorRT could not load the engine it built for {bundle.root}")
        self.engine, self.context = engine, engine.create_execution_context()
        self.buffers = {}
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            shape = tuple(engine.get_tensor_shape(name))
            dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(name)))
            self.buffers[name] = torch.from_numpy(np.zeros(shape, dtype)).cuda()
            self.context.set_tensor_address(name, self.buffers[name].data_ptr())

    def _run(self, inputs: tuple[np.ndarray, ...]) -> Outputs:
        torch = self._torch
        for t, a in zip(self.manifest.inputs, inputs, strict=True):
            self.buffers[t.name].copy_(torch.from_numpy(a), non_blocking=False)
        stream = torch.cuda.current_stream()  # the copies above were queued on it
        self.context.execute_async_v3(stream.cuda_stream)
        stream.synchronize()
        return tuple(self.buffers[t.name].float().cpu().numpy() for t in self.manifest.outputs)


BACKEND = TensorRTBackend
