"""The live pipeline: sources -> perception -> fusion -> sinks, one thread per stage.

    audio source --q--> AudioWorker (features, VAD, ASR) --+
                                                           +--requests--> FusionLoop --> sinks
    video source --q--> VisionWorker (face, overlay)  -----+   (waits for late video)

Live sensors use drop-oldest queues and are re-opened with back-off; files are paced in real time
(same as live) or, in fast mode, use blocking queues so nothing is lost. A dead sensor never
stops the run: its modality is masked and the event says why. Ctrl-C stops cleanly.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field

from edge_msa.features.spec import FeatureSpec
from edge_msa.runtime.audio_worker import AudioWorker, has_signal
from edge_msa.runtime.calibrated_fusion import baselines_for_run
from edge_msa.runtime.clock import Clock
from edge_msa.runtime.config import RuntimeConfig
from edge_msa.runtime.events import SCALE_MAX, SentimentEvent
from edge_msa.runtime.health import ABSENT, ENDED, FAILED, MUTED, OK, STALLED, Backoff, HealthMonitor
from edge_msa.runtime.perception.vad import VADConfig
from edge_msa.runtime.scheduler import FusionLoop, FusionScheduler, Outstanding
from edge_msa.runtime.sinks.console import ConsoleSink
from edge_msa.runtime.sinks.http import HttpSink
from edge_msa.runtime.sinks.jsonl import JsonlSink
from edge_msa.runtime.sinks.overlay import OverlaySink
from edge_msa.runtime.sources.base import AudioChunk, ItemQueue, Source, SourceRunner
from edge_msa.runtime.stats import StageStats
from edge_msa.runtime.vision_worker import FACE, VisionWorker
from edge_msa.runtime.windows import TimedRing

AUDIO, VIDEO = "audio", "video"
TROUBLE = (ABSENT, FAILED, STALLED, MUTED)


def audio_has_signal(chunk: AudioChunk) -> bool:
    return has_signal(chunk.samples)


@dataclass
class RunSummary:
    events: int
    media_s: float  # stream time covered
    wall_s: float
    labels: dict[str, int]
    stages: dict[str, dict[str, float]]
    health: dict[str, dict]
    dropped: dict[str, int]
    errors: list[str] = field(default_factory=list)
    fast: bool = False  # files processed as fast as possible (else paced / live)
    notes: list[str] = field(default_factory=list)  # what the user asked for and did not happen

    @property
    def rtf(self) -> float | None:
        """Wall time per second of stream (< 1: faster than real time); meaningful in fast mode."""
        return self.wall_s / self.media_s if self.media_s > 0 else None

    def to_dict(self) -> dict:
        return {"fast": self.fast, "events": self.events, "media_s": self.media_s, "wall_s": self.wall_s,
                "rtf": self.rtf, "labels": self.labels, "stages": self.stages, "health": self.health,
                "dropped": self.dropped, "errors": self.errors, "notes": self.notes}


@dataclass
class Sensors:
    """What feeds a run; a None source is an absent modality, `*_absent` says why."""

    audio: Source | None = None
    video: Source | None = None
    audio_absent: str = "no microphone or audio file"
    video_absent: str = "no camera or video file"
    video_fps: float = 30.0  # for the overlay's frame rate


class Pipeline:
    def __init__(self, backend, spec: FeatureSpec, config: RuntimeConfig, sensors: Sensors, *,
                 fast: bool = False, scale: str = "mosi", asr_factory=None, face_featurizer=None,
                 sinks: list | None = None, audio_featurizer=None, baselines=None) -> None:
        self.config, self.sensors, self.fast = config, sensors, fast
        self.clock, self.stop = Clock(), threading.Event()
        self.health, self.stats = HealthMonitor(), StageStats()
        self.errors: list[str] = []
        self.events = 0
        self.interrupted = False  # Ctrl-C ended the run
        self.labels: dict[str, int] = {}
        self._lock = threading.Lock()
        live = not fast
        hc, qc, sc = config.health, config.queues, config.scheduler
        self.requests = ItemQueue(qc.events, drop_oldest=False)  # windows are never dropped
        self.outstanding = Outstanding()
        vision_ring = TimedRing(round((spec.vision.max_len / spec.vision.rate_hz + 30) * spec.vision.rate_hz),
                                spec.vision.dim)
        self.runners: list[SourceRunner] = []
        self.audio_worker = self.vision_worker = None
        self.sinks = list(sinks or [])
        self.console = self._console(scale)
        self.overlay = None

        if sensors.audio is not None:
            self.health.register(AUDIO, hc.audio_timeout_s, can_stall=sensors.audio.live)
            chunks = ItemQueue(qc.audio, drop_oldest=live)
            self.runners.append(self._runner(sensors.audio, chunks, AUDIO, audio_has_signal))
            self.audio_worker = AudioWorker(
                chunks, self.requests, spec, VADConfig(**config.vad.model_dump()), asr_factory, self.health,
                self.stop, self.stats, sc.interval_s, self._backoff(), self.outstanding.add,
                mute_after_s=hc.audio_timeout_s, fallback_interval_s=sc.fallback_interval_s,
                featurizer=audio_featurizer)
        else:
            self.health.register(AUDIO, hc.audio_timeout_s, state=ABSENT, error=sensors.audio_absent)
        self.http = None
        if config.sinks.http.enabled:
            h = config.sinks.http
            self.http = HttpSink(h.host, h.port, h.keep, health=self.health.snapshot, token=h.token,
                                 scale=scale, on_new_person=self._new_person)
        if sensors.video is not None:
            self.health.register(VIDEO, hc.video_timeout_s, can_stall=sensors.video.live)
            if config.sinks.overlay is not None:
                self.overlay = OverlaySink(
                    config.sinks.overlay, sensors.video_fps, scale, drop_oldest=live,
                    ready_until=self._decided_until if fast else None)
                self.sinks.append(self.overlay)
            frames = ItemQueue(qc.video, drop_oldest=live)
            self.runners.append(self._runner(sensors.video, frames, VIDEO))
            self.vision_worker = VisionWorker(
                frames, self.requests, spec, vision_ring, face_featurizer, self.health, self.stop, self.stats,
                audio_lost=self._audio_lost, audio_reason=lambda: self.health.reason(AUDIO),
                fallback_interval_s=sc.fallback_interval_s,
                overlay=self._frame_sink(),
                audio_position=(lambda: self.audio_worker.position) if fast and self.audio_worker else None,
                posted=self.outstanding.add)
        else:
            self.health.register(VIDEO, hc.video_timeout_s, state=ABSENT, error=sensors.video_absent)
        if config.sinks.jsonl is not None:
            self.sinks.append(JsonlSink(config.sinks.jsonl))
        if self.http is not None:
            self.sinks.append(self.http)
        self.scheduler = FusionScheduler(backend, spec, vision_ring, scale, sc.evidence, self.stats,
                                         vision_reason=self._vision_reason,
                                         baselines=baselines or baselines_for_run(config.calibration),
                                         calibrated=config.calibration.fusion == "calibrated")
        self.fusion = FusionLoop(
            self.scheduler, self.requests, self._emit,
            vision_position=lambda: self.vision_worker.position if self.vision_worker else math.inf,
            vision_usable=lambda: self.health.usable(VIDEO),
            # a file run as fast as possible waits for its video however slow; a live camera is late
            vision_wait_s=math.inf if fast else sc.vision_wait_s,
            stop=self.stop, on_error=self._error, outstanding=self.outstanding)

    # ---- wiring helpers ----
    def _backoff(self) -> Backoff:
        return Backoff(self.config.health.backoff_initial_s, self.config.health.backoff_max_s)

    def _runner(self, source: Source, queue: ItemQueue, key: str, signal_of=None) -> SourceRunner:
        paced = not self.fast and not source.live
        return SourceRunner(source, queue, self.health, self.clock, self.stop, paced, self._backoff(),
                            signal_of=signal_of, name=key)

    def _frame_sink(self):
        """What each camera frame goes to: the overlay video and/or the dashboard's snapshot."""
        takers = [s.frame for s in (self.overlay, self.http) if s is not None]
        if len(takers) < 2:
            return takers[0] if takers else None

        def both(frame) -> None:
            for take in takers:
                take(frame)
        return both

    def _console(self, scale: str) -> ConsoleSink | None:
        mode = self.config.sinks.console
        if mode == "off":
            return None
        if mode == "auto":
            import sys

            mode = "live" if sys.stdout.isatty() and not self.fast else "lines"
        sink = ConsoleSink(mode, SCALE_MAX.get(scale, 3.0), health=self.health.snapshot)
        self.sinks.insert(0, sink)
        return sink

    def _audio_lost(self, t: float) -> bool:
        """No audio is arriving for stream time t (absent, failed, stalled, or past its end).

        A muted microphone still delivers: the audio side handles that on its own clock."""
        state = self.health.state(AUDIO)
        if state == ENDED and self.audio_worker is not None:  # ended once its last chunk is processed
            return self.audio_worker.finished and t > self.audio_worker.last_t
        return state in (ABSENT, FAILED, STALLED)

    def _vision_reason(self) -> str:
        if self.vision_worker is None or self.vision_worker.featurizer is None:
            return self.health.reason(VIDEO) or "face features off"
        return self.health.reason(VIDEO) or self.health.reason(FACE)

    def _decided_until(self) -> float:
        """Stream time before which every event is known (fast mode: the overlay waits for it)."""
        audio = math.inf
        if self.audio_worker is not None:
            audio = self.audio_worker.position - self.audio_worker.vad_lag_s
        return min(audio, self.outstanding.earliest())

    def _emit(self, event: SentimentEvent) -> None:
        with self._lock:
            self.events += 1
            self.labels[event.label] = self.labels.get(event.label, 0) + 1
        for sink in self.sinks:
            sink.emit(event)

    def _error(self, e: BaseException) -> None:
        message = f"{type(e).__name__}: {e}"
        with self._lock:
            if len(self.errors) < 20:
                self.errors.append(message)
        if self.console is not None:
            self.console.note(f"fusion error: {message}")

    # ---- running ----
    def _stages(self) -> list[tuple[SourceRunner, threading.Thread]]:
        workers = [w for w in (self.audio_worker, self.vision_worker) if w is not None]
        return list(zip(self.runners, workers, strict=True))

    def _watch(self, seen: dict[str, str]) -> None:
        """Tell the console when a sensor goes away (or is absent) and when it comes back."""
        for name, h in self.health.snapshot().items():
            before, now = seen.get(name), h["state"]
            seen[name] = now
            if self.console is None or before == now:
                continue
            if now in TROUBLE:
                self.console.note(f"{name}: {now}" + (f" ({h['error']})" if h["error"] else ""))
            elif before in TROUBLE and now == OK:
                self.console.note(f"{name}: back")

    def run(self, duration_s: float | None = None, keep_serving: bool = False) -> RunSummary:
        """Run until the files end (live sensors alone: until `duration_s` or Ctrl-C); summarise.

        `keep_serving`: the dashboard goes on serving the final state (the caller closes `http`);
        `interrupted` says whether Ctrl-C ended the run."""
        self.scheduler.warm_up()
        for worker in (self.audio_worker, self.vision_worker):
            if worker is not None:
                worker.prepare()
        self.stats.reset()  # warm-up is not a stage latency
        if self.console is not None:
            self.console.start()
        self.clock.restart()
        t0 = time.perf_counter()
        stages = self._stages()
        threads = [t for pair in stages for t in pair]
        # With a file among the sensors, the file decides when the run is over.
        files = [pair for pair in stages if not pair[0].source.live]
        finite = [t for pair in files for t in pair] or threads
        self.fusion.start()
        for t in threads:
            t.start()
        seen: dict[str, str] = {}
        try:
            while any(t.is_alive() for t in finite) and not self._timed_out(t0, duration_s):
                self._watch(seen)
                for t in finite:
                    t.join(0.1)
            if files and len(finite) < len(threads):  # a live sensor runs beside the file: let the
                end = max(worker.last_t for _, worker in files)  # file's windows get its data first
                while self.outstanding.earliest() <= end and not self._timed_out(t0, duration_s):
                    self._watch(seen)
                    time.sleep(0.02)
        except KeyboardInterrupt:
            self.interrupted = True
        finally:
            self.stop.set()
            for t in threads:
                t.join(2.0)  # a sensor stuck in a driver call is a daemon: do not wait for it
            self.requests.close()  # both producers are done: fusion drains what is left
            self.fusion.join()
            self._watch(seen)
            wall = time.perf_counter() - t0
            for sink in self.sinks:
                sink.finish() if keep_serving and sink is self.http else sink.close()
            if self.overlay is not None and self.overlay.error:
                self.errors.append(self.overlay.error)
        return self._summary(wall)

    @staticmethod
    def _timed_out(t0: float, duration_s: float | None) -> bool:
        return duration_s is not None and time.perf_counter() - t0 >= duration_s

    def _media_span(self) -> float:
        spans = [w.span() for w in (self.audio_worker, self.vision_worker) if w is not None]
        return max(spans, default=0.0)

    def _summary(self, wall: float) -> RunSummary:
        dropped = {r.key: r.queue.dropped for r in self.runners}
        return RunSummary(self.events, self._media_span(), wall, dict(self.labels), self.stats.summary(),
                          self.health.snapshot(), dropped, list(self.errors), self.fast,
                          self._enrol_notes() + self._voice_notes())

    def _new_person(self) -> None:
        """The dashboard's "new person" (the server answers while this object is still being built:
        before the scheduler exists there is no baseline to forget)."""
        scheduler = getattr(self, "scheduler", None)
        if scheduler is not None:
            scheduler.new_person()

    def _voice_notes(self) -> list[str]:
        """Why `calibration.voice: whisper` read no voice with the Whisper expert, if it did not."""
        calibrated = self.scheduler.calibrated
        if self.config.calibration.voice != "whisper" or calibrated is None or calibrated.voice_expert:
            return []
        if calibrated.voice_expert_tried:
            why = "its weights (edge_msa/assets/voice) could not be loaded"
        else:
            why = (f"it reads the Whisper recogniser's encoder states and this run's recogniser "
                   f"(asr.engine: {self.config.asr.engine}) gave none; asr.engine: whisper, or auto with "
                   "the whisper extra installed (not on the nano tier)")
        return [f"calibration.voice: whisper had no effect: {why}; the bundle's log-mel voice expert read "
                "the voice"]

    def _enrol_notes(self) -> list[str]:
        """Why an enrolment asked for (`calibration.enrol_s`) set no baseline, if it did not."""
        asked = self.config.calibration.enrol_s
        if asked <= 0:
            return []
        calibrated = self.scheduler.calibrated
        if calibrated is None:
            return [f"enrolment ({asked:g} s) had no effect: it needs the calibrated fusion of an "
                    "evidence_fusion bundle (the shipped tiers, calibration.fusion: calibrated)"]
        if not calibrated.baselines.enrolled:
            return [f"enrolment ({asked:g} s) set no baseline: no face or utterance ended within the first "
                    f"{asked:g} s with an event after them (the stream covered {self._media_span():.1f} s)"]
        return []
