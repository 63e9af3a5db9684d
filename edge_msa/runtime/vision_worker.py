"""The vision perception thread: face features sampled at the spec's rate, into the vision ring.

Every frame goes to the overlay (when there is one); only frames on the spec's time grid (10 Hz
for the live spec) go through the face model, which is all the model reads. No face is not an
error: the sample is stored as missing. While no audio arrives (no track, unplugged, ended) this
thread also asks for vision-only events every `fallback_interval_s`, so a person on camera is
still scored (a muted microphone still delivers: the audio side asks for those). In fast file
mode it stays at most `max_lead_s` ahead of the audio side, so the ring still holds every frame
a pending utterance needs.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

import numpy as np

from edge_msa.features.spec import FeatureSpec
from edge_msa.runtime.health import OK, HealthMonitor
from edge_msa.runtime.scheduler import WindowRequest
from edge_msa.runtime.sources.base import TIMEOUT, ItemQueue, VideoFrame
from edge_msa.runtime.stats import StageStats
from edge_msa.runtime.windows import TimedRing, next_sample_time

FACE = "face"


class VisionWorker(threading.Thread):
    def __init__(self, frames: ItemQueue, requests: ItemQueue, spec: FeatureSpec, ring: TimedRing,
                 featurizer, health: HealthMonitor, stop: threading.Event, stats: StageStats,
                 audio_lost: Callable[[float], bool], audio_reason: Callable[[], str],
                 fallback_interval_s: float = 3.0, overlay: Callable[[VideoFrame], None] | None = None,
                 audio_position: Callable[[], float] | None = None, max_lead_s: float = 20.0,
                 posted: Callable[[float], None] = lambda end: None) -> None:
        super().__init__(name="vision-perception", daemon=True)
        self.frames, self.requests, self.ring, self.featurizer = frames, requests, ring, featurizer
        self.health, self.stop, self.stats, self.overlay = health, stop, stats, overlay
        self.audio_lost, self.audio_reason = audio_lost, audio_reason
        self.fallback_interval_s, self.posted = fallback_interval_s, posted
        self.audio_position, self.max_lead_s = audio_position, max_lead_s
        self.rate, self.window_s = spec.vision.rate_hz, spec.vision.max_len / spec.vision.rate_hz
        self._next_sample = -math.inf
        self._last_tick = -math.inf
        self.position = -math.inf  # clock time up to which video has been processed
        self.first_t: float | None = None
        self.last_t = 0.0
        if featurizer is not None:
            health.register(FACE, timeout_s=math.inf, state=OK)

    def _features(self, frame: VideoFrame) -> np.ndarray | None:
        try:
            with self.stats.time("face_ms"):
                feat = self.featurizer.process(frame.image, frame.t)
        except Exception as e:  # noqa: BLE001 - a face-model failure loses the face, not the run
            self.health.fail(FACE, e)
            return None
        self.health.beat(FACE)
        return feat

    def prepare(self) -> None:
        """Run the face model once (its runtimes initialise lazily) before the clock starts."""
        if self.featurizer is not None:
            self.featurizer.process(np.zeros((240, 320, 3), np.uint8), 0.0)
            if hasattr(self.featurizer, "reset"):
                self.featurizer.reset()

    def _wait_for_audio(self, t: float) -> None:
        while (self.audio_position is not None and t > self.audio_position() + self.max_lead_s
               and not self.stop.wait(0.01)):
            pass

    def process(self, frame: VideoFrame) -> None:
        self._wait_for_audio(frame.t)
        if self.overlay is not None:
            self.overlay(frame)
        if self.featurizer is not None and frame.t >= self._next_sample:
            feat = self._features(frame)
            present = feat is not None
            self.ring.append([frame.t], feat[None] if present else np.zeros((1, self.ring.dim)), present)
            self._next_sample = next_sample_time(frame.t, self.rate)
        self.position = self.last_t = frame.t
        if self.first_t is None:
            self.first_t = self._last_tick = frame.t
        due = self.position - self._last_tick >= self.fallback_interval_s
        if due and not self.stop.is_set() and self.audio_lost(frame.t):
            start = max(self.position - self.window_s, self._last_tick)
            self.posted(self.position)
            self.requests.put(WindowRequest("interval", start, self.position, None,
                                            audio_reason=self.audio_reason()), self.stop)
            self._last_tick = self.position

    def span(self) -> float:
        """Seconds of stream processed."""
        return self.last_t - (self.first_t if self.first_t is not None else self.last_t)

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                frame = self.frames.get(0.1)
                if frame is None:
                    return
                if frame is not TIMEOUT:
                    self.process(frame)
        finally:
            self.position = math.inf
