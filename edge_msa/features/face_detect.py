"""BlazeFace short-range face detector (the first model of MediaPipe's Face Landmarker).

The network predicts, for each of 896 fixed anchors on a 128x128 letterboxed frame, a score logit
and 16 offsets: box centre x, y, width, height and six keypoints (eyes, nose tip, mouth, ears),
in input pixels relative to the anchor centre. Anchors: a 16x16 grid (stride 8) with 2 per cell,
then an 8x8 grid (stride 16) with 6 per cell; all of unit size, so offsets are plain pixels.
Overlapping hits of the best face are blended by score (MediaPipe's "weighted" suppression).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge_msa.features.face_models import TfliteModel
from edge_msa.features.face_roi import Roi

INPUT = 128
ROI_SCALE = 1.5  # the landmark model expects the face box enlarged by half


def ssd_anchors() -> np.ndarray:
    """Anchor centres [896, 2] in input pixels, in the order of the model's outputs."""
    layers = []
    for stride, per_cell in ((8, 2), (16, 6)):
        n = INPUT // stride
        ys, xs = np.mgrid[0:n, 0:n]
        centres = (np.stack([xs, ys], -1).reshape(-1, 2) + 0.5) * stride
        layers.append(np.repeat(centres, per_cell, axis=0))
    return np.concatenate(layers).astype(np.float32)


@dataclass(frozen=True)
class Detection:
    box: np.ndarray  # centre x, centre y, width, height in frame pixels
    keypoints: np.ndarray  # [6, 2] frame pixels: right eye, left eye (subject's), nose, mouth, ears
    score: float

    def roi(self) -> Roi:
        """Square region for the landmark model, upright along the line between the eyes."""
        dx, dy = self.keypoints[1] - self.keypoints[0]
        return Roi(float(self.box[0]), float(self.box[1]), float(self.box[2:].max() * ROI_SCALE),
                   float(np.arctan2(dy, dx)))


class FaceDetector:
    def __init__(self, model: bytes, num_threads: int = 1, min_score: float = 0.5,
                 min_iou: float = 0.3):
        self.net = TfliteModel(model, num_threads)
        self.anchors = ssd_anchors()
        self.min_score, self.min_iou = min_score, min_iou

    def __call__(self, frame_bgr: np.ndarray) -> Detection | None:
        """The most confident face in the frame, or None."""
        h, w = frame_bgr.shape[:2]
        letterbox = Roi(w / 2, h / 2, max(w, h), 0.0)
        rgb = letterbox.crop(frame_bgr, INPUT)[..., ::-1]
        out = self.net(rgb[None] / 127.5 - 1.0)
        raw, logits = out["regressors"][0], out["classificators"][0, :, 0]
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits.astype(np.float64), -100.0, 100.0)))
        keep = np.flatnonzero(scores >= self.min_score)
        if keep.size == 0:
            return None
        raw, scores = raw[keep], scores[keep]
        anchors = self.anchors[keep]
        boxes = np.concatenate([raw[:, :2] + anchors, raw[:, 2:4]], axis=1)
        kps = raw[:, 4:].reshape(-1, 6, 2) + anchors[:, None]
        best = int(scores.argmax())
        near = _iou(boxes[best], boxes) >= self.min_iou
        wts = scores[near] / scores[near].sum()
        box = wts @ boxes[near]
        kp = np.tensordot(wts, kps[near], axes=1)
        pts = letterbox.to_frame(np.vstack([box[None, :2], kp]), INPUT)
        size = box[2:] * max(w, h) / INPUT
        return Detection(np.concatenate([pts[0], size]), pts[1:], float(scores[best]))


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intersection over union of one centre-size box against many."""
    lo = np.maximum(box[:2] - box[2:] / 2, boxes[:, :2] - boxes[:, 2:] / 2)
    hi = np.minimum(box[:2] + box[2:] / 2, boxes[:, :2] + boxes[:, 2:] / 2)
    inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
    return inter / (np.prod(box[2:]) + np.prod(boxes[:, 2:], axis=1) - inter)
