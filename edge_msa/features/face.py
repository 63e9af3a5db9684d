"""Live vision features per video frame (`vision:blendshapes-52-pose-3-expr-7`): 52 blendshape
scores, head pose and 7 facial-expression probabilities.

Pipeline (MediaPipe Face Landmarker's three models run with LiteRT, no mediapipe package): BlazeFace
finds the face, the mesh model places 478 landmarks on a levelled crop around it, the blendshape
model scores 52 expressions from 146 of those landmarks, and a fit of the canonical face gives
the head pose. Like MediaPipe's video mode, the face is tracked: each frame's landmarks give the
next frame's crop, and the detector runs only when the face is lost (presence < 0.5), after a gap
in time, or on the first frame. The expression classifier (FER2013, `face_expression`) reads the
square grayscale crop around the same landmarks.

Output per frame: float32 [62] = BLENDSHAPE_NAMES scores in [0, 1] (index 0 is the model's
"_neutral"), then yaw, pitch, roll divided by pi (so in [-1, 1]; see face_pose for the signs),
then the probabilities of EXPRESSIONS (angry .. neutral, summing to 1).
None means no face in view: a missing vision modality, not an error.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_msa.errors import UserError
from edge_msa.features.face_detect import FaceDetector
from edge_msa.features.face_expression import EXPRESSIONS, ExpressionClassifier
from edge_msa.features.face_landmarks import BLENDSHAPE_NAMES, Blendshapes, FaceMesh, next_roi
from edge_msa.features.face_models import BLENDSHAPES, DETECTOR, GEOMETRY, LANDMARKER, load_task
from edge_msa.features.face_pose import HeadPose
from edge_msa.features.face_roi import Roi

POSE_NAMES = ("headYaw", "headPitch", "headRoll")
EXPRESSION_NAMES = tuple(f"expression_{e}" for e in EXPRESSIONS)
FEATURE_NAMES = BLENDSHAPE_NAMES + POSE_NAMES + EXPRESSION_NAMES
DIM = len(FEATURE_NAMES)  # 62, the vision dim of the LIVE FeatureSpec

__all__ = ["BLENDSHAPE_NAMES", "DIM", "EXPRESSION_NAMES", "FEATURE_NAMES", "POSE_NAMES", "FaceFeaturizer"]


class FaceFeaturizer:
    """`process(frame_bgr, t_s) -> float32[62] | None`, one face (the most confident)."""

    def __init__(self, model_path: str | Path | None = None, num_threads: int = 1,
                 min_presence: float = 0.5, max_track_gap_s: float = 1.0):
        files = load_task(model_path)
        self.detector = FaceDetector(files[DETECTOR], num_threads)
        self.mesh = FaceMesh(files[LANDMARKER], num_threads)
        self.blendshapes = Blendshapes(files[BLENDSHAPES], num_threads)
        self.pose = HeadPose(files[GEOMETRY])
        self.expression = ExpressionClassifier(num_threads=num_threads)
        self.min_presence = min_presence
        self.max_track_gap_s = max_track_gap_s
        self.detector_calls = 0
        self._roi: Roi | None = None
        self._last_t: float | None = None

    def reset(self) -> None:
        """Forget the tracked face (new stream, new camera)."""
        self._roi, self._last_t = None, None

    def process(self, frame_bgr: np.ndarray, t_s: float) -> np.ndarray | None:
        _check_frame(frame_bgr)
        # A jump back in time or a long gap means a new scene: do not trust the old crop.
        if self._last_t is not None and not 0 <= t_s - self._last_t <= self.max_track_gap_s:
            self._roi = None
        self._last_t = t_s
        landmarks = self._landmarks(frame_bgr, self._roi) if self._roi is not None else None
        if landmarks is None:
            self.detector_calls += 1
            found = self.detector(frame_bgr)
            landmarks = self._landmarks(frame_bgr, found.roi()) if found is not None else None
        if landmarks is None:
            self._roi = None
            return None
        self._roi = next_roi(landmarks)
        pose = self.pose(landmarks) / np.pi
        return np.concatenate([self.blendshapes(landmarks), pose,
                               self.expression(frame_bgr, landmarks)]).astype(np.float32)

    def _landmarks(self, frame_bgr: np.ndarray, roi: Roi) -> np.ndarray | None:
        landmarks, presence = self.mesh(frame_bgr, roi)
        return landmarks if presence >= self.min_presence else None


def _check_frame(frame: np.ndarray) -> None:
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3 \
            or frame.dtype != np.uint8:
        got = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
        raise UserError(f"face features need a BGR uint8 frame [H, W, 3], got {got}")
