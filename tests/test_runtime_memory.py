"""Memory stays flat over a 10-minute stream processed as fast as possible.

Synthetic sources replay real speech (the LibriVox fixtures, 1.2 s pauses) and small frames for
10 minutes; the exported tiny bundle scores every utterance; ASR is off and the face model is
replaced by a cheap per-frame statistic (this test is about the pipeline's buffers, queues and
sinks, not about what the models cost). RSS is sampled from /proc while the run goes on.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from runtime_helpers import run_pipeline, tiny_backend

from edge_msa.features.audio import SAMPLE_RATE
from edge_msa.features.media import read_audio
from edge_msa.features.spec import LIVE
from edge_msa.runtime.pipeline import Sensors
from edge_msa.runtime.sources.base import AudioChunk, VideoFrame

STREAM_S = 600.0
LIBRIVOX = Path(__file__).parent / "data" / "librivox"
PAGE = os.sysconf("SC_PAGE_SIZE")


class SpeechLoop:
    """Real sentences separated by 1.2 s of faint noise, repeated for `duration_s`, in 0.5 s chunks."""

    live, name = False, "speech-loop"

    def __init__(self, duration_s: float) -> None:
        rng = np.random.default_rng(0)
        pause = (rng.standard_normal(round(1.2 * SAMPLE_RATE)) * 1e-3).astype(np.float32)
        clips = [read_audio(p) for p in sorted(LIBRIVOX.glob("*.wav"))]
        self.cycle = np.concatenate([x for clip in clips for x in (clip, pause)])
        self.utterances_per_cycle = len(clips)
        self.duration_s = duration_s

    def stream(self, clock):
        step = SAMPLE_RATE // 2
        total = round(self.duration_s * SAMPLE_RATE)
        for start in range(0, total, step):
            i = start % len(self.cycle)
            chunk = np.take(self.cycle, np.arange(i, i + step), mode="wrap")
            yield AudioChunk(start / SAMPLE_RATE, chunk, SAMPLE_RATE)


class SmallFrames:
    live, name = False, "small-frames"

    def __init__(self, duration_s: float, fps: float = 10.0) -> None:
        self.duration_s, self.fps = duration_s, fps

    def stream(self, clock):
        for i in range(int(self.duration_s * self.fps)):
            yield VideoFrame(i / self.fps, np.full((48, 64, 3), i % 256, np.uint8))


class FrameStatistic:
    """Stands in for the face model: 55 numbers from the frame, 'no face' one frame in ten."""

    def process(self, frame, t):
        if round(t * 10) % 10 == 0:
            return None
        return np.full(LIVE.vision.dim, frame.mean() / 255.0, np.float32)


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs Linux /proc")
def test_memory_stays_flat_over_a_ten_minute_stream(tmp_path):
    backend = tiny_backend()
    audio, video = SpeechLoop(STREAM_S), SmallFrames(STREAM_S)
    samples: list[int] = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.1):
            samples.append(rss_bytes())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    summary, events = run_pipeline(
        Sensors(audio=audio, video=video), backend, tmp_path, asr_factory=None, face=FrameStatistic(),
        **{"sinks.overlay": str(tmp_path / "overlay.mp4"), "sinks.http.enabled": True, "sinks.http.port": 0,
           "scheduler.interval_s": 5.0})
    done.set()
    sampler.join()
    wall = time.perf_counter() - t0

    cycles = STREAM_S * SAMPLE_RATE / len(audio.cycle)
    utterances = [e for e in events if e.kind == "utterance"]
    assert summary.media_s == pytest.approx(STREAM_S, abs=1.0) and summary.errors == []
    assert len(utterances) >= 0.8 * cycles * audio.utterances_per_cycle  # it really processed speech
    assert sum(e.kind == "interval" for e in events) >= STREAM_S / 5.0 - 2
    # Flat: after the first fifth of the run (imports, warm-up, buffers filling), RSS grows < 50 MB.
    assert len(samples) >= 10
    warm = samples[len(samples) // 5]
    growth_mb = (max(samples[len(samples) // 5:]) - warm) / 2**20
    print(f"10 min of stream in {wall:.1f} s; RSS {warm / 2**20:.0f} MB after warm-up, "
          f"+{growth_mb:.1f} MB at most afterwards; {len(events)} events")
    assert growth_mb < 50
