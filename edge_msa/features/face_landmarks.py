"""Face mesh (478 landmarks) on a face crop, and the 52 blendshape scores computed from it.

The mesh model sees a 256x256 RGB crop in [0, 1] and returns x, y, z per landmark in crop pixels
(z: depth relative to the face centre, same scale as x, smaller = nearer the camera) plus a
face-presence logit. The blendshape model (MediaPipe's "HUND" MLP-Mixer) takes the x, y of a
fixed subset of 146 landmarks in frame pixels; it is invariant to translation and uniform scale
but not to a stretched aspect, which is why frame pixels (not normalised 0..1 coordinates) go in.
"""

from __future__ import annotations

import numpy as np

from edge_msa.features.face_models import TfliteModel
from edge_msa.features.face_roi import Roi, roi_around

INPUT = 256
NUM_LANDMARKS = 478
# Outer corners of the subject's right (33) and left (263) eye: the tracked crop is kept level
# along this line, as MediaPipe does.
RIGHT_EYE_OUTER, LEFT_EYE_OUTER = 33, 263
TRACK_SCALE = 1.5  # crop side / landmark extent for the next frame
# Output tensors of the pinned mesh model (the third, Identity_2, is a tongue-out score).
MESH_OUTPUT, PRESENCE_OUTPUT = "Identity", "Identity_1"

# MediaPipe's order of the blendshape model's outputs (face_blendshapes_graph.cc), ARKit names.
BLENDSHAPE_NAMES = (
    "_neutral", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft", "eyeBlinkRight",
    "eyeLookDownLeft", "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft",
    "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight", "eyeSquintLeft", "eyeSquintRight",
    "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft", "jawOpen", "jawRight", "mouthClose",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft", "mouthFrownRight", "mouthFunnel",
    "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthPressLeft", "mouthPressRight",
    "mouthPucker", "mouthRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower",
    "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthUpperUpLeft", "mouthUpperUpRight", "noseSneerLeft", "noseSneerRight",
)

# The 146 landmarks the blendshape model reads, in its input order (MediaPipe's
# kLandmarksSubsetIdxs): brows, eyes, lips, nose, face contour, then all ten iris points.
BLENDSHAPE_INPUT_LANDMARKS = np.array([
    0, 1, 4, 5, 6, 7, 8, 10, 13, 14, 17, 21, 33, 37, 39, 40, 46, 52, 53, 54, 55, 58, 61, 63, 65,
    66, 67, 70, 78, 80, 81, 82, 84, 87, 88, 91, 93, 95, 103, 105, 107, 109, 127, 132, 133, 136,
    144, 145, 146, 148, 149, 150, 152, 153, 154, 155, 157, 158, 159, 160, 161, 162, 163, 168, 172,
    173, 176, 178, 181, 185, 191, 195, 197, 234, 246, 249, 251, 263, 267, 269, 270, 276, 282, 283,
    284, 285, 288, 291, 293, 295, 296, 297, 300, 308, 310, 311, 312, 314, 317, 318, 321, 323, 324,
    332, 334, 336, 338, 356, 361, 362, 365, 373, 374, 375, 377, 378, 379, 380, 381, 382, 384, 385,
    386, 387, 388, 389, 390, 397, 398, 400, 402, 405, 409, 415, 454, 466, *range(468, 478),
])


class FaceMesh:
    def __init__(self, model: bytes, num_threads: int = 1):
        self.net = TfliteModel(model, num_threads)

    def __call__(self, frame_bgr: np.ndarray, roi: Roi) -> tuple[np.ndarray, float]:
        """(landmarks [478, 3] in frame pixels, face presence probability) for the face in roi."""
        rgb = roi.crop(frame_bgr, INPUT)[..., ::-1]
        out = self.net(rgb[None] / 255.0)
        points = out[MESH_OUTPUT].reshape(NUM_LANDMARKS, 3)
        presence = 1.0 / (1.0 + np.exp(-float(out[PRESENCE_OUTPUT].ravel()[0])))
        return roi.to_frame(points, INPUT), presence


def next_roi(landmarks: np.ndarray) -> Roi:
    """Where to look for this face in the next frame: its landmarks, levelled and enlarged."""
    dx, dy = landmarks[LEFT_EYE_OUTER, :2] - landmarks[RIGHT_EYE_OUTER, :2]
    return roi_around(landmarks[:, :2], float(np.arctan2(dy, dx)), TRACK_SCALE)


class Blendshapes:
    def __init__(self, model: bytes, num_threads: int = 1):
        self.net = TfliteModel(model, num_threads)

    def __call__(self, landmarks: np.ndarray) -> np.ndarray:
        """Scores [52] in MediaPipe's order from landmarks [478, 2+] in frame pixels."""
        pts = landmarks[BLENDSHAPE_INPUT_LANDMARKS, :2]
        (scores,) = self.net(pts[None]).values()
        return scores.reshape(len(BLENDSHAPE_NAMES))

