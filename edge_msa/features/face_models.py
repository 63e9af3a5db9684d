"""The packaged MediaPipe Face Landmarker bundle: sha256-checked loading and LiteRT interpreters.

The `.task` file is committed unmodified (a stored zip of three `.tflite` models and the canonical
face mesh), so its hash is the one published in `../shared/models/README.md` and nothing is ever
downloaded. The decoding constants of the detector and blendshape stages belong to exactly this
model version, which is why any file given here must match the pinned hash.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np

from edge_msa.errors import UserError

ASSET_DIR = Path(__file__).resolve().parents[1] / "assets" / "face"
TASK_FILE = "face_landmarker.task"
DETECTOR, LANDMARKER, BLENDSHAPES = "face_detector.tflite", "face_landmarks_detector.tflite", \
    "face_blendshapes.tflite"
GEOMETRY = "geometry_pipeline_metadata_landmarks.binarypb"


def pinned_sha256(name: str = TASK_FILE, asset_dir: Path = ASSET_DIR) -> str:
    """The hash `SHA256SUMS` pins for one asset file."""
    sums = asset_dir / "SHA256SUMS"
    if not sums.is_file():
        raise UserError(f"{sums} is missing: reinstall edge-msa")
    for line in sums.read_text().splitlines():
        digest, _, fname = line.strip().partition("  ")
        if fname == name:
            return digest
    raise UserError(f"{sums} has no entry for {name}: reinstall edge-msa")


def load_task(path: str | Path | None = None) -> dict[str, bytes]:
    """Members of the face landmarker bundle by file name, after checking its sha256."""
    path = Path(path) if path is not None else ASSET_DIR / TASK_FILE
    if not path.is_file():
        raise UserError(f"face model file {path} is missing: reinstall edge-msa")
    data = path.read_bytes()
    digest, expected = hashlib.sha256(data).hexdigest(), pinned_sha256()
    if digest != expected:
        raise UserError(f"face model file {path} is corrupted or not the supported version "
                        f"(sha256 {digest[:12]}..., expected {expected[:12]}...)")
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in (DETECTOR, LANDMARKER, BLENDSHAPES, GEOMETRY)}


class TfliteModel:
    """One `.tflite` model held in memory: float32 arrays in, named float32 arrays out."""

    def __init__(self, model: bytes, num_threads: int = 1):
        self._it = _interpreter_class()(model_content=model, num_threads=num_threads)
        self._it.allocate_tensors()
        self._input = self._it.get_input_details()[0]["index"]
        self.input_shape = tuple(self._it.get_input_details()[0]["shape"])
        self._outputs = {d["name"]: d["index"] for d in self._it.get_output_details()}

    def __call__(self, x: np.ndarray) -> dict[str, np.ndarray]:
        self._it.set_tensor(self._input, np.ascontiguousarray(x, dtype=np.float32))
        self._it.invoke()
        return {name: self._it.get_tensor(i) for name, i in self._outputs.items()}


def _interpreter_class():
    # ai-edge-litert is the maintained wheel; tflite-runtime still serves older ARM boards.
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError:
            raise UserError("face features need ai-edge-litert (pip install 'edge-msa[runtime]')") \
                from None
    return Interpreter
