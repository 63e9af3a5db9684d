"""Calibration of the runtime's evidence: bounded fusion, the face mapping, the per-person baseline."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge_msa.features.face_expression import EXPRESSIONS
from edge_msa.runtime.face_calibration import frame_evidence, valence_vector
from edge_msa.runtime.fusion_rule import PRIOR_STD, Reading, error_from_uncertainty, fuse
from edge_msa.runtime.running_baseline import RunningBaseline

TABLE = {"happy": 2.025, "surprise": 0.825, "neutral": 0.0, "angry": -1.725, "disgust": -2.175,
         "fear": -1.65, "sad": -1.575}  # the shipped default's face_valence


def probs(**p: float) -> np.ndarray:
    row = np.array([p.get(e, 0.0) for e in EXPRESSIONS])
    return (row / row.sum())[None]


# ---- fusion bounds ----
def test_fusion_one_expert_is_about_its_evidence():
    score, _ = fuse({"text": Reading(0.8, 1.0)})
    assert score == pytest.approx(3 * math.tanh(0.8 / 3))
    assert abs(score - 0.8) < 0.02


def test_fusion_disagreement_lies_between_and_is_less_certain():
    agree, u_agree = fuse({"text": Reading(1.5, 1.0), "vision": Reading(1.5, 1.0)})
    split, u_split = fuse({"text": Reading(1.5, 1.0), "vision": Reading(-1.0, 1.0)})
    assert -1.0 < split < 1.5
    assert u_split > u_agree + 0.5  # spread (1.25 std) widens it


def test_fusion_agreement_goes_beyond_each_but_never_saturates():
    score, _ = fuse({m: Reading(-1.0, 1.0) for m in ("text", "audio", "vision")})
    assert -3.0 < score < -1.0
    assert score == pytest.approx(-3 * math.tanh(1.0))  # -2.28, not the sum's -3
    strongest, _ = fuse({m: Reading(-3.0, 0.5) for m in ("text", "audio", "vision")})
    assert -3.0 < strongest < -2.9


def test_fusion_weighs_by_precision_and_confidence():
    sure, _ = fuse({"text": Reading(2.0, 0.5), "vision": Reading(-2.0, 1.5)})
    assert sure > 0  # the precise expert dominates
    doubted, u_doubted = fuse({"text": Reading(2.0, 0.5, confidence=0.05), "vision": Reading(-2.0, 1.5)})
    confident, u_confident = fuse({"text": Reading(2.0, 0.5, confidence=1.0), "vision": Reading(-2.0, 1.5)})
    assert doubted < confident
    assert u_doubted > u_confident


def test_fusion_without_evidence_is_the_prior():
    assert fuse({}) == (0.0, PRIOR_STD)


def test_error_from_uncertainty_inverts_the_graph_rule():
    err = 0.9
    u = 1 / math.sqrt(1 / PRIOR_STD ** 2 + 1 / err ** 2)
    assert error_from_uncertainty(u) == pytest.approx(err)
    assert error_from_uncertainty(PRIOR_STD) == PRIOR_STD  # no information: the prior


# ---- the face mapping ----
def test_face_mapping_reads_a_hesitant_sad_face_near_zero_and_a_smile_positive():
    v = valence_vector(TABLE)
    resting = frame_evidence(probs(sad=0.35, angry=0.2, neutral=0.3, fear=0.1, happy=0.05), v)[0]
    raw = (probs(sad=0.35, angry=0.2, neutral=0.3, fear=0.1, happy=0.05) @ v)[0]
    assert raw < -0.8  # what the bundle's table says about this face
    assert -0.15 < resting <= 0  # sad beats neutral by 0.05 only
    smile = frame_evidence(probs(happy=0.9, neutral=0.05, sad=0.05), v)[0]
    assert smile == pytest.approx(2.025 * 0.85)
    angry = frame_evidence(probs(angry=0.7, sad=0.2, neutral=0.1), v)[0]
    assert angry == pytest.approx(-1.725 * 0.6 - 1.575 * 0.1)


# ---- the per-person baseline ----
def test_running_baseline_shrinks_toward_zero_early_and_reaches_the_person_later():
    b = RunningBaseline(prior_weight=50, keep=600, reset_after_s=10)
    b.observe(np.arange(10) / 10, np.full(10, -1.0))  # one second of a -1.0 resting face
    assert b.offset() == pytest.approx(-1.0 * 10 / 60)  # early events are barely moved
    b.observe(10 / 10 + np.arange(290) / 10, np.full(290, -1.0))
    assert b.offset() == pytest.approx(-1.0 * 300 / 350)


def test_running_baseline_is_robust_to_a_burst_and_counts_frames_once():
    b = RunningBaseline(prior_weight=0)
    t = np.arange(100) / 10
    values = np.full(100, -0.8)
    values[40:55] = 2.0  # a laugh: 1.5 s of strong smile
    b.observe(t, values)
    b.observe(t, values + 5.0)  # the same frames again (an overlapping window): ignored
    assert b.offset() == pytest.approx(-0.8)
    assert b.state().frames == 100


def test_running_baseline_resets_after_the_face_is_gone_and_keeps_the_enrolled_prior():
    b = RunningBaseline(prior_weight=50, reset_after_s=10)
    b.enrol(np.full(30, -0.6))
    assert b.offset() == pytest.approx(-0.6) and b.state().enrolled
    b.observe(np.arange(50) / 10, np.full(50, -1.0))
    assert b.offset() == pytest.approx((50 * -1.0 + 50 * -0.6) / 100)
    b.observe(np.array([30.0]), np.array([0.5]))  # face back after 25 s: a new run of frames
    assert b.state().frames == 1
    assert b.offset() == pytest.approx((0.5 + 50 * -0.6) / 51)
    b.reset()
    assert b.offset() == pytest.approx(-0.6)
    b.recentre(0.2)  # an enrolled prior stays where it is ...
    assert b.offset() == pytest.approx(-0.6)
    b.observe(np.array([40.0]), np.array([0.5]))
    b.forget()  # ... until the person is forgotten: back to the unenrolled prior, nothing seen
    assert b.offset() == pytest.approx(0.2) and not b.state().enrolled and b.state().frames == 0


# ---- the calibrated path on the shipped default (onnxruntime) ----
def _resting_face_ring(spec, seconds: float) -> tuple:
    from edge_msa.runtime.windows import TimedRing

    rate = spec.vision.rate_hz
    n = int(seconds * rate)
    rows = np.zeros((n, spec.vision.dim), np.float32)
    rows[:, -len(EXPRESSIONS):] = probs(sad=0.5, angry=0.2, neutral=0.2, fear=0.1)  # resting face
    ring = TimedRing(n, spec.vision.dim)
    ring.append(np.arange(n) / rate, rows)
    return ring


def test_enrolment_sets_the_resting_face_to_zero_on_the_shipped_default():
    from edge_msa.runtime.calibrated_fusion import PersonBaselines
    from edge_msa.runtime.launch import open_bundle
    from edge_msa.runtime.running_baseline import RunningBaseline
    from edge_msa.runtime.scheduler import FusionScheduler, WindowRequest

    backend, spec, scale = open_bundle("default/onnx-int8", "onnxruntime")
    ring = _resting_face_ring(spec, 12.0)
    face_only = {"audio_reason": "none", "transcript": "", "text_reason": "none"}

    def face_at(scheduler, start: float, end: float) -> float:
        event = scheduler.fuse(WindowRequest("utterance", start, end, None, **face_only))
        return event.evidence["face" if "face" in event.evidence else "vision"].score, event

    plain = FusionScheduler(backend, spec, ring, scale, baselines=PersonBaselines(running=False))
    raw, _ = face_at(plain, 6.0, 8.0)
    expected = 0.3 * -1.575  # sad beats neutral by 0.3 on every frame
    assert raw == pytest.approx(expected, abs=1e-4)

    baselines = PersonBaselines(face=RunningBaseline(prior_weight=50), enrol_until_s=5.0)
    enrolled = FusionScheduler(backend, spec, ring, scale, baselines=baselines)
    _, first = face_at(enrolled, 0.0, 4.0)  # inside the enrolment seconds
    assert first.baseline["enrolling"] is True
    after, event = face_at(enrolled, 6.0, 8.0)
    assert event.baseline["enrolled"] is True and event.baseline["face"]["enrolled"] is True
    assert abs(after) < 0.05  # the person's resting face reads neutral
    assert event.label == "neutral"


def test_single_utterance_has_no_running_baseline_and_fusion_stays_between_experts():
    from edge_msa.runtime.calibrated_fusion import PersonBaselines
    from edge_msa.runtime.launch import open_bundle
    from edge_msa.runtime.scheduler import FusionScheduler, WindowRequest

    backend, spec, scale = open_bundle("default/onnx-int8", "onnxruntime")
    ring = _resting_face_ring(spec, 4.0)
    scheduler = FusionScheduler(backend, spec, ring, scale, baselines=PersonBaselines(running=False))
    event = scheduler.fuse(WindowRequest("utterance", 0.0, 4.0, None, audio_reason="none",
                                         transcript="What a wonderful surprise! I love it."))
    ev = {k: v.score for k, v in event.evidence.items() if v.present}
    assert len(ev) == 2 and event.baseline["face"]["frames"] == 0
    text, face = ev.get("text"), ev.get("face", ev.get("vision"))
    assert text > 1.0 > 0 > face
    assert face < event.score < text  # disagreement lands between the experts
    # the stage table splits the calibrated path: model calls, then the calibration around them
    assert event.latency_ms["backend_ms"] > 0 and event.latency_ms["evidence_ms"] > 0


def test_api_enrol_reads_the_resting_face_as_neutral_afterwards():
    from edge_msa.api import SentimentModel
    from edge_msa.errors import UserError
    from tests.runtime_helpers import decode_demo

    frames, fps, _ = decode_demo(2.0)  # the demo clip's first 2 s: the actor's neutral face
    model = SentimentModel("default/onnx-int8", backend="onnxruntime")
    before = model.score_utterance(frames=frames, fps=fps)
    state = model.enrol(frames=frames, fps=fps)
    assert state["enrolled"] and state["face"]["enrolled"]
    after = model.score_utterance(frames=frames, fps=fps)
    face = "face" if "face" in after.evidence else "vision"
    # the same frames now read as this person's rest (the event's mean minus the enrolled median)
    assert abs(after.evidence[face].score) < 0.15 < abs(before.evidence[face].score)
    offset = after.baseline["face"]["offset"]
    assert after.evidence[face].score == pytest.approx(before.evidence[face].score - offset, abs=1e-3)
    with pytest.raises(UserError):
        model.enrol()
    model.new_person()  # someone else: the enrolment is gone, the same face reads as before it
    again = model.score_utterance(frames=frames, fps=fps)
    assert not again.baseline["enrolled"] and not again.baseline["face"]["enrolled"]
    assert again.evidence[face].score == pytest.approx(before.evidence[face].score, abs=1e-6)


def test_running_baseline_learns_the_resting_face_over_a_run_not_from_the_window_itself():
    from edge_msa.runtime.calibrated_fusion import PersonBaselines
    from edge_msa.runtime.launch import open_bundle
    from edge_msa.runtime.scheduler import FusionScheduler, WindowRequest

    backend, spec, scale = open_bundle("default/onnx-int8", "onnxruntime")
    ring = _resting_face_ring(spec, 40.0)
    scheduler = FusionScheduler(backend, spec, ring, scale, baselines=PersonBaselines(running=True))
    scores = []
    for start in range(0, 40, 4):
        event = scheduler.fuse(WindowRequest("utterance", float(start), start + 4.0, None,
                                             audio_reason="none", transcript=""))
        scores.append(event.evidence["face" if "face" in event.evidence else "vision"].score)
    raw = 0.3 * -1.575
    assert scores[0] == pytest.approx(raw, abs=1e-4)  # nothing seen before the first window
    assert all(abs(b) < abs(a) for a, b in zip(scores, scores[1:], strict=False))  # shrinks toward 0
    assert abs(scores[-1]) < 0.2 * abs(raw)  # 36 s of this face: most of it is the person's rest


def test_a_new_person_forgets_the_running_baseline_from_the_next_event():
    """`new_person()` (from another thread, as an app would call it) makes the next window read the
    face as a first window does: nothing of the previous person's rest is subtracted; the baseline
    then learns again."""
    import threading

    from edge_msa.runtime.calibrated_fusion import PersonBaselines
    from edge_msa.runtime.launch import open_bundle
    from edge_msa.runtime.scheduler import FusionScheduler, WindowRequest

    backend, spec, scale = open_bundle("default/onnx-int8", "onnxruntime")
    ring = _resting_face_ring(spec, 40.0)
    baselines = PersonBaselines(running=True)
    baselines.face.enrol(np.full(10, -0.2))
    scheduler = FusionScheduler(backend, spec, ring, scale, baselines=baselines)

    def face(start: float):
        event = scheduler.fuse(WindowRequest("utterance", start, start + 4.0, None, audio_reason="none",
                                             transcript=""))
        return event.evidence["face"].score, event.baseline

    first, _ = face(0.0)
    for start in (4.0, 8.0, 12.0, 16.0):
        learnt, state = face(start)
    assert state["face"]["enrolled"] and abs(learnt) < abs(first)
    caller = threading.Thread(target=scheduler.new_person)
    caller.start()
    caller.join()
    fresh, state = face(20.0)
    raw = 0.3 * -1.575  # this face's evidence with no baseline (the first window of a new person)
    assert fresh == pytest.approx(raw, abs=1e-4) and not state["face"]["enrolled"]
    assert state["face"]["frames"] == 40  # only this window's frames (4 s at 10 Hz) are in it now
    later, _ = face(24.0)
    assert abs(later) < abs(fresh)


def test_an_interval_window_keeps_the_confidence_of_the_words_it_joins():
    """`--interval` windows reuse the transcripts of the utterances that ended in them: a doubted
    transcript stays doubted there (it counted fully before), in the calibrated path and the graph."""
    from edge_msa.runtime.calibrated_fusion import PersonBaselines
    from edge_msa.runtime.config import RuntimeConfig
    from edge_msa.runtime.launch import open_bundle
    from edge_msa.runtime.scheduler import FusionScheduler, WindowRequest
    from edge_msa.runtime.windows import TimedRing

    backend, spec, scale = open_bundle("default/onnx-int8", "onnxruntime")
    assert RuntimeConfig().calibration.fusion == "calibrated"
    for calibrated in (True, False):
        scheduler = FusionScheduler(backend, spec, TimedRing(1, spec.vision.dim), scale,
                                    baselines=PersonBaselines(running=False), calibrated=calibrated)
        said = scheduler.fuse(WindowRequest("utterance", 1.0, 2.0, None, audio_reason="none",
                                            transcript="I really love this", text_confidence=0.2))
        window = scheduler.fuse(WindowRequest("interval", 0.0, 4.0, None, audio_reason="none"))
        sure = scheduler.fuse(WindowRequest("utterance", 5.0, 6.0, None, audio_reason="none",
                                            transcript="I really love this"))
        assert window.transcript == said.transcript
        assert window.uncertainty == pytest.approx(said.uncertainty, abs=1e-6)
        assert sure.uncertainty < said.uncertainty - 0.05  # the confidence is what differs


def test_running_baseline_starts_at_its_prior_centre():
    b = RunningBaseline(prior_weight=3, keep=30, reset_after_s=120, prior=-0.55)
    assert b.offset() == pytest.approx(-0.55)  # a new voice: the English read-speech centre
    b.observe(np.array([1.0, 5.0, 9.0]), np.array([-0.9, -1.0, -0.8]))
    assert b.offset() == pytest.approx((3 * -0.9 + 3 * -0.55) / 6)


def test_log_mel_voice_is_read_against_the_person_on_the_shipped_default():
    from edge_msa.features.audio import AudioFeaturizer
    from edge_msa.runtime.calibrated_fusion import LOGMEL_VOICE_CENTRE, PersonBaselines
    from edge_msa.runtime.launch import open_bundle
    from edge_msa.runtime.scheduler import FusionScheduler, WindowRequest
    from edge_msa.runtime.windows import TimedRing, fill_window
    from tests.runtime_helpers import decode_demo

    backend, spec, scale = open_bundle("default/onnx-int8", "onnxruntime")
    _, _, wave = decode_demo(2.0)  # the actor's neutral sentence
    rows = AudioFeaturizer().offline(wave)
    window = fill_window(np.arange(len(rows)) / spec.audio.rate_hz, rows, np.ones(len(rows), bool), 0.0,
                         2.0, spec.audio.rate_hz, spec.audio.max_len)
    baselines = PersonBaselines(running=True)
    scheduler = FusionScheduler(backend, spec, TimedRing(1, spec.vision.dim), scale, baselines=baselines)
    scores = []
    for k in range(4):  # the same calm sentence four times, 10 s apart
        request = WindowRequest("utterance", 10.0 * k, 10.0 * k + 2.0, window, transcript="")
        if k == 0:
            inputs, _, _ = scheduler.assemble(request)
            raw = scheduler.calibrated.expert(inputs, "audio")[0]
        scores.append(scheduler.fuse(request).evidence["voice"].score)
    # a bounded graph centres the voice on English narration itself; a summed one rests there
    centre = 0.0 if scheduler.calibrated.bounded_graph else LOGMEL_VOICE_CENTRE
    assert scores[0] == pytest.approx(raw - centre, abs=1e-4)  # against the centre
    assert abs(scores[-1]) < abs(scores[0]) or abs(scores[0]) < 0.05  # then against the person
    assert scores[-1] == pytest.approx(raw - (3 * raw + 3 * centre) / 6, abs=1e-4)


def test_api_enrol_hears_only_speech():
    """Silence or noise is nobody's calm voice: an enrolment without speech (by the VAD) is refused
    with one clear error; a spoken sentence enrols the voice."""
    from pathlib import Path

    from edge_msa.api import SentimentModel
    from edge_msa.errors import UserError
    from edge_msa.features.media import read_audio

    model = SentimentModel("default/onnx-int8", backend="onnxruntime")
    noise = np.random.default_rng(0).normal(0, 0.05, 3 * 16000).astype(np.float32)
    for not_speech in (np.zeros(3 * 16000, np.float32), noise):
        with pytest.raises(UserError, match="s of speech"):
            model.enrol(audio=not_speech, sample_rate=16000)
    clip = sorted((Path(__file__).parent / "data" / "librivox").glob("*.wav"))[0]
    state = model.enrol(audio=read_audio(clip, 16000), sample_rate=16000)
    assert state["voice"]["enrolled"] and state["enrolled"]


@pytest.mark.parametrize("tier", ["default/onnx-int8", "default/executorch-int8", "nano/executorch-int8"])
def test_the_shipped_graph_scores_what_the_runtime_scores_with_no_history(tier):
    """An app that runs a shipped graph itself, all three modalities on, reads the runtime's
    calibrated score for a person with no history: the demo's first 2 s (the actor's real neutral
    face and voice) with the sentence she says, through the graph once and through the runtime's
    per-expert path; with a transcript the recogniser is sure of and one it doubts (confidence 0.3:
    the app multiplies the text mask by it). `calibration.fusion: graph` (the graph's own output,
    fed that mask) gives the same event. Tolerance 0.001 (they agree to 4 decimals on each
    bundle): the runtime reads the face in float64, the graph in float32, and undoes the graph's
    tanh on each expert's reading."""
    from edge_msa.api import SentimentModel
    from edge_msa.runtime.calibrated_fusion import graph_is_bounded, graph_reads_text_confidence
    from edge_msa.runtime.config import RuntimeConfig
    from edge_msa.runtime.scheduler import WindowRequest, with_text_confidence
    from edge_msa.runtime.windows import TimedRing
    from tests.runtime_helpers import decode_demo

    frames, fps, wave = decode_demo(2.0)
    backend = "onnxruntime" if "onnx" in tier else "executorch"
    model = SentimentModel(tier, backend=backend)
    graph_config = RuntimeConfig.model_validate({"calibration": {"fusion": "graph"}})
    graph_model = SentimentModel(tier, backend=backend, config=graph_config)
    assert graph_is_bounded(model._backend.bundle) and graph_reads_text_confidence(model._backend.bundle)
    ring = TimedRing(len(frames), model.spec.vision.dim)
    assert model._face_rows(frames, fps, ring) == ""
    scheduler = model._scheduler(ring, "")
    graph_scheduler = graph_model._scheduler(ring, "")
    assert scheduler.calibrated.baselines.running is False  # a fresh model: no history
    assert graph_scheduler.calibrated is None
    scores = []
    for confidence in (1.0, 0.3):
        request = WindowRequest("utterance", 0.0, 2.0, model._voice_window(wave, 2.0),
                                transcript="don't forget a jacket", text_confidence=confidence)
        inputs, masked, _ = scheduler.assemble(request)
        assert not masked  # text, voice and face all present
        graph = model._backend.predict(with_text_confidence(inputs, confidence))
        graph_score, graph_unc = (float(np.asarray(x).reshape(-1)[0]) for x in graph)
        event = scheduler.fuse(request)
        assert event.score == pytest.approx(graph_score, abs=1e-3)
        assert event.uncertainty == pytest.approx(graph_unc, abs=1e-3)
        assert all(e.present for e in event.evidence.values())
        graph_event = graph_scheduler.fuse(request)
        assert graph_event.score == pytest.approx(event.score, abs=1e-3)
        assert graph_event.uncertainty == pytest.approx(event.uncertainty, abs=1e-3)
        scores.append(event.score)
    assert abs(scores[0] - scores[1]) > 0.01  # a doubted transcript moves the fused score


def test_the_graph_fusion_config_scores_but_cannot_enrol():
    """`calibration.fusion: graph` takes the bundle's own output: an utterance is scored with the
    graph's score, and enrolment (baselines the graph path never reads) is refused in one line."""
    from edge_msa.api import SentimentModel
    from edge_msa.errors import UserError
    from edge_msa.runtime.config import RuntimeConfig

    config = RuntimeConfig.model_validate({"calibration": {"fusion": "graph"}})
    model = SentimentModel("default/onnx-int8", backend="onnxruntime", config=config)
    event = model.score_utterance(text="What a wonderful surprise! I love it.")
    assert event.score > 0.5 and event.baseline == {}
    with pytest.raises(UserError, match="calibration.fusion: graph"):
        model.enrol(audio=np.zeros(16000, np.float32))
