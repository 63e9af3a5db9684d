"""A rotated square region of a frame and the crop that feeds a face model.

Coordinates are continuous image pixels (the top-left corner of the frame is (0, 0), the centre
of the first pixel is (0.5, 0.5)): model outputs are in the same convention for their input
square, so one affine map carries points from a crop back to the frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Roi:
    cx: float
    cy: float
    size: float  # side of the square, in frame pixels
    angle: float  # radians; the crop's x axis points along (cos, sin) in the frame (y down)

    def matrix(self, out_size: int) -> np.ndarray:
        """2x3 affine map from crop coordinates (0..out_size) to frame coordinates."""
        k = self.size / out_size
        c, s = np.cos(self.angle) * k, np.sin(self.angle) * k
        lin = np.array([[c, -s], [s, c]])
        shift = np.array([self.cx, self.cy]) - lin @ np.array([out_size / 2, out_size / 2])
        return np.hstack([lin, shift[:, None]])

    def crop(self, frame: np.ndarray, out_size: int) -> np.ndarray:
        """The region resampled to out_size x out_size (outside the frame: black)."""
        m = self.matrix(out_size)
        # warpAffine samples pixel indices, i.e. continuous coordinates minus half a pixel.
        m_idx = m.copy()
        m_idx[:, 2] += m[:, :2] @ np.array([0.5, 0.5]) - 0.5
        return cv2.warpAffine(frame, m_idx, (out_size, out_size),
                              flags=cv2.WARP_INVERSE_MAP | cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)

    def to_frame(self, pts: np.ndarray, out_size: int) -> np.ndarray:
        """Points [..., 2+] from crop to frame coordinates; extra columns (depth) are scaled."""
        m = self.matrix(out_size)
        out = np.array(pts, dtype=np.float64)
        out[..., :2] = pts[..., :2] @ m[:, :2].T + m[:, 2]
        out[..., 2:] *= self.size / out_size
        return out


def roi_around(points: np.ndarray, angle: float, scale: float) -> Roi:
    """Square Roi rotated by `angle` that encloses `points` [N, 2], enlarged `scale` times."""
    c, s = np.cos(angle), np.sin(angle)
    to_roi = np.array([[c, s], [-s, c]])  # frame -> axes of the rotated square
    local = points @ to_roi.T
    lo, hi = local.min(0), local.max(0)
    centre = ((lo + hi) / 2) @ to_roi  # back to frame coordinates
    return Roi(float(centre[0]), float(centre[1]), float((hi - lo).max() * scale), float(angle))
