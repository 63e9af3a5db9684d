"""Decode any audio/video file with PyAV (FFmpeg): probe, whole audio, audio chunks, video frames.

One reader for every container FFmpeg knows (wav, flac, mp3, mp4, mkv, webm, flv, ...), used by
dataset readers and by the runtime's media-file source (a file stands in for mic + camera).
Audio comes out as float32 mono (the mean of the channels) at the requested rate, resampled by
FFmpeg's swresample, which also works on a stream. Streams without a decoder (the data track of
an FLV) are ignored. Every failure (missing, corrupt, unsupported file, no such stream) is a
one-line UserError.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from edge_msa.errors import UserError


@dataclass(frozen=True)
class MediaInfo:
    has_audio: bool
    has_video: bool
    duration_s: float  # 0 when the container does not say
    fps: float  # 0 without video
    width: int
    height: int
    sample_rate: int  # native rate of the audio stream; 0 without audio


@contextmanager
def _container(path: str | Path) -> Iterator[av.container.InputContainer]:
    """Open for reading; turn every FFmpeg error, also while decoding, into a UserError."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{'not a file' if path.exists() else 'no such media file'}: {path}")
    try:
        container = av.open(str(path), mode="r")
    except (av.FFmpegError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read {path}: {_reason(e)}") from None
    try:
        yield container
    except av.FFmpegError as e:
        raise UserError(f"cannot decode {path}: {_reason(e)}") from None
    finally:
        container.close()


def _reason(e: Exception) -> str:
    return getattr(e, "strerror", None) or str(e).splitlines()[0]


def file_problem(path: str | Path) -> str:
    """Why `path` cannot be opened as a media file ("" when it can be tried): missing, not a file,
    or a name the system refuses (too long, a NUL byte). A per-file reason, never an exception."""
    try:
        p = Path(path)
        if p.is_file():
            return ""
        return "not a file" if p.exists() else "missing file"
    except (OSError, ValueError) as e:
        return f"cannot open: {getattr(e, 'strerror', None) or e}"


END_SLACK_S = 0.5  # a labelled segment may end this far after the audio (annotation times rounded up)


def span_problem(start_s: float, end_s: float, first_s: float, last_s: float) -> str:
    """Why a segment [start_s, end_s) cannot be cut from media that runs first_s..last_s ("" if it can).

    A segment beyond the end is usually a manifest in milliseconds, so the reason says so."""
    if start_s >= last_s:
        return f"segment starts at {start_s:g} s, after the end of the audio ({last_s:.2f} s)"
    if end_s > last_s + END_SLACK_S:
        return (f"segment ends at {end_s:g} s, after the end of the audio ({last_s:.2f} s): times are in "
                "seconds (milliseconds by mistake?)")
    if end_s <= first_s:
        return f"segment ends at {end_s:g} s, before the audio starts ({first_s:.2f} s)"
    return ""


def _stream(container, kind: str):
    """The first decodable stream of a kind ('audio' or 'video'), or None."""
    for s in container.streams:
        if s.type == kind and s.codec_context is not None:
            return s
    return None


def probe(path: str | Path) -> MediaInfo:
    """What a file holds, without decoding it."""
    with _container(path) as c:
        a, v = _stream(c, "audio"), _stream(c, "video")
        if a is None and v is None:
            raise UserError(f"{path} has no audio or video stream that FFmpeg can decode")
        duration = c.duration / av.time_base if c.duration else 0.0
        if not duration:
            duration = max((float(s.duration * s.time_base) for s in (a, v) if s and s.duration), default=0.0)
        return MediaInfo(
            has_audio=a is not None,
            has_video=v is not None,
            duration_s=float(duration),
            fps=float(v.average_rate or v.guessed_rate or 0) if v else 0.0,
            width=v.codec_context.width if v else 0,
            height=v.codec_context.height if v else 0,
            sample_rate=a.codec_context.sample_rate if a else 0,
        )


def _audio_blocks(container, path: Path, sr: int) -> Iterator[tuple[float, np.ndarray]]:
    """(time of the first block, blocks of float32 mono samples at sr) as FFmpeg decodes them."""
    stream = _stream(container, "audio")
    if stream is None:
        raise UserError(f"{path} has no audio stream")
    # Keep the file's channels and average them here: swresample's own downmix to mono sums them
    # (with centre/surround gains), so one signal on both stereo channels came out 1.41x as loud.
    resampler = av.AudioResampler(format="fltp", layout=None, rate=sr)
    t0 = None
    for frame in container.decode(stream):
        if t0 is None:
            t0 = float(frame.time or 0.0)
        for out in resampler.resample(frame):
            yield t0, _mono(out)
    for out in resampler.resample(None):  # flush the resampler's delay line
        yield t0 or 0.0, _mono(out)


def _mono(frame: av.AudioFrame) -> np.ndarray:
    """The mean of a planar float frame's channels ([channels, samples] -> [samples])."""
    return frame.to_ndarray().mean(axis=0, dtype=np.float32)


def read_audio(path: str | Path, sr: int = 16000) -> np.ndarray:
    """The whole first audio stream as float32 mono at sr Hz."""
    with _container(path) as c:
        blocks = [b for _, b in _audio_blocks(c, Path(path), sr)]
    return np.concatenate(blocks).astype(np.float32) if blocks else np.zeros(0, np.float32)


def iter_audio_chunks(path: str | Path, sr: int = 16000, chunk_s: float = 0.032
                      ) -> Iterator[tuple[float, np.ndarray]]:
    """(t_start_s, chunk) with chunks of round(chunk_s * sr) samples, like a microphone would give.

    Times are on the file's clock (first audio sample at its presentation time); the last chunk
    may be shorter.
    """
    size = max(1, round(chunk_s * sr))
    with _container(path) as c:
        pending = np.zeros(0, np.float32)
        emitted = 0
        t0 = 0.0
        for t0, block in _audio_blocks(c, Path(path), sr):
            pending = np.concatenate([pending, block])
            while len(pending) >= size:
                yield t0 + emitted / sr, pending[:size]
                pending = pending[size:]
                emitted += size
        if len(pending):
            yield t0 + emitted / sr, pending


def iter_video_frames(path: str | Path, fps: float | None = None) -> Iterator[tuple[float, np.ndarray]]:
    """(t_s, frame BGR uint8 [H, W, 3]) for the first video stream; fps thins frames on a fixed grid."""
    if fps is not None and fps <= 0:
        raise UserError(f"fps must be positive, got {fps}")
    with _container(path) as c:
        stream = _stream(c, "video")
        if stream is None:
            raise UserError(f"{path} has no video stream")
        stream.thread_type = "AUTO"
        rate = float(stream.average_rate or stream.guessed_rate or 30)
        next_t = None
        for i, frame in enumerate(c.decode(stream)):
            t = float(frame.time) if frame.time is not None else i / rate
            if fps is not None:
                if next_t is not None and t < next_t - 1e-6:
                    continue
                next_t = (next_t if next_t is not None else t) + 1.0 / fps
                while next_t <= t:  # after a gap, stay on the grid instead of bursting
                    next_t += 1.0 / fps
            yield t, frame.to_ndarray(format="bgr24")


def demo_clip_path() -> Path:
    """The clip this package ships (edge_msa/assets/demo: six CREMA-D takes of one actor)."""
    return Path(__file__).resolve().parents[1] / "assets" / "demo" / "crema_d_1001_six_emotions.mp4"
