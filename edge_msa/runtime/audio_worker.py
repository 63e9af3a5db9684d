"""The audio perception thread: features, voice activity and speech recognition on one stream.

Per chunk: voice features (the training extractor, streaming), silero VAD, and pocketsphinx fed
while speech lasts, so only the last words remain to decode when the utterance ends. An ended
utterance becomes a WindowRequest carrying its audio window and transcript. Times: the stream's
first sample is the chunk's clock time; a gap in the stream (a re-opened mic) restarts the
extractor and the VAD. An ASR failure masks the text of that utterance and the engine is rebuilt
after a back-off; audio keeps flowing. A stream of digital silence for `mute_after_s` (stream
time) is a muted microphone: audio is then masked and vision-only events are asked for every
`fallback_interval_s`, decided here on the stream's own clock so fast and paced runs agree.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

import numpy as np

from edge_msa.features.audio import SAMPLE_RATE, AudioFeaturizer
from edge_msa.features.spec import FeatureSpec
from edge_msa.runtime.health import OK, Backoff, HealthMonitor
from edge_msa.runtime.perception.asr import ASREngine
from edge_msa.runtime.perception.vad import VADConfig, VoiceActivity
from edge_msa.runtime.scheduler import WindowRequest
from edge_msa.runtime.sources.base import TIMEOUT, AudioChunk, ItemQueue
from edge_msa.runtime.stats import StageStats
from edge_msa.runtime.windows import TimedRing, fill_window

ASR = "asr"
RESYNC_S = 1.0  # a jump this large between expected and stamped time is a gap in the stream
PREROLL_S = 0.3  # audio before the VAD's onset decision that ASR also hears (onset lag + padding)
SIGNAL_RMS = 1e-4  # -80 dBFS: below this a microphone is muted (digital silence), not a quiet room


def has_signal(samples: np.ndarray) -> bool:
    return len(samples) > 0 and float(np.sqrt(np.mean(np.square(samples)))) >= SIGNAL_RMS


class AudioWorker(threading.Thread):
    def __init__(self, chunks: ItemQueue, requests: ItemQueue, spec: FeatureSpec, vad: VADConfig,
                 asr_factory: Callable[[], ASREngine] | None, health: HealthMonitor, stop: threading.Event,
                 stats: StageStats, interval_s: float = 0.0, backoff: Backoff | None = None,
                 posted: Callable[[float], None] = lambda end: None, mute_after_s: float = 2.0,
                 fallback_interval_s: float = 3.0, featurizer: AudioFeaturizer | None = None) -> None:
        super().__init__(name="audio-perception", daemon=True)
        self.chunks, self.requests, self.spec, self.health, self.stop = chunks, requests, spec, health, stop
        self.stats, self.interval_s, self.posted = stats, interval_s, posted
        self.mute_after_s, self.fallback_interval_s = mute_after_s, fallback_interval_s
        self.rate, self.max_len = spec.audio.rate_hz, spec.audio.max_len
        self.window_s = self.max_len / self.rate
        # One utterance never outgrows one fusion window: longer speech is cut into pieces.
        self.vad = VoiceActivity(VADConfig(threshold=vad.threshold, min_speech_s=vad.min_speech_s,
                                           min_silence_s=vad.min_silence_s, speech_pad_s=vad.speech_pad_s,
                                           max_utterance_s=min(vad.max_utterance_s, self.window_s)))
        # An utterance still open at stream time P can only end after P - min_silence (its pause
        # would have closed it otherwise): the overlay may draw everything before that.
        self.vad_lag_s = vad.min_silence_s
        # the Python extractor, or one with the same push/reset backed by a bundle's front-end graph
        self.featurizer = featurizer or AudioFeaturizer()
        self.ring = TimedRing(self.max_len + round(5 * self.rate), spec.audio.dim)
        self.asr_factory, self.asr, self.backoff = asr_factory, None, backoff or Backoff()
        self._asr_retry_at = 0.0
        self._asr_active = False
        self._asr_error = ""
        self._recent = np.zeros(0, np.float32)  # the last PREROLL_S (+ one chunk) of samples
        self._origin: float | None = None
        self._samples = 0
        self._frames = 0
        self._last_tick = -math.inf
        self._signal_t = 0.0  # stream time of the end of the last chunk with signal
        self.position = -math.inf  # clock time up to which audio has been processed
        self.first_t = self.last_t = 0.0
        self.finished = False
        if asr_factory is not None:
            health.register(ASR, timeout_s=math.inf, state=OK)

    # ---- speech recognition, guarded: any engine failure masks text, never stops audio ----
    def _asr_call(self, fn, *args):
        try:
            with self.stats.time("asr_ms"):
                return fn(*args)
        except Exception as e:  # noqa: BLE001 - plugged-in engines may raise anything
            self._asr_error = f"speech recognition failed: {type(e).__name__}: {str(e)[:120]}"
            self.health.fail(ASR, e)
            self.asr, self._asr_active = None, False
            self._asr_retry_at = time.monotonic() + self.backoff.next_delay()
            return None

    def _ensure_asr(self) -> None:
        if self.asr is None and self.asr_factory is not None and time.monotonic() >= self._asr_retry_at:
            self.asr = self._asr_call(self.asr_factory)

    def _start_utterance(self, preroll: np.ndarray) -> None:
        self._asr_error = ""
        self._ensure_asr()
        if self.asr is None:
            return
        self._asr_active = True
        self._asr_call(self.asr.start)
        if self._asr_active:
            self._asr_call(self.asr.push, preroll)

    def _transcript(self) -> tuple[str | None, str, float]:
        """(text or None, why it is missing, ms spent finishing the decode); an engine with
        finish_detailed (Whisper) also leaves its confidence and encoder states in self.heard."""
        self.heard = None
        if self.asr_factory is None:
            return None, "speech recognition is off", 0.0
        if not self._asr_active:
            return None, self._asr_error or self.health.reason(ASR) or "speech recognition unavailable", 0.0
        t0 = time.perf_counter()
        detailed = getattr(self.asr, "finish_detailed", None)
        text = self._asr_call(detailed or self.asr.finish)
        if detailed is not None and text is not None:
            self.heard, text = text, text.text
        self._asr_active = False
        if text is None:
            return None, self._asr_error, (time.perf_counter() - t0) * 1e3
        self.health.beat(ASR)
        self.backoff.reset()
        return text, "", (time.perf_counter() - t0) * 1e3

    # ---- the stream ----
    def _restart(self, t: float) -> None:
        self._asr_active = False  # the utterance in flight is lost with the gap
        self.featurizer.reset()
        self.vad.reset()
        self._origin, self._samples, self._frames = t, 0, 0
        self._signal_t = self._last_tick = t

    def _post(self, req: WindowRequest) -> None:
        self.posted(req.end)
        self.requests.put(req, self.stop)

    def _utterance(self, start: float, end: float) -> None:
        detected = time.perf_counter()
        text, reason, finish_ms = self._transcript()
        times, rows, _ = self.ring.between(start, end)
        audio = fill_window(times, rows, np.ones(len(times), bool), start, end, self.rate, self.max_len)
        heard = self.heard
        self._post(WindowRequest("utterance", start, end, audio, transcript=text, text_reason=reason,
                                 text_confidence=heard.confidence if heard else 1.0,
                                 voice_states=heard.voice_states if heard else None,
                                 detected=detected, latency_ms={"asr_final_ms": finish_ms}))

    def _tick(self, muted: bool) -> None:
        end = self.position
        start = max(end - self.window_s, self._last_tick, self._signal_t if muted else -math.inf)
        if muted:
            reason = f"audio muted: no signal for {self.mute_after_s:g} s"
            self._post(WindowRequest("interval", start, end, None, audio_reason=reason))
        else:
            audio = fill_window(*self.ring.between(start, end), start, end, self.rate, self.max_len)
            self._post(WindowRequest("interval", start, end, audio))
        self._last_tick = end

    def process(self, chunk: AudioChunk) -> None:
        samples = chunk.samples
        if self._origin is None:
            self.first_t = chunk.t
        if self._origin is None or abs(chunk.t - (self._origin + self._samples / SAMPLE_RATE)) > RESYNC_S:
            self._restart(chunk.t)
        keep = len(samples) + round(PREROLL_S * SAMPLE_RATE)
        self._recent = np.concatenate([self._recent, samples])[-keep:]
        was_speech = self.vad.in_speech
        with self.stats.time("audio_features_ms"):
            frames = self.featurizer.push(samples)
        if self._asr_active:
            self._asr_call(self.asr.push, samples)
        with self.stats.time("vad_ms"):
            segments = self.vad.push(samples)
        speech = was_speech or self.vad.in_speech or bool(segments)
        times = self._origin + (self._frames + np.arange(len(frames))) / self.rate
        self.ring.append(times, frames, present=speech)
        self._frames += len(frames)
        self._samples += len(samples)
        self.position = self.last_t = self._origin + self._samples / SAMPLE_RATE
        for seg in segments:
            self._utterance(self._origin + seg.start_s, self._origin + seg.end_s)
        if self.vad.in_speech and not self._asr_active:
            self._start_utterance(self._recent)
        elif not self.vad.in_speech and not segments:
            self._asr_active = False  # a blip shorter than min_speech: abandoned, start() closes it
        if has_signal(samples):
            self._signal_t = self.position
        muted = self.position - self._signal_t > self.mute_after_s
        every = self.fallback_interval_s if muted else self.interval_s
        if every and self.position - self._last_tick >= every and not self.stop.is_set():
            self._tick(muted)

    def span(self) -> float:
        """Seconds of stream processed."""
        return self.last_t - self.first_t

    def _finish(self) -> None:
        for seg in self.vad.flush() if self._origin is not None else []:
            self._utterance(self._origin + seg.start_s, self._origin + seg.end_s)

    def prepare(self) -> None:
        """Build the decoder and load the VAD before the clock starts, not during the first utterance."""
        self._ensure_asr()
        self.vad.push(np.zeros(512, np.float32))
        self.vad.reset()

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                chunk = self.chunks.get(0.1)
                if chunk is None:
                    self._finish()
                    return
                if chunk is not TIMEOUT:
                    self.process(chunk)
        finally:
            self.position = math.inf
            self.finished = True
