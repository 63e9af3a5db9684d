"""Live vision features per video frame (`vision:blendshapes-52-pose-3-expr-7`): 52 blendshape
scores, head pose and 7 facial-expression probabilities.

Pipeline (MediaPipe Face Landmarker's three models run with LiteRT, no mediapipe package): BlazeFace
finds the face, the mesh model places 478 landmarks on a levelled crop around it, the blendshape
model scores 52 expressions from 146 of those landmarks, and a fit of the canonical face gives
the head pose. Like MediaPipe's video mode, the face is tracked: each frame's landmarks give the
next frame's crop, and the detector runs only when the face is lost (presence < 0.5), after a gap
in time, or on the first frame. The expression classifier (FER2013, `face_expression`) reads the
square grayscale crop around the same landmarks.

Still frames (optional, `still_diff` > 0): the mesh is the costly model (about 15 of 22 ms per
frame here), and a face that did not move gives the same features again. After each computed frame
a small grayscale crop of the face region is kept; a later frame cropped at the SAME region (so
tracking jitter does not count as motion) whose mean absolute difference from it is below
`still_diff` (grey levels, 0-255) gets the kept features back without any model call, for at most
`max_reuse_s` after the computed frame, so slow drift is still caught.

Output per frame: float32 [62] = BLENDSHAPE_NAMES scores in [0, 1] (index 0 is the model's
"_neutral"), then yaw, pitch, roll divided by pi (so in [-1, 1]; see face_pose for the signs),
then the probabilities of EXPRESSIONS (angry .. neutral, summing to 1).
None means no face in view: a missing vision modality, not an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
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

STILL_CROP = 48  # side of the grayscale crop compared between frames (0.05 ms to make)


@dataclass(frozen=True)
class _Computed:
    """The last frame that went through the models: its face region, crop, features and time."""

    roi: Roi
    crop: np.ndarray
    features: np.ndarray
    t: float


def _gray_crop(frame_bgr: np.ndarray, roi: Roi) -> np.ndarray:
    return cv2.cvtColor(roi.crop(frame_bgr, STILL_CROP), cv2.COLOR_BGR2GRAY).astype(np.float32)


class FaceFeaturizer:
    """`process(frame_bgr, t_s) -> float32[62] | None`, one face (the most confident)."""

    def __init__(self, model_path: str | Path | None = None, num_threads: int = 1,
                 min_presence: float = 0.5, max_track_gap_s: float = 1.0, still_diff: float = 0.0,
                 max_reuse_s: float = 0.5):
        if still_diff < 0 or max_reuse_s < 0:
            raise UserError(f"still_diff and max_reuse_s must be >= 0, got {still_diff}, {max_reuse_s}")
        files = load_task(model_path)
        self.detector = FaceDetector(files[DETECTOR], num_threads)
        self.mesh = FaceMesh(files[LANDMARKER], num_threads)
        self.blendshapes = Blendshapes(files[BLENDSHAPES], num_threads)
        self.pose = HeadPose(files[GEOMETRY])
        self.expression = ExpressionClassifier(num_threads=num_threads)
        self.min_presence = min_presence
        self.max_track_gap_s = max_track_gap_s
        self.still_diff, self.max_reuse_s = still_diff, max_reuse_s
        self.detector_calls = 0
        self.reused_frames = 0  # frames answered from the last computed one (still face)
        self._roi: Roi | None = None
        self._last_t: float | None = None
        self._computed: _Computed | None = None

    def reset(self) -> None:
        """Forget the tracked face (new stream, new camera)."""
        self._roi, self._last_t, self._computed = None, None, None

    def process(self, frame_bgr: np.ndarray, t_s: float) -> np.ndarray | None:
        _check_frame(frame_bgr)
        # A jump back in time or a long gap means a new scene: do not trust the old crop.
        if self._last_t is not None and not 0 <= t_s - self._last_t <= self.max_track_gap_s:
            self._roi, self._computed = None, None
        self._last_t = t_s
        if self._still(frame_bgr, t_s):
            self.reused_frames += 1
            return self._computed.features.copy()
        landmarks = self._landmarks(frame_bgr, self._roi) if self._roi is not None else None
        if landmarks is None:
            self.detector_calls += 1
            found = self.detector(frame_bgr)
            landmarks = self._landmarks(frame_bgr, found.roi()) if found is not None else None
        if landmarks is None:
            self._roi, self._computed = None, None
            return None
        self._roi = next_roi(landmarks)
        pose = self.pose(landmarks) / np.pi
        features = np.concatenate([self.blendshapes(landmarks), pose,
                                   self.expression(frame_bgr, landmarks)]).astype(np.float32)
        if self.still_diff > 0:
            self._computed = _Computed(self._roi, _gray_crop(frame_bgr, self._roi), features, t_s)
        return features

    def _still(self, frame_bgr: np.ndarray, t_s: float) -> bool:
        """True when the face region looks as it did in the last computed frame, recently enough."""
        c = self._computed
        if c is None or not 0 <= t_s - c.t <= self.max_reuse_s:
            return False
        return float(np.abs(_gray_crop(frame_bgr, c.roi) - c.crop).mean()) < self.still_diff

    def _landmarks(self, frame_bgr: np.ndarray, roi: Roi) -> np.ndarray | None:
        landmarks, presence = self.mesh(frame_bgr, roi)
        return landmarks if presence >= self.min_presence else None


def _check_frame(frame: np.ndarray) -> None:
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3 \
            or frame.dtype != np.uint8:
        got = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
        raise UserError(f"face features need a BGR uint8 frame [H, W, 3], got {got}")
