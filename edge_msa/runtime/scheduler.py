"""Fusion: a window request -> model inputs with masks -> backend -> SentimentEvent.

Requests come from the audio side (an utterance ended, or a periodic tick) and from the vision
side (ticks while no audio is usable). Each carries its audio window already cut (the audio side
owns that buffer); vision is cut here from the vision ring, after waiting for late video. Beside
the fused score, each present modality's evidence is the SAME backend run on the same window
with only that modality's mask on, so a person sees which signal moved the score.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from edge_msa.export.bundle import bundle_tokenizer
from edge_msa.features.spec import MODALITIES, FeatureSpec, check_live_spec
from edge_msa.features.text import PAD_ID, tokenize
from edge_msa.runtime.calibrated_fusion import (
    CalibratedFusion,
    PersonBaselines,
    face_valence_of,
    graph_is_bounded,
    graph_reads_text_confidence,
    load_voice_expert,
)
from edge_msa.runtime.events import Evidence, SentimentEvent, label_for
from edge_msa.runtime.fusion_rule import MIN_CONFIDENCE
from edge_msa.runtime.sources.base import TIMEOUT, ItemQueue
from edge_msa.runtime.stats import StageStats
from edge_msa.runtime.windows import TimedRing, fill_window


@dataclass
class WindowRequest:
    kind: str  # "utterance" or "interval"
    start: float
    end: float
    audio: tuple[np.ndarray, np.ndarray] | None  # (x [max_len, D], mask [max_len]) or None
    audio_reason: str = ""  # why audio is missing, when it is
    transcript: str | None = None  # utterances: ASR text ("" = nothing recognised); ticks: None
    text_reason: str = ""
    # the recogniser's own confidence in the transcript, 0..1 (Whisper: from its average
    # log-probability and no-speech probability; engines that give none: 1.0); an interval's is
    # set by the scheduler: the mean of the utterances whose words it joins
    text_confidence: float = 1.0
    # Whisper encoder states of the utterance [frames, d] (one encoder pass serves the transcript
    # and the voice expert); None when the engine computes none
    voice_states: np.ndarray | None = None
    detected: float = field(default_factory=time.perf_counter)  # when the end became known
    latency_ms: dict[str, float] = field(default_factory=dict)


class FusionScheduler:
    """Turns one request into one event (stateless apart from recent transcripts and the index)."""

    def __init__(self, backend, spec: FeatureSpec, vision: TimedRing, scale: str = "mosi",
                 evidence: bool = True, stats: StageStats | None = None,
                 vision_reason: Callable[[], str] = lambda: "",
                 baselines: PersonBaselines | None = None, calibrated: bool = True) -> None:
        check_live_spec(spec)
        # the bundle's own tokenizer files (no transformers needed); a bare model runner has none
        bundle = getattr(backend, "bundle", None)
        self.tokenizer = bundle_tokenizer(bundle) if bundle is not None else None
        self.backend, self.spec, self.vision, self.scale = backend, spec, vision, scale
        self.evidence, self.stats = evidence, stats or StageStats()
        self.vision_reason = vision_reason  # why video is unusable now ("" when it is fine)
        # (utterance end, transcript, the recogniser's confidence)
        self._recent_text: deque[tuple[float, str, float]] = deque(maxlen=32)
        self._index = 0
        self._face_frames = (np.zeros(0), np.zeros((0, spec.vision.dim), np.float32))
        self._model_s = 0.0  # time in backend calls since the event began (the calibrated path's split)
        # evidence_fusion bundles: per-expert evidence, per-person baselines, bounded fusion
        valence = face_valence_of(bundle)
        self.calibrated = (CalibratedFusion(self._predict, spec, valence, scale, baselines,
                                            bounded_graph=graph_is_bounded(bundle))
                           if calibrated and valence is not None else None)
        # a graph that weighs the words by the recogniser's confidence gets it as the text mask's
        # height when its own fused output is the event (calibration.fusion: graph)
        self.text_confidence_in_mask = bundle is not None and graph_reads_text_confidence(bundle)
        self._new_person = threading.Event()  # set from any thread; acted on in the fusion thread

    def _text(self, req: WindowRequest) -> tuple[str, str]:
        """(transcript, why text is missing) for a request."""
        if req.kind == "utterance":
            self._recent_text.append((req.end, req.transcript or "", req.text_confidence))
            return req.transcript or "", req.text_reason or ("" if req.transcript else "no words recognised")
        joined = [(t, c) for end, t, c in self._recent_text if req.start < end <= req.end and t]
        said = " ".join(t for t, _ in joined)
        # the window's words are those utterances': so is the confidence in them (their mean)
        req.text_confidence = float(np.mean([c for _, c in joined])) if joined else 1.0
        return said, "" if said else (req.text_reason or "no words recognised in the window")

    def assemble(self, req: WindowRequest) -> tuple[tuple[np.ndarray, ...], dict[str, str], str]:
        """Model inputs (batch 1, INPUT_NAMES order), masked modality -> reason, transcript."""
        s, masked = self.spec, {}
        transcript, text_reason = self._text(req)
        if transcript:
            ids, tmask = tokenize([transcript], s.text.max_len, self.tokenizer)
        else:
            ids = np.full((1, s.text.max_len), PAD_ID, np.int64)
            tmask = np.zeros((1, s.text.max_len), np.float32)
            masked["text"] = text_reason
        if req.audio is not None and req.audio[1].any():
            audio, amask = req.audio
        else:
            audio = np.zeros((s.audio.max_len, s.audio.dim), np.float32)
            amask = np.zeros(s.audio.max_len, np.float32)
            masked["audio"] = req.audio_reason or "no speech in the window"
        times, rows, ok = self.vision.between(req.start, req.end)
        vision, vmask = fill_window(times, rows, ok, req.start, req.end, s.vision.rate_hz, s.vision.max_len)
        recent = ok & (times >= req.end - s.vision.max_len / s.vision.rate_hz)  # what the window keeps
        self._face_frames = (times[recent], rows[recent])
        if not vmask.any():
            masked["vision"] = self.vision_reason() or "no face in view"
        inputs = (ids, tmask, audio[None], amask[None].astype(np.float32), vision[None], vmask[None])
        return inputs, masked, transcript

    def warm_up(self) -> None:
        """Load the tokenizer and run the backend once: the first event is then as fast as the rest."""
        s = self.spec
        ids, tmask = tokenize(["warm up"], s.text.max_len, self.tokenizer)
        self._predict((ids, tmask, np.zeros((1, s.audio.max_len, s.audio.dim), np.float32),
                       np.zeros((1, s.audio.max_len), np.float32),
                       np.zeros((1, s.vision.max_len, s.vision.dim), np.float32),
                       np.zeros((1, s.vision.max_len), np.float32)))

    def _predict(self, inputs: tuple[np.ndarray, ...]) -> tuple[float, float]:
        t0 = time.perf_counter()
        score, uncertainty = self.backend.predict(inputs)
        self._model_s += time.perf_counter() - t0
        return float(np.asarray(score).reshape(-1)[0]), float(np.asarray(uncertainty).reshape(-1)[0])

    def new_person(self) -> None:
        """Someone else is in front of the sensors: from the next event on, forget the person's
        baselines (and enrolment) and the transcripts kept for interval windows. Thread-safe."""
        self._new_person.set()

    def _forget_person(self) -> None:
        if not self._new_person.is_set():
            return
        self._new_person.clear()
        self._recent_text.clear()
        if self.calibrated is not None:
            self.calibrated.baselines.new_person(self.calibrated.voice_expert)

    def fuse(self, req: WindowRequest) -> SentimentEvent | None:
        """The event for a request; None when no modality is present (nothing to say)."""
        t0 = time.perf_counter()
        self._forget_person()
        inputs, masked, transcript = self.assemble(req)
        present = {m: m not in masked for m in MODALITIES}
        if not any(present.values()):
            return None
        t1 = time.perf_counter()
        if self.calibrated is not None:
            # backend_ms: the per-expert model calls; evidence_ms: the calibration around them
            # (face evidence, baselines, the voice expert, fusion)
            self._model_s = 0.0
            score, uncertainty, evidence = self._calibrated(inputs, present, req)
            t3 = time.perf_counter()
            t2 = t1 + self._model_s
        else:
            if self.text_confidence_in_mask:
                inputs = with_text_confidence(inputs, req.text_confidence)
            score, uncertainty = self._predict(inputs)
            t2 = time.perf_counter()
            evidence = self._evidence(inputs, present, score, uncertainty)
            t3 = time.perf_counter()
        latency = {**req.latency_ms, "assemble_ms": (t1 - t0) * 1e3, "backend_ms": (t2 - t1) * 1e3,
                   "evidence_ms": (t3 - t2) * 1e3, "event_ms": (t3 - req.detected) * 1e3}
        for stage, ms in latency.items():
            self.stats.add(stage, ms)
        event = SentimentEvent(
            index=self._index, kind=req.kind, start=round(req.start, 3), end=round(req.end, 3),
            score=score, label=label_for(score, self.scale), uncertainty=uncertainty,
            transcript=transcript, modalities=present, masked=masked, evidence=evidence,
            latency_ms={k: round(v, 3) for k, v in latency.items()}, emitted_at=time.time(),
            baseline=self.calibrated.baselines.state() if self.calibrated is not None else {})
        self._index += 1
        return event

    def _evidence(self, inputs, present: dict[str, bool], score: float,
                  uncertainty: float) -> dict[str, Evidence]:
        """Each present modality alone: the same backend on the same window with only its mask on."""
        evidence = {m: Evidence(False) for m in MODALITIES}
        used = [m for m in MODALITIES if present[m]]
        for m in used if self.evidence else []:
            if len(used) == 1:  # the same inputs as the fused call: reuse, do not recompute
                evidence[m] = Evidence(True, score, uncertainty)
            else:
                evidence[m] = Evidence(True, *self._predict(only(inputs, m)))
        return evidence

    def _calibrated(self, inputs, present: dict[str, bool],
                    req: WindowRequest) -> tuple[float, float, dict[str, Evidence]]:
        """The bounded fusion of the calibrated experts (evidence_fusion bundles)."""
        cal = self.calibrated
        if req.voice_states is not None and cal.baselines.whisper_voice and not cal.voice_expert_tried:
            cal.voice_expert_tried = True  # first Whisper utterance: load the voice expert once
            cal.attach_voice_expert(load_voice_expert())
        readings = cal.readings(inputs, present, req.text_confidence,
                                req.voice_states, self._face_frames, req.end)
        score, uncertainty = cal.fuse(readings)
        evidence = {m: Evidence(False) for m in MODALITIES}
        for m, r in readings.items():
            evidence[m] = Evidence(True, r.evidence, r.uncertainty)
        return score, uncertainty, evidence


def with_text_confidence(inputs: tuple[np.ndarray, ...], confidence: float) -> tuple[np.ndarray, ...]:
    """The same inputs with the text mask's present tokens at the recogniser's confidence, never below
    MIN_CONFIDENCE (a mask of 0 would say the words were absent)."""
    text_mask = inputs[1] * np.float32(np.clip(confidence, MIN_CONFIDENCE, 1.0))
    return (inputs[0], text_mask.astype(np.float32), *inputs[2:])


def only(inputs: tuple[np.ndarray, ...], modality: str) -> tuple[np.ndarray, ...]:
    """The same inputs with every other modality absent (zero data, zero mask), as in training."""
    keep = MODALITIES.index(modality)
    return tuple(x if i // 2 == keep else np.zeros_like(x) for i, x in enumerate(inputs))


class Outstanding:
    """Ends of the requests posted but not yet fused (the overlay must not run past them)."""

    def __init__(self) -> None:
        self._ends: list[float] = []
        self._lock = threading.Lock()

    def add(self, end: float) -> None:
        with self._lock:
            self._ends.append(end)

    def done(self, end: float) -> None:
        with self._lock:
            self._ends.remove(end)

    def earliest(self) -> float:
        with self._lock:
            return min(self._ends, default=math.inf)


class FusionLoop(threading.Thread):
    """Consumes window requests in order; waits for late video; hands events to the sinks."""

    def __init__(self, scheduler: FusionScheduler, requests: ItemQueue,
                 emit: Callable[[SentimentEvent], None], vision_position: Callable[[], float],
                 vision_usable: Callable[[], bool],
                 vision_wait_s: float, stop: threading.Event, on_error: Callable[[BaseException], None],
                 outstanding: Outstanding) -> None:
        super().__init__(name="fusion", daemon=True)
        self.scheduler, self.requests, self.emit = scheduler, requests, emit
        self.vision_position, self.vision_usable = vision_position, vision_usable
        self.vision_wait_s, self.stop, self.on_error = vision_wait_s, stop, on_error
        self.outstanding = outstanding

    def _wait_for_video(self, end: float) -> float:
        """Until video reached `end`, or is unusable, or the wait ran out; returns ms waited."""
        t0 = time.perf_counter()
        deadline = t0 + self.vision_wait_s
        while self.vision_position() < end and self.vision_usable() and time.perf_counter() < deadline:
            if self.stop.wait(0.005):
                break
        return (time.perf_counter() - t0) * 1e3

    def run(self) -> None:
        while True:
            req = self.requests.get(0.1)
            if req is None:
                return
            if req is TIMEOUT:
                continue
            req.latency_ms["video_wait_ms"] = self._wait_for_video(req.end)
            try:
                event = self.scheduler.fuse(req)
                if event is not None:
                    self.emit(event)
            except Exception as e:  # noqa: BLE001 - a failed backend or sink loses one event, not the run
                self.on_error(e)
            finally:
                self.outstanding.done(req.end)
