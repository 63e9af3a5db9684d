"""Face features on real frames of the committed CREMA-D demo clip, with the packaged models."""

import json
import shutil

import numpy as np
import pytest

from edge_msa.errors import UserError
from edge_msa.features.face import DIM, FEATURE_NAMES, FaceFeaturizer
from edge_msa.features.face_models import ASSET_DIR, GEOMETRY, TASK_FILE, load_task
from edge_msa.features.face_pose import HeadPose, _parse_geometry
from edge_msa.features.media import iter_video_frames

DEMO = ASSET_DIR.parent / "demo"
FRAMES_PER_SEGMENT = 5


@pytest.fixture(scope="module")
def frames() -> dict[str, list[tuple[float, np.ndarray]]]:
    """A few consecutive frames from the middle of each spoken segment, by intended emotion."""
    segments = json.loads((DEMO / "clips.json").read_text())["segments"]
    mids = {s["emotion"]: (s["start_s"] + s["end_s"]) / 2 for s in segments}
    out = {e: [] for e in mids}
    for t, bgr in iter_video_frames(DEMO / "crema_d_1001_six_emotions.mp4"):
        for emotion, mid in mids.items():
            if mid <= t and len(out[emotion]) < FRAMES_PER_SEGMENT:
                out[emotion].append((t, bgr))
    return out


def run(featurizer: FaceFeaturizer, clip: list[tuple[float, np.ndarray]]) -> np.ndarray:
    return np.stack([featurizer.process(bgr, t) for t, bgr in clip])


def mean_of(feats: np.ndarray, *names: str) -> float:
    return float(feats[:, [FEATURE_NAMES.index(n) for n in names]].mean())


def test_face_found_with_finite_62d_features(frames):
    feats = run(FaceFeaturizer(), frames["neutral"] + frames["happy"])
    assert feats.shape == (2 * FRAMES_PER_SEGMENT, DIM) == (10, 62) and feats.dtype == np.float32
    assert np.isfinite(feats).all()
    assert (feats[:, :52] >= 0).all() and (feats[:, :52] <= 1).all()
    assert (np.abs(feats[:, 52:55]) < 0.25).all()  # a face towards the camera: well under 45 degrees
    probs = feats[:, 55:]  # the 7 expression probabilities
    assert (probs >= 0).all() and np.allclose(probs.sum(1), 1.0, atol=1e-3)


def test_expressions_follow_the_acted_emotion(frames):
    f = FaceFeaturizer()
    neutral, happy = run(f, frames["neutral"]), run(f, frames["happy"])
    anger, disgust = run(f, frames["anger"]), run(f, frames["disgust"])
    smile = ("mouthSmileLeft", "mouthSmileRight")
    assert mean_of(happy, *smile) > mean_of(neutral, *smile) + 0.2
    brow = ("browDownLeft", "browDownRight")
    assert min(mean_of(anger, *brow), mean_of(disgust, *brow)) > mean_of(neutral, *brow) + 0.05


def test_tracking_skips_the_detector_until_the_face_is_lost(frames):
    f = FaceFeaturizer(max_track_gap_s=1.0)
    run(f, frames["happy"])
    assert f.detector_calls == 1
    t, bgr = frames["happy"][-1]
    assert f.process(np.zeros_like(bgr), t + 0.03) is None  # blank frame: no face, not an error
    assert f.process(bgr, t + 0.06) is not None
    assert f.detector_calls == 3  # the blank frame and the face's return both needed a search
    f.process(bgr, t + 5.0)  # after a gap in time the old crop is not trusted
    assert f.detector_calls == 4


def test_blank_frame_is_missing_vision():
    assert FaceFeaturizer().process(np.zeros((360, 480, 3), np.uint8), 0.0) is None


def test_mirrored_frame_flips_yaw(frames):
    t, bgr = frames["happy"][2]
    yaw = FaceFeaturizer().process(bgr, t)[FEATURE_NAMES.index("headYaw")]
    mirrored = FaceFeaturizer().process(np.ascontiguousarray(bgr[:, ::-1]), t)
    yaw_m = mirrored[FEATURE_NAMES.index("headYaw")]
    assert abs(yaw) > 0.003  # this actor faces about 2.5 degrees to the frame's right
    assert np.sign(yaw_m) == -np.sign(yaw) and abs(yaw + yaw_m) < 0.5 * abs(yaw)


def test_head_pose_recovers_a_known_rotation():
    """The canonical face turned by known angles, seen in frame pixels (y down): exact angles back."""
    mesh, _, _ = _parse_geometry(load_task()[GEOMETRY])
    yaw, pitch, roll = 0.4, -0.2, 0.1

    def rot(axis: int, a: float) -> np.ndarray:
        r, (i, j) = np.eye(3), [k for k in range(3) if k != axis]
        r[i, i] = r[j, j] = np.cos(a)
        r[i, j], r[j, i] = -np.sin(a), np.sin(a)
        return r if axis != 1 else r.T  # right-handed rotation about y

    turned = mesh @ (rot(1, yaw) @ rot(0, pitch) @ rot(2, roll)).T
    landmarks = np.zeros((478, 3))
    landmarks[:468] = turned * np.array([12.0, -12.0, -12.0]) + [240.0, 180.0, 0.0]
    est = HeadPose(load_task()[GEOMETRY])(landmarks)
    np.testing.assert_allclose(est, [yaw, pitch, roll], atol=1e-6)
    # yaw > 0: the nose tip (landmark 4) moves towards the frame's right of the eyes' midpoint.
    assert landmarks[4, 0] > (landmarks[33, 0] + landmarks[263, 0]) / 2


def test_corrupted_or_missing_model_file_is_a_user_error(tmp_path):
    bad = tmp_path / TASK_FILE
    shutil.copy(ASSET_DIR / TASK_FILE, bad)
    with bad.open("r+b") as fh:
        fh.seek(100_000)
        fh.write(b"\x00garbage\x00")
    with pytest.raises(UserError, match="corrupted"):
        FaceFeaturizer(model_path=bad)
    with pytest.raises(UserError, match="missing"):
        FaceFeaturizer(model_path=tmp_path / "nothing.task")


def test_bad_frame_is_a_user_error():
    with pytest.raises(UserError, match="BGR uint8"):
        FaceFeaturizer().process(np.zeros((360, 480), np.float32), 0.0)
