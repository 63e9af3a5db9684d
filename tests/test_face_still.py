"""Reusing face features while the face is still: how much it changes the features, on the six
real CREMA-D sample clips sampled at the live rate (10 Hz), against running every model on every
frame."""

from pathlib import Path

import numpy as np
import pytest

from edge_msa.errors import UserError
from edge_msa.features.face import FaceFeaturizer
from edge_msa.features.media import iter_video_frames
from edge_msa.runtime.config import RuntimeConfig
from edge_msa.runtime.demo_clip import ORDER, SOURCE

SAMPLE = Path("../shared/data/crema-d-sample")
RATE_HZ = 10.0
pytestmark = pytest.mark.skipif(not SAMPLE.is_dir(), reason="needs ../shared/data/crema-d-sample")


@pytest.fixture(scope="module")
def clips() -> dict[str, list[tuple[float, np.ndarray]]]:
    """Per clip, the frames the live vision worker would keep: the first at or after each 0.1 s."""
    out = {}
    for code in ORDER:
        kept, due = [], -np.inf
        for t, bgr in iter_video_frames(SAMPLE / SOURCE.format(code)):
            if t >= due:
                kept.append((t, bgr))
                due = (np.floor(t * RATE_HZ + 1e-6) + 1) / RATE_HZ
        out[code] = kept
    return out


def features(featurizer: FaceFeaturizer, frames) -> np.ndarray:
    return np.stack([featurizer.process(bgr, t) for t, bgr in frames])


@pytest.fixture(scope="module")
def with_and_without(clips):
    config = RuntimeConfig().face
    every, still, reused = {}, {}, 0
    for code, frames in clips.items():
        every[code] = features(FaceFeaturizer(), frames)
        f = FaceFeaturizer(still_diff=config.still_diff, max_reuse_s=config.max_reuse_s)
        still[code] = features(f, frames)
        reused += f.reused_frames
    return every, still, reused


def test_reuse_skips_frames_and_stays_within_tolerance(with_and_without, clips):
    every, still, reused = with_and_without
    total = sum(len(f) for f in clips.values())
    assert total > 100 and reused >= 0.1 * total  # the runtime's threshold does skip on real clips
    for code in every:
        diff = np.abs(still[code] - every[code])
        # frame to frame, without reuse, the features move 0.02-0.04 on average on these clips
        natural = np.abs(np.diff(every[code], axis=0)).mean()
        assert diff.mean() < 0.01 and diff.mean() < 0.5 * natural, code
        # what a 6 s window's model sees: the mean over frames, per channel
        assert np.abs(still[code].mean(0) - every[code].mean(0)).max() < 0.03, code
        assert diff.max() < 0.4, code


def test_no_reuse_when_off_or_after_the_face_changes(clips):
    frames = clips["HAP"]
    f = FaceFeaturizer()
    features(f, frames)
    assert f.reused_frames == 0  # still_diff 0: every frame runs the models
    t, bgr = frames[-1]
    f = FaceFeaturizer(still_diff=2.0, max_reuse_s=0.5)
    first = f.process(bgr, t)
    assert np.array_equal(f.process(bgr, t + 0.1), first) and f.reused_frames == 1  # same image
    f.process(255 - bgr, t + 0.2)  # a different image: the models run again
    assert f.reused_frames == 1
    f.process(bgr, t + 0.3)
    f.process(bgr, t + 0.4)
    assert f.reused_frames == 2  # reuse counts from the last COMPUTED frame (t + 0.3)
    f.process(bgr, t + 0.3 + 0.6)  # past max_reuse_s: recomputed even though nothing moved
    assert f.reused_frames == 2


def test_bad_reuse_settings_are_refused():
    with pytest.raises(UserError, match="still_diff"):
        FaceFeaturizer(still_diff=-1.0)
