"""The committed demo clip (six CREMA-D emotions) decodes as clips.json describes it."""

import json
from pathlib import Path

import numpy as np
import pytest

from edge_msa.errors import UserError
from edge_msa.features.media import iter_video_frames, probe, read_audio
from edge_msa.runtime.demo_clip import ORDER, PAUSE_S, SOURCE, build_demo_clip

DEMO = Path(__file__).resolve().parents[1] / "edge_msa" / "assets" / "demo"
CLIP = DEMO / "crema_d_1001_six_emotions.mp4"
SAMPLE = Path("../shared/data/crema-d-sample")
SR = 16000


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads((DEMO / "clips.json").read_text())


def test_clip_has_audio_and_video_of_the_listed_length(manifest):
    info = probe(CLIP)
    assert info.has_audio and info.has_video and (info.width, info.height) == (480, 360)
    assert abs(info.fps - 29.97) < 0.01
    assert abs(info.duration_s - manifest["duration_s"]) < 0.05
    assert CLIP.stat().st_size < 1_500_000
    assert abs(len(read_audio(CLIP, SR)) / SR - manifest["duration_s"]) < 0.05


def test_six_segments_in_order_each_followed_by_a_pause(manifest):
    segs = manifest["segments"]
    assert [s["file"] for s in segs] == [SOURCE.format(code) for code in ORDER]
    assert [s["emotion"] for s in segs] == ["neutral", "happy", "sad", "anger", "fear", "disgust"]
    ends = [s["start_s"] for s in segs[1:]] + [manifest["duration_s"]]
    for seg, next_start in zip(segs, ends, strict=True):
        assert 1.5 < seg["end_s"] - seg["start_s"] < 2.5  # each CREMA-D clip is about 2 s
        assert next_start - seg["end_s"] == pytest.approx(PAUSE_S, abs=0.04)
        assert set(seg["crowd_majority"]) == {"voice", "face", "audio_visual"}
    assert segs[1]["crowd_majority"]["voice"]["emotion"] == "neutral"  # happy face, neutral voice


def test_speech_in_segments_silence_and_a_still_frame_in_pauses(manifest):
    wave = read_audio(CLIP, SR)
    frames = list(iter_video_frames(CLIP))
    for seg in manifest["segments"]:
        spoken = wave[int(seg["start_s"] * SR):int(seg["end_s"] * SR)]
        pause = wave[int((seg["end_s"] + 0.05) * SR):int((seg["end_s"] + PAUSE_S - 0.05) * SR)]
        assert np.sqrt(np.mean(spoken ** 2)) > 0.005 > 100 * np.sqrt(np.mean(pause ** 2))
        held = [f.astype(np.int16) for t, f in frames if seg["end_s"] + 0.05 < t < seg["end_s"] + 0.75]
        assert len(held) >= 20
        assert max(np.abs(f - held[0]).mean() for f in held) < 1.0  # the last frame, held


@pytest.mark.skipif(not SAMPLE.is_dir(), reason="needs ../shared/data/crema-d-sample")
def test_rebuild_from_the_crema_d_sample_matches_the_committed_clip(tmp_path, manifest):
    out = tmp_path / "demo" / CLIP.name
    rebuilt = build_demo_clip(SAMPLE, out)
    assert rebuilt == manifest
    assert json.loads((out.parent / "clips.json").read_text()) == manifest
    assert abs(probe(out).duration_s - probe(CLIP).duration_s) < 1e-3


def test_missing_sources_are_a_user_error(tmp_path):
    with pytest.raises(UserError, match="lacks the CREMA-D sample files"):
        build_demo_clip(tmp_path, tmp_path / "out.mp4")
