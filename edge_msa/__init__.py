import logging as _logging
from importlib.metadata import version as _v

# torchao logs a warning per CUDA kernel library it cannot load on a CPU-only machine, and torch a
# deprecation note about torchao's enums: harmless here, and noise in every command's output.
for _name in ("torchao", "torch.utils._pytree"):
    _logging.getLogger(_name).setLevel(_logging.ERROR)

__version__ = _v("edge-msa")
