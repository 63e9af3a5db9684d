"""A media file as a sensor: its audio track as a microphone, its video track as a camera.

Any container FFmpeg decodes (mp4, mkv, webm, flv, wav, flac, mp3, ...) at any sample rate:
`runtime.media` resamples audio to 16 kHz mono. Items carry media time (seconds from the start of
the file); the runner paces them in real time or lets them run as fast as possible.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from edge_msa.features import media
from edge_msa.features.audio import SAMPLE_RATE
from edge_msa.runtime.clock import Clock
from edge_msa.runtime.sources.base import AudioChunk, VideoFrame


class FileAudioSource:
    live = False

    def __init__(self, path: str | Path, chunk_s: float = 0.032, name: str = "audio-file") -> None:
        self.path, self.chunk_s, self.name = Path(path), chunk_s, name

    def stream(self, clock: Clock) -> Iterator[AudioChunk]:
        for t, samples in media.iter_audio_chunks(self.path, SAMPLE_RATE, self.chunk_s):
            yield AudioChunk(t, samples, SAMPLE_RATE)


class FileVideoSource:
    live = False

    def __init__(self, path: str | Path, name: str = "video-file") -> None:
        self.path, self.name = Path(path), name

    def stream(self, clock: Clock) -> Iterator[VideoFrame]:
        for t, image in media.iter_video_frames(self.path):
            yield VideoFrame(t, image)
