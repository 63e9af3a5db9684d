"""Sentiment inside an app: load a bundle once, then score sentences, audio arrays, media files or
one utterance, or iterate the events of a live run.

    from edge_msa import SentimentModel

    model = SentimentModel()                         # the shipped default tier; or "nano", a folder
    event = model.score_text("what a wonderful surprise")
    print(event.label, round(event.score, 2))

Every result is the `SentimentEvent` that `edge-msa run` writes (score, label, uncertainty,
modalities, per-modality evidence, transcript, latency). The work is the live runtime's own: files,
audio arrays and sensors go through the same pipeline as `edge-msa run --fast` (VAD, speech
recognition, face model, fusion); one utterance goes through the same fusion step with the windows
built as the pipeline builds them.

A model holds no state between calls apart from its backend, which runs one call at a time (an
ExecuTorch method must not run on two threads at once); every call builds its own scheduler, face
model and recognizer, so threads can share one model and nothing is global.

Inputs are checked before any work, and bad input raises `edge_msa.errors.UserError` with one
line saying the rule (never a numpy, OpenCV or tokenizer exception, never a score of garbage):

- text: a `str` (not bytes, not a list) of valid Unicode, at most 100,000 characters.
- audio: a numpy array (or nested list) of floats at full scale -1..1 or integer PCM (signed;
  unsigned centred, like 8-bit WAV); `[samples]`, `[samples, channels]` or `[channels, samples]`,
  told apart by the longer axis being time (a square array is refused), at most 16 channels,
  averaged to mono. Any NaN or inf sample refuses the whole array: clean or drop them first.
  At most 2**26 samples per channel (70 min at 16 kHz, 23 min at 48 kHz; longer recordings:
  `score_file`, which streams); one utterance at most 600 s.
- sample_rate: an `int` (not a bool, not a float) in 8000..192000 Hz.
- frames: HxWx3 uint8 BGR arrays (or one [N, H, W, 3] array), sides 16..8192 pixels, at most
  600 s of them at `fps`; float frames are refused (NaN/inf said first), never rescaled.
- fps: a number above 0 and at most 1000; duration_s: a number above 0 (or None).
- paths: `str` or `pathlib.Path`; camera / mic: an index (`int`) or a name (`str`).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from edge_msa.api_inputs import (
    MAX_FPS,
    MAX_UTTERANCE_S,
    checked_device,
    checked_duration,
    checked_frames,
    checked_number,
    checked_path,
    checked_text,
)
from edge_msa.errors import UserError
from edge_msa.export.frontend import FrontendFeaturizer, voice_frontend
from edge_msa.features.audio import SAMPLE_RATE, AudioFeaturizer
from edge_msa.runtime.calibrated_fusion import (
    PersonBaselines,
    enrolled_baselines,
    face_valence_of,
    whisper_voice_features,
)
from edge_msa.runtime.config import RuntimeConfig, SinkConfig, load_config
from edge_msa.runtime.events import SentimentEvent
from edge_msa.runtime.launch import asr_factory, build_pipeline, build_sensors, face_featurizer, open_bundle
from edge_msa.runtime.pipeline import Pipeline, Sensors
from edge_msa.runtime.scheduler import FusionScheduler, WindowRequest
from edge_msa.runtime.sources.arrays import ArrayAudioSource, as_16k_mono
from edge_msa.runtime.windows import TimedRing, fill_window, next_sample_time

__all__ = ["SentimentEvent", "SentimentModel"]


class _OneCallAtATime:
    """A backend shared by threads: predictions are serialized, the rest is read-only."""

    def __init__(self, backend) -> None:
        self._backend, self._lock = backend, threading.Lock()
        self.bundle = backend.bundle

    def predict(self, inputs: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            return self._backend.predict(inputs)


class _QueueSink:
    """Hands each event of a pipeline to the consumer of `SentimentModel.stream`."""

    def __init__(self, events: queue.Queue) -> None:
        self._events = events

    def emit(self, event: SentimentEvent) -> None:
        self._events.put(event)

    def close(self) -> None:
        pass


_DONE = object()


MIN_ENROL_SPEECH_S = 0.5  # VAD speech an enrolment needs (the VAD's shortest utterance is 0.25 s)


def speech_of(wave: np.ndarray) -> np.ndarray:
    """The part of an enrolment recording from the first to the last speech the VAD hears: silence
    would otherwise become the person's calm voice."""
    from edge_msa.runtime.perception.vad import speech_segments

    segments = speech_segments(wave)
    heard = sum(s.duration_s for s in segments)
    if heard < MIN_ENROL_SPEECH_S:
        raise UserError(f"enrol: the audio holds {heard:.2f} s of speech (at least {MIN_ENROL_SPEECH_S} s "
                        "needed); record the person saying a sentence in their calm voice")
    return wave[int(segments[0].start_s * SAMPLE_RATE):int(segments[-1].end_s * SAMPLE_RATE)]


class SentimentModel:
    """One bundle, ready to score.

    bundle: a shipped tier (`default`, `nano`, `default/onnx-int8`) or a bundle folder written by
    `edge-msa export`; a bare tier name with backend `auto` means the tier's fastest bundle on this
    device, as on the command line (ONNX int8 on x86). backend: `auto` (the bundle's first that
    runs here), `onnxruntime`, `executorch`, `torch` or `tensorrt`. config: a pipeline config (name
    in runtime/, a YAML path, or a RuntimeConfig); its sinks are ignored, events come back to the
    caller. frontend: where the voice features come from, `python` (edge-msa's extractor) or
    `bundle` (the bundle's frontend.onnx, what an app holding the bundle computes; a bundle without
    one is refused).
    """

    def __init__(self, bundle: str | Path = "default", *, backend: str = "auto", threads: int = 1,
                 config: str | Path | RuntimeConfig | None = None, frontend: str = "python") -> None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise UserError(f"threads must be a whole number of at least 1, got {threads!r}")
        checked_path("bundle", bundle)  # a tier name or a folder
        if backend == "auto":  # a bare tier runs its fastest bundle on this device, as in the CLI
            from edge_msa.profile.devices import fastest_formats
            from edge_msa.runtime.tiers import format_order_set, set_format_order

            if not format_order_set():
                set_format_order(fastest_formats)
        cfg = config if isinstance(config, RuntimeConfig) else load_config(config)
        self.config: RuntimeConfig = cfg.model_copy(update={"sinks": SinkConfig(console="off")})
        runner, self.spec, self.scale = open_bundle(bundle, None if backend == "auto" else backend, threads)
        self.bundle_path: Path = runner.bundle.root
        self.backend_name: str = runner.name
        self._backend = _OneCallAtATime(runner)
        # frontend "bundle": voice features from the bundle's frontend.onnx, what an app holding it computes
        self._voice = voice_frontend(runner.bundle, frontend, threads)
        # one utterance or one image has no running baseline; `enrol` sets one (docs/calibration.md)
        whisper_voice = self.config.calibration.voice == "whisper"
        self._baselines = PersonBaselines(running=False, whisper_voice=whisper_voice)
        self._live: set = set()  # the fusion schedulers of this model's running streams
        self._scheduler(TimedRing(1, self.spec.vision.dim), "")  # refuses a bundle the runtime cannot feed

    def __repr__(self) -> str:
        return f"SentimentModel({str(self.bundle_path)!r}, backend={self.backend_name!r})"

    # ---- one utterance ----
    def score_text(self, text: str) -> SentimentEvent:
        """The sentiment of one sentence (voice and face absent); `text` is a str (see the module's
        input rules)."""
        return self.score_utterance(text=checked_text(text))

    def score_utterance(self, text: str | None = None, audio: np.ndarray | None = None,
                        sample_rate: int = SAMPLE_RATE, frames: Sequence[np.ndarray] | None = None,
                        fps: float = 30.0) -> SentimentEvent:
        """One utterance given as any of: its words, its audio ([samples], [samples, channels] or
        [channels, samples] at `sample_rate`), its face frames (HxWx3 uint8 BGR at `fps`). Without
        `text`, the words are recognised from `audio` (when the config's speech recognition is on).
        Each input follows the module's input rules; an utterance is at most 600 s."""
        text = checked_text(text) if text is not None else None
        fps = checked_number("fps", fps, 0.0, MAX_FPS)
        frames = checked_frames(frames, fps)
        wave = as_16k_mono(audio, sample_rate, max_s=MAX_UTTERANCE_S) if audio is not None else None
        end = max(len(wave) / SAMPLE_RATE if wave is not None else 0.0, len(frames) / fps, 1e-3)
        ring = TimedRing(max(1, len(frames)), self.spec.vision.dim)
        vision_reason = self._face_rows(frames, fps, ring) if frames else "no face frames given"
        transcript, text_reason, heard = self._words(text, wave)
        voice = self._voice_window(wave, end) if wave is not None else None
        request = WindowRequest("utterance", 0.0, end, voice, audio_reason="no audio given",
                                transcript=transcript, text_reason=text_reason,
                                text_confidence=getattr(heard, "confidence", 1.0),
                                voice_states=getattr(heard, "voice_states", None))
        event = self._scheduler(ring, vision_reason).fuse(request)
        if event is None:  # every modality absent
            raise UserError(f"nothing to score: {text_reason}, no audio given, {vision_reason}")
        return event

    def enrol(self, audio: np.ndarray | None = None, sample_rate: int = SAMPLE_RATE,
              frames: Sequence[np.ndarray] | None = None, fps: float = 30.0) -> dict:
        """Set this person's baseline from a few seconds of them at rest: a neutral face (`frames`)
        and/or a calm voice (`audio`, read by the Whisper voice expert where the `whisper` extra is
        installed). Every later call of this model reads the person against it: their resting face
        reads 0, their voice is standardised by their own statistics. Returns the baseline (what
        events carry under `baseline`). The voice is read from the first to the last speech the
        VAD hears; audio with under 0.5 s of speech is refused. Inputs follow the module's input
        rules; needs an evidence_fusion bundle (the shipped tiers)."""
        valence = face_valence_of(self._backend.bundle)
        if valence is None:
            raise UserError("enrolment needs an evidence_fusion bundle (the shipped tiers), "
                            f"not {self.bundle_path}")
        if self.config.calibration.fusion != "calibrated":
            raise UserError("enrolment sets the calibrated path's baselines; this model's config "
                            "has calibration.fusion: graph, which reads none")
        fps = checked_number("fps", fps, 0.0, MAX_FPS)
        frames = checked_frames(frames, fps)
        wave = as_16k_mono(audio, sample_rate, max_s=MAX_UTTERANCE_S) if audio is not None else None
        if wave is None and not frames:
            raise UserError("enrol needs audio or face frames of the person at rest")
        rows = None
        if frames:
            ring = TimedRing(len(frames), self.spec.vision.dim)
            if self._face_rows(frames, fps, ring):
                raise UserError("enrol: no face found in the frames")
            _, rows, ok = ring.between(-np.inf, np.inf)
            rows = rows[ok]
        if wave is not None:
            wave = speech_of(wave)
        whisper = self.config.calibration.voice == "whisper"
        logmel = self._logmel_voice(wave) if wave is not None else None
        voice = whisper_voice_features(wave) if wave is not None and whisper else None
        self._baselines = enrolled_baselines(valence, self.spec.vision.dim, rows, logmel, voice, whisper)
        return self._baselines.state()

    def new_person(self) -> None:
        """Someone else is in front of the sensors: forget the enrolment, and in every running
        `stream` of this model the person's baselines from its next event on (the events say so
        under `baseline`). Identity is not recognised from the face, so an app that knows a new
        person sat down (a kiosk's next visitor, a new call) says it here. Safe from any thread."""
        self._baselines = PersonBaselines(running=False, whisper_voice=self._baselines.whisper_voice)
        for scheduler in list(self._live):
            scheduler.new_person()

    def _logmel_voice(self, wave: np.ndarray) -> float:
        """What the bundle's log-mel voice expert alone says about one utterance (no baseline)."""
        end = max(len(wave) / SAMPLE_RATE, 1e-3)
        request = WindowRequest("utterance", 0.0, end, self._voice_window(wave, end), transcript="",
                                text_reason="enrolment")
        scheduler = self._scheduler(TimedRing(1, self.spec.vision.dim), "")
        inputs, _, _ = scheduler.assemble(request)
        return scheduler.calibrated.expert(inputs, "audio")[0]

    def _scheduler(self, ring: TimedRing, vision_reason: str) -> FusionScheduler:
        return FusionScheduler(self._backend, self.spec, ring, self.scale, self.config.scheduler.evidence,
                               vision_reason=lambda: vision_reason, baselines=self._baselines,
                               calibrated=self.config.calibration.fusion == "calibrated")

    def _words(self, text: str | None, wave: np.ndarray | None) -> tuple[str, str, object | None]:
        """(transcript, why there is none, what the recogniser heard): the text given, else what the
        recogniser hears (Whisper's result also holds its confidence and encoder states)."""
        if text is not None:
            return (text, "", None) if text.strip() else ("", "empty text", None)
        if wave is None:
            return "", "no text given", None
        make = asr_factory(self.config, self.bundle_path)
        if make is None:
            return "", "speech recognition is off", None
        from edge_msa.runtime.perception.asr import transcribe

        heard = transcribe(wave, engine=make(), detailed=True)
        said = heard if isinstance(heard, str) else heard.text
        return said, "" if said else "no words recognised", None if isinstance(heard, str) else heard

    def _voice_featurizer(self) -> AudioFeaturizer | FrontendFeaturizer:
        """A fresh featurizer (streams keep state) of the chosen front-end."""
        return AudioFeaturizer() if self._voice is None else FrontendFeaturizer(self._voice)

    def _voice_window(self, wave: np.ndarray, end: float) -> tuple[np.ndarray, np.ndarray]:
        """The voice features of the whole utterance, placed as the live audio side places them."""
        a = self.spec.audio
        rows = self._voice_featurizer().offline(wave)
        times = np.arange(len(rows)) / a.rate_hz
        return fill_window(times, rows, np.ones(len(rows), bool), 0.0, end, a.rate_hz, a.max_len)

    def _face_rows(self, frames: list[np.ndarray], fps: float, ring: TimedRing) -> str:
        """Face features of the frames at the vision rate into `ring`; why faces are missing ("")."""
        face = face_featurizer(self.config)
        if face is None:
            return "face features off"
        rate, next_t, found = self.spec.vision.rate_hz, 0.0, False
        for i, frame in enumerate(frames):
            t = i / fps
            if t < next_t:
                continue
            feat = face.process(np.asarray(frame), t)
            ring.append([t], feat[None] if feat is not None else np.zeros((1, ring.dim)), feat is not None)
            found |= feat is not None
            next_t = next_sample_time(t, rate)
        return "" if found else "no face in view"

    # ---- streams ----
    def score_audio(self, samples: np.ndarray, sample_rate: int) -> list[SentimentEvent]:
        """The events of a recording held in memory, one per utterance (VAD + speech recognition);
        `samples` and `sample_rate` follow the module's input rules."""
        sensors = Sensors(audio=ArrayAudioSource(samples, sample_rate), video_absent="no video given")
        return list(self._events(sensors, fast=True, duration_s=None))

    def score_file(self, path: str | Path) -> list[SentimentEvent]:
        """The events of a video or audio file (any container FFmpeg reads), as fast as it goes."""
        return list(self.stream(video=checked_path("path", path), fast=True))

    def stream(self, *, video: str | Path | None = None, camera: int | str | None = None,
               audio: str | Path | None = None, mic: int | str | None = None,
               duration_s: float | None = None, fast: bool = False) -> Iterator[SentimentEvent]:
        """Events of a live run as they come, like `edge-msa run`: files, a camera (index, device
        or GStreamer pipeline), a microphone ("default" or a name/index); nothing named: the
        config's camera and microphone. The inputs are checked here, before the first event.
        The run stops when the files end, after `duration_s`, or when the loop over the events
        ends (break, close(), an exception): the sensors are released before that returns."""
        duration_s = checked_duration(duration_s)
        sensors = build_sensors(self.config, fast=bool(fast), video=checked_path("video", video),
                                camera=checked_device("camera", camera), audio=checked_path("audio", audio),
                                mic=checked_device("mic", mic))
        return self._events(sensors, fast, duration_s)

    def _events(self, sensors: Sensors, fast: bool, duration_s: float | None) -> Iterator[SentimentEvent]:
        events: queue.Queue = queue.Queue()
        enrolled = self._baselines.for_stream() if self._baselines.enrolled else None
        pipeline = build_pipeline(self.config, sensors, self._backend, self.spec, self.scale, fast=fast,
                                  sinks=[_QueueSink(events)], baselines=enrolled,
                                  audio_featurizer=self._voice_featurizer())
        return self._drain(pipeline, events, duration_s, self._live)

    @staticmethod
    def _drain(pipeline: Pipeline, events: queue.Queue, duration_s: float | None,
               live: set) -> Iterator[SentimentEvent]:
        def run() -> None:
            try:
                pipeline.run(duration_s)
            except BaseException as e:  # noqa: BLE001 - handed to the consumer's thread
                events.put(e)
            finally:
                events.put(_DONE)

        thread = threading.Thread(target=run, name="edge-msa-run", daemon=True)
        thread.start()
        live.add(pipeline.scheduler)
        try:
            while (item := events.get()) is not _DONE:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            live.discard(pipeline.scheduler)
            pipeline.stop.set()
            thread.join()
