"""Head pose (yaw, pitch, roll) from the face mesh, by fitting MediaPipe's canonical face.

The bundle's `geometry_pipeline_metadata_landmarks.binarypb` holds the canonical face mesh (metric
3D, x to the viewer's right, y up, z towards the viewer) and 33 weighted landmarks that barely
move with expression (nose, eye corners, cheekbones, forehead). A weighted orthogonal Procrustes
fit of those points onto the observed mesh gives the head rotation, so a smile or an open jaw
does not read as a nod. The fit is orthographic (no camera intrinsics needed), which is accurate
for a face that fills a small part of the field of view.

Angles (radians), rotation = R_y(yaw) R_x(pitch) R_z(roll) in the frame's axes (x right, y up,
z towards the viewer): yaw > 0 when the nose turns towards the frame's right edge, pitch > 0 when
the head nods down, roll > 0 when the head tilts counter-clockwise as the viewer sees it.
A frontal, upright face gives (0, 0, 0); a mirrored frame negates yaw and roll.
"""

from __future__ import annotations

import struct

import numpy as np


class HeadPose:
    def __init__(self, geometry_metadata: bytes):
        mesh, ids, weights = _parse_geometry(geometry_metadata)
        self.ids = ids
        self.weights = weights / weights.sum()
        self.reference = mesh[ids] - self.weights @ mesh[ids]

    def __call__(self, landmarks: np.ndarray) -> np.ndarray:
        """(yaw, pitch, roll) in radians from landmarks [478, 3] in frame pixels (y down)."""
        obs = landmarks[self.ids] * np.array([1.0, -1.0, -1.0])  # to y up, z towards the viewer
        obs = obs - self.weights @ obs
        u, _, vt = np.linalg.svd((self.reference * self.weights[:, None]).T @ obs)
        flip = np.sign(np.linalg.det(vt.T @ u.T))
        rot = vt.T @ np.diag([1.0, 1.0, flip]) @ u.T  # canonical -> observed
        yaw = np.arctan2(rot[0, 2], rot[2, 2])
        pitch = np.arcsin(np.clip(-rot[1, 2], -1.0, 1.0))
        roll = np.arctan2(rot[1, 0], rot[1, 1])
        return np.array([yaw, pitch, roll])


def _parse_geometry(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(canonical vertices [468, 3], landmark ids [K], weights [K]) from the metadata protobuf.

    Wire layout used (GeometryPipelineMetadata): field 1 the canonical Mesh3d, whose field 3
    repeats float32 x, y, z, u, v per vertex; field 2 repeated {1: landmark id, 2: weight}.
    """
    vertices, ids, weights = [], [], []
    for field, value in _proto_fields(data):
        if field == 1:
            vertices = [v for f, v in _proto_fields(value) if f == 3]
        elif field == 2:
            ref = dict(_proto_fields(value))
            ids.append(ref.get(1, 0))
            weights.append(ref.get(2, 0.0))
    mesh = np.array(vertices, dtype=np.float64).reshape(-1, 5)[:, :3]
    return mesh, np.array(ids), np.array(weights, dtype=np.float64)


def _proto_fields(buf: bytes):
    """(field number, value) pairs of a protobuf message: ints, float32s or nested bytes."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            size, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + size], pos + size
        elif wire == 5:
            (value,), pos = struct.unpack_from("<f", buf, pos), pos + 4
        else:
            raise ValueError(f"protobuf wire type {wire} does not occur in this metadata")
        yield field, value


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos
