import logging as _logging
from importlib.metadata import version as _v

# torchao logs a warning per CUDA kernel library it cannot load on a CPU-only machine, and torch a
# deprecation note about torchao's enums: harmless here, and noise in every command's output.
for _name in ("torchao", "torch.utils._pytree"):
    _logging.getLogger(_name).setLevel(_logging.ERROR)

__version__ = _v("edge-msa")

__all__ = ["SentimentEvent", "SentimentModel", "__version__"]


def __getattr__(name: str):
    """`from edge_msa import SentimentModel` loads the API on first use: `import edge_msa` stays
    cheap (no onnxruntime, no torch) for the CLI and for apps that only read events."""
    if name == "SentimentModel":
        from edge_msa.api import SentimentModel

        return SentimentModel
    if name == "SentimentEvent":
        from edge_msa.runtime.events import SentimentEvent

        return SentimentEvent
    raise AttributeError(f"module 'edge_msa' has no attribute {name!r}")
