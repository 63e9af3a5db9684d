"""The whole live pipeline on files (no camera or mic here: files stand in for them), with faults.

Media are cut from the bundled demo clip (a real face and voice): its first 5.6 s hold two
utterances ("neutral" then "happy") separated by a 0.8 s pause.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from runtime_helpers import (
    BrokenASR,
    CountingBackend,
    MutedMic,
    UnpluggedCamera,
    decode_demo,
    run_pipeline,
    tiny_backend,
    write_media,
)

from edge_msa.errors import UserError
from edge_msa.features import media
from edge_msa.features.audio import resample
from edge_msa.features.media import demo_clip_path
from edge_msa.features.spec import LIVE, MODALITIES
from edge_msa.runtime.config import RuntimeConfig
from edge_msa.runtime.launch import build_sensors
from edge_msa.runtime.pipeline import Sensors
from edge_msa.runtime.scheduler import FusionScheduler, WindowRequest, only
from edge_msa.runtime.sources.media_file import FileAudioSource, FileVideoSource
from edge_msa.runtime.windows import TimedRing

CLIP_S = 5.6
SEGMENTS = json.loads((demo_clip_path().parent / "clips.json").read_text())["segments"]


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory):
    frames, fps, wave = decode_demo(CLIP_S)
    d = tmp_path_factory.mktemp("media")
    write_media(d / "both.mp4", frames, fps, wave)
    write_media(d / "video_only.mp4", frames, fps, None)
    # any sample rate: 44.1 kHz WAV, resampled to 16 kHz by the media reader
    write_media(d / "audio_only.wav", None, fps, resample(wave, 16000, 44100), sr=44100)
    return d


@pytest.fixture(scope="module")
def backend():
    """A real exported bundle (tiny model, int8 ONNX) run by onnxruntime."""
    return tiny_backend()


@pytest.fixture()
def face():
    from edge_msa.features.face import FaceFeaturizer

    return FaceFeaturizer()


def inside(event, segment, slack=0.35) -> bool:
    return segment["start_s"] - slack <= event.start < event.end <= segment["end_s"] + slack


def test_file_pipeline_emits_utterance_events_with_transcripts_and_overlay(media_dir, backend, face,
                                                                           tmp_path):
    overlay = tmp_path / "overlay.mp4"
    sensors = build_sensors(RuntimeConfig(), video=media_dir / "both.mp4", fast=True)
    summary, events = run_pipeline(sensors, backend, tmp_path, face=face, **{"sinks.overlay": str(overlay)})
    assert [e.kind for e in events] == ["utterance", "utterance"]
    for event, segment in zip(events, SEGMENTS, strict=False):
        assert inside(event, segment), (event.start, event.end, segment)
        assert event.transcript  # words pocketsphinx heard in "Don't forget a jacket"
        assert event.modalities == {"text": True, "voice": True, "face": True} and event.masked == {}
        assert all(event.evidence[m].present and math.isfinite(event.evidence[m].score) for m in MODALITIES)
        assert event.label in ("negative", "neutral", "positive")
        for stage in ("asr_final_ms", "backend_ms", "evidence_ms", "event_ms"):
            assert event.latency_ms[stage] >= 0
    assert summary.events == 2 and summary.errors == [] and summary.media_s == pytest.approx(CLIP_S, abs=0.1)
    assert summary.dropped == {"audio": 0, "video": 0}  # fast mode blocks instead of dropping
    assert {"face_ms", "vad_ms", "audio_features_ms", "asr_ms"} <= set(summary.stages)
    frames = sum(1 for _ in media.iter_video_frames(overlay))
    assert frames == sum(1 for _ in media.iter_video_frames(media_dir / "both.mp4"))


def test_video_track_absent_and_asr_failure(media_dir, backend, tmp_path):
    """A file without video masks vision; an ASR crash masks one transcript, then the engine is rebuilt."""
    BrokenASR.failures_left = 1
    built = []

    def factory():
        built.append(1)
        return BrokenASR(**RuntimeConfig().asr.options)

    sensors = build_sensors(RuntimeConfig(), video=media_dir / "audio_only.wav", fast=True)
    assert sensors.video is None
    summary, events = run_pipeline(sensors, backend, tmp_path, asr_factory=factory)
    assert len(events) == 2 and all(inside(e, s) for e, s in zip(events, SEGMENTS, strict=False))
    for e in events:
        assert e.modalities["audio"] and not e.modalities["vision"] and not e.evidence["vision"].present
        assert "audio_only.wav has no video track" in e.masked["vision"]
    broken, healed = events
    assert not broken.modalities["text"] and "speech recognition failed" in broken.masked["text"]
    assert broken.transcript == "" and not broken.evidence["text"].present
    assert healed.modalities["text"] and healed.transcript and healed.evidence["text"].present
    assert len(built) == 2 and summary.health["asr"]["state"] == "ok"


def test_audio_track_absent_gives_vision_only_events(media_dir, backend, face, tmp_path):
    sensors = build_sensors(RuntimeConfig(), video=media_dir / "video_only.mp4", fast=True)
    assert sensors.audio is None
    summary, events = run_pipeline(sensors, backend, tmp_path, face=face,
                                   **{"scheduler.fallback_interval_s": 1.0})
    assert len(events) >= 4 and all(e.kind == "interval" for e in events)
    assert events[-1].end >= CLIP_S - 1.2  # ran to the end of the file
    for e in events:
        assert e.modalities == {"text": False, "voice": False, "face": True}
        assert "video_only.mp4 has no audio track" in e.masked["audio"]
        assert e.evidence["vision"].score == e.score  # one modality: its evidence is the fused score
    assert summary.health["audio"]["state"] == "absent"


def test_camera_unplugged_mid_stream_masks_vision_and_keeps_running(media_dir, backend, face, tmp_path):
    path = media_dir / "both.mp4"
    camera = UnpluggedCamera(FileVideoSource(path), unplug_at_s=2.5)
    summary, events = run_pipeline(Sensors(audio=FileAudioSource(path), video=camera), backend, tmp_path,
                                   face=face, asr_factory=None)
    assert [e.kind for e in events] == ["utterance", "utterance"]
    first, second = events
    assert first.modalities["vision"]  # before the unplug
    assert not second.modalities["vision"] and second.modalities["audio"]
    assert "video failed" in second.masked["vision"] and "camera 0" in second.masked["vision"]
    assert summary.health["video"]["state"] == "failed"  # re-opening with back-off: test_runtime_units


def test_muted_microphone_masks_audio_and_keeps_scoring_the_face(media_dir, backend, face, tmp_path):
    path = media_dir / "both.mp4"
    mic = MutedMic(FileAudioSource(path), mute_at_s=2.4)  # muted in the pause before the 2nd utterance
    _, events = run_pipeline(Sensors(audio=mic, video=FileVideoSource(path)), backend, tmp_path, face=face,
                             asr_factory=None,
                             **{"health.audio_timeout_s": 1.0, "scheduler.fallback_interval_s": 1.0})
    utterances = [e for e in events if e.kind == "utterance"]
    muted = [e for e in events if e.kind == "interval"]
    assert len(utterances) == 1 and utterances[0].modalities["audio"] and utterances[0].end < 2.4
    # the clip's own pause is digital silence from 2.04 s: muted from there
    assert len(muted) >= 2 and all(e.start >= 2.0 for e in muted)
    for e in muted:
        assert not e.modalities["audio"] and "audio muted" in e.masked["audio"]
        assert e.modalities["vision"]


def test_long_recording_gives_one_event_per_utterance(backend, tmp_path):
    """The whole demo clip's audio (six utterances, 0.8 s pauses) as a microphone file (ASR off)."""
    sensors = build_sensors(RuntimeConfig(), audio=demo_clip_path(), fast=True)
    _, events = run_pipeline(sensors, backend, tmp_path, asr_factory=None)
    assert len(events) == len(SEGMENTS) == 6
    for event, segment in zip(events, SEGMENTS, strict=True):
        assert inside(event, segment), (event.start, event.end, segment)
        assert event.masked["text"] == "speech recognition is off"


def test_bad_files_are_clear_errors(tmp_path):
    garbage = tmp_path / "clip.mp4"
    garbage.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(UserError, match="cannot read"):
        build_sensors(RuntimeConfig(), video=garbage, fast=True)
    text = tmp_path / "notes.wav"
    text.write_text("not audio at all\n" * 100)
    with pytest.raises(UserError, match="notes.wav"):
        build_sensors(RuntimeConfig(), audio=text, fast=True)
    with pytest.raises(UserError, match="no such media file"):
        build_sensors(RuntimeConfig(), video=tmp_path / "missing.mp4", fast=True)
    with pytest.raises(UserError, match="pick one"):
        build_sensors(RuntimeConfig(), video=garbage, camera="0")


def test_live_sensors_refuse_fast_mode(media_dir):
    with pytest.raises(UserError, match="--fast is for files only"):
        build_sensors(RuntimeConfig(), camera="0", audio=media_dir / "audio_only.wav", fast=True)


def test_evidence_is_the_backend_on_one_modality(backend):
    backend = CountingBackend(backend)
    ring = TimedRing(100, LIVE.vision.dim)
    rng = np.random.default_rng(0)
    ring.append(np.arange(20) / 10, rng.random((20, LIVE.vision.dim)), present=True)
    scheduler = FusionScheduler(backend, LIVE, ring)
    audio = (rng.standard_normal((LIVE.audio.max_len, LIVE.audio.dim)).astype(np.float32),
             np.r_[np.ones(100), np.zeros(LIVE.audio.max_len - 100)].astype(np.float32))
    req = WindowRequest("utterance", 0.0, 2.0, audio, transcript="what a lovely day")
    inputs, masked, _ = scheduler.assemble(req)
    assert masked == {} and inputs[5].sum() == 20 and inputs[3].sum() == 100
    before = backend.calls
    event = scheduler.fuse(WindowRequest("utterance", 0.0, 2.0, audio, transcript="what a lovely day"))
    assert backend.calls - before == 4  # fused + one per present modality
    for m in MODALITIES:
        alone = backend.predict(only(inputs, m))
        assert event.evidence[m].score == pytest.approx(float(alone[0][0]), abs=1e-6)
    fused = backend.predict(inputs)
    assert event.score == pytest.approx(float(fused[0][0]), abs=1e-6)

    # only text present: its evidence IS the fused call (no second call)
    empty = TimedRing(10, LIVE.vision.dim)
    text_only = FusionScheduler(backend, LIVE, empty)
    before = backend.calls
    req = WindowRequest("utterance", 0.0, 2.0, None, transcript="terrible", audio_reason="x")
    event = text_only.fuse(req)
    assert backend.calls - before == 1 and event.evidence["text"].score == event.score
    assert event.masked == {"voice": "x", "face": "no face in view"}
    # nothing present (the last transcript ended before this window): no event
    assert text_only.fuse(WindowRequest("interval", 3.0, 5.0, None)) is None
