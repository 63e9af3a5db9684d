"""Shared by the runtime tests: test media cut from the demo clip, a tiny model backend, fault injectors.

The fault injectors wrap REAL sources and engines (the demo clip's tracks, pocketsphinx) and break
them the way hardware breaks: a camera unplugged mid-stream, a microphone muted, an ASR engine
that raises.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from edge_msa.features.media import demo_clip_path
from edge_msa.features.spec import LIVE
from edge_msa.runtime.config import RuntimeConfig
from edge_msa.runtime.perception.asr import ASRError, PocketsphinxASR
from edge_msa.runtime.pipeline import Pipeline, Sensors
from edge_msa.runtime.sinks.jsonl import read_jsonl
from edge_msa.runtime.sources.base import AudioChunk, SourceLost

SR = 16000
AUDIO_FILES = {".wav": ("wav", "pcm_s16le"), ".flac": ("flac", "flac"), ".mp3": ("mp3", "libmp3lame")}


def decode_demo(until_s: float) -> tuple[list[np.ndarray], float, np.ndarray]:
    """(BGR frames, fps, 16 kHz mono audio) of the first `until_s` seconds of the demo clip."""
    from edge_msa.features import media

    info = media.probe(demo_clip_path())
    frames = [img for t, img in media.iter_video_frames(demo_clip_path()) if t < until_s]
    wave = media.read_audio(demo_clip_path(), SR)[: round(until_s * SR)]
    return frames, info.fps, wave


def write_media(path: Path, frames: list[np.ndarray] | None, fps: float, wave: np.ndarray | None,
                sr: int = SR) -> Path:
    """An MP4/MKV with H.264 video and/or AAC audio, or an audio-only WAV / FLAC / MP3."""
    fmt, codec = AUDIO_FILES.get(path.suffix, (None, "aac"))
    with av.open(str(path), "w", format=fmt) as out:
        v = a = None
        if frames:
            v = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
            v.height, v.width = frames[0].shape[:2]
            v.pix_fmt = "yuv420p"
            v.options = {"preset": "ultrafast"}
        if wave is not None:
            a = out.add_stream(codec, rate=sr, layout="mono")
        for i, img in enumerate(frames or []):
            frame = av.VideoFrame.from_ndarray(img, format="bgr24")
            frame.pts = i
            out.mux(v.encode(frame))
        if a is not None:
            step = 1024
            for i in range(0, len(wave), step):
                chunk = av.AudioFrame.from_ndarray(wave[None, i:i + step].astype(np.float32), format="flt",
                                                   layout="mono")
                chunk.sample_rate, chunk.pts = sr, i
                out.mux(a.encode(chunk))
            out.mux(a.encode(None))
        if v is not None:
            out.mux(v.encode(None))
    return path


@functools.lru_cache(maxsize=1)
def tiny_bundle() -> Path:
    """A real int8 ONNX bundle of a tiny (untrained) live-spec model, exported once per test session."""
    import torch

    from edge_msa.models import create_model
    from edge_msa.train.run import save_run
    from edge_msa.workflows.export_run import export_run

    root = Path(tempfile.mkdtemp(prefix="edge-msa-runtime-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    torch.manual_seed(0)
    save_run(root / "run", create_model("mean_pool_mlp-tiny", LIVE), {"data": {"dataset": "synthetic"}})
    export_run(root / "run", "onnx-cpu-int8", root / "bundle", progress=False)
    return root / "bundle"


def tiny_backend():
    from edge_msa.runtime.backends import load_backend

    return load_backend(tiny_bundle(), "auto", threads=1)


class CountingBackend:
    """Counts the calls to a real backend (how many model runs an event costs)."""

    def __init__(self, inner) -> None:
        self.inner, self.calls = inner, 0

    def predict(self, inputs):
        self.calls += 1
        return self.inner.predict(inputs)


# ---- fault injection ----
class UnpluggedCamera:
    """A live camera (really: a file's video track) pulled out at `unplug_at_s`; it never comes back."""

    live = True
    name = "camera"

    def __init__(self, inner, unplug_at_s: float) -> None:
        self.inner, self.unplug_at_s, self.opens = inner, unplug_at_s, 0

    def stream(self, clock):
        self.opens += 1
        if self.opens > 1:
            raise SourceLost("cannot open camera 0")
        for frame in self.inner.stream(clock):
            if frame.t >= self.unplug_at_s:
                raise SourceLost("camera 0 returned no frame")
            yield frame


class MutedMic:
    """An audio source whose samples become digital silence from `mute_at_s` on."""

    def __init__(self, inner, mute_at_s: float) -> None:
        self.inner, self.mute_at_s = inner, mute_at_s
        self.live, self.name = inner.live, inner.name

    def stream(self, clock):
        for chunk in self.inner.stream(clock):
            keep = int(max(0.0, self.mute_at_s - chunk.t) * chunk.sr)
            samples = chunk.samples.copy()
            samples[keep:] = 0.0
            yield AudioChunk(chunk.t, samples, chunk.sr)


class BrokenASR(PocketsphinxASR):
    """pocketsphinx whose decoder crashes at the end of its first `failures` utterances."""

    failures_left = 0

    def finish(self) -> str:
        text = super().finish()
        if BrokenASR.failures_left > 0:
            BrokenASR.failures_left -= 1
            raise ASRError("pocketsphinx: decoder crashed")
        return text


def pocketsphinx() -> PocketsphinxASR:
    """The engine the runtime builds from its default config."""
    return PocketsphinxASR(**RuntimeConfig().asr.options)


def run_pipeline(sensors: Sensors, backend, tmp_path: Path, *, asr_factory=pocketsphinx, face=None,
                 fast: bool = True, **overrides):
    """Run to the end of the files; returns (summary, events read back from the JSONL sink)."""
    out = tmp_path / "events.jsonl"
    config = RuntimeConfig().with_overrides(**{
        "sinks.console": "off", "sinks.jsonl": str(out), "health.backoff_initial_s": 0.01,
        "health.backoff_max_s": 0.05, **overrides})
    pipeline = Pipeline(backend, LIVE, config, sensors, fast=fast, asr_factory=asr_factory,
                        face_featurizer=face)
    summary = pipeline.run(duration_s=120)
    return summary, read_jsonl(out)
