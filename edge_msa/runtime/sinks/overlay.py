"""Annotated video: each frame with the latest event's label, score gauge, per-modality badges
(what text, voice and face alone say, coloured by sign and strength as on the dashboard; grey when
masked) and the transcript. H.264 MP4 via PyAV.

A frame at time t shows the newest event that ended at or before t, as a live viewer would have
seen it. When a file runs as fast as possible, frames wait (`ready_until`) until the pipeline
has decided every event ending before them, so the video is the same in fast and paced mode.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from pathlib import Path

import av
import cv2
import numpy as np

from edge_msa.errors import UserError
from edge_msa.runtime.events import EVENT_MODALITIES, SCALE_MAX, SentimentEvent, tone
from edge_msa.runtime.sources.base import TIMEOUT, ItemQueue, VideoFrame

LABEL_BGR = {"positive": (80, 200, 80), "neutral": (60, 200, 230), "negative": (70, 70, 230)}
GREY, WHITE, DARK, BADGE = (150, 150, 150), (255, 255, 255), (30, 30, 30), (122, 110, 84)
# evidence badges (BGR), by tone(): the dashboard's colours (dashboard.css .badge.positive.s1 ...)
TONE_BGR = {("positive", 1): (201, 230, 200), ("positive", 2): (106, 187, 102),
            ("positive", 3): (50, 125, 46), ("negative", 1): (210, 205, 255),
            ("negative", 2): (80, 83, 239), ("negative", 3): (40, 40, 198)}
NEUTRAL_BGR = (196, 243, 255)
FONT = cv2.FONT_HERSHEY_SIMPLEX
SUFFIXES = (".mp4", ".mkv", ".mov")  # containers that take H.264 from PyAV


def check_overlay_path(path: str | Path) -> None:
    """Refuse a file name PyAV cannot write H.264 into (the CLI calls it before anything loads)."""
    if Path(path).suffix.lower() not in SUFFIXES:
        raise UserError(f"overlay video must be .mp4, .mkv or .mov, got {Path(path).name}")


def _text(img: np.ndarray, text: str, org: tuple[int, int], scale: float, color, thick: int = 1) -> None:
    cv2.putText(img, text, org, FONT, scale, color, thick, cv2.LINE_AA)


def _shade(img: np.ndarray, y0: int, y1: int) -> None:
    """Darken a band of the frame so the drawing reads on any background."""
    band = img[max(0, y0) : max(0, y1)]
    band[:] = (band * 0.35).astype(np.uint8)


def _wrap(text: str, max_chars: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + len(word) + 1 > max_chars:
            lines.append(line)
            line = ""
        line = f"{line} {word}".strip()
    return lines + [line]


def badge_colours(score: float | None, scale: str) -> tuple[tuple, tuple]:
    """(fill, text) BGR of a used modality's badge: by what it alone says (no evidence: plain)."""
    if score is None:
        return BADGE, WHITE
    label, strength = tone(score, scale)
    if label == "neutral":
        return NEUTRAL_BGR, DARK
    return TONE_BGR[label, strength], DARK if strength == 1 else WHITE


def draw_overlay(image: np.ndarray, event: SentimentEvent | None, scale: str = "mosi") -> np.ndarray:
    """A copy of a BGR frame with the event drawn on it (`scale`: the label scale, mosi or sims)."""
    scale_max = SCALE_MAX.get(scale, SCALE_MAX["mosi"])
    img = image.copy()
    h, w = img.shape[:2]
    s = max(0.4, w / 960)  # text scale follows the frame size
    pad, line_h = max(4, int(12 * s)), int(34 * s)
    if event is None:
        _shade(img, 0, pad + line_h)
        _text(img, "waiting for speech...", (pad, pad + int(22 * s)), 0.8 * s, WHITE)
        return img
    color = LABEL_BGR.get(event.label, WHITE)
    top = pad + 3 * line_h + pad
    _shade(img, 0, top)
    _text(img, f"{event.label} {event.score:+.2f}", (pad, pad + int(26 * s)), 1.0 * s, color, 2)
    # gauge: -scale_max .. +scale_max, centre line, bar from the centre to the fused score
    x0, x1 = pad, min(w - pad, pad + int(420 * s))
    y0, y1 = pad + line_h + int(6 * s), pad + 2 * line_h - int(6 * s)
    cv2.rectangle(img, (x0, y0), (x1, y1), GREY, 1)
    mid = (x0 + x1) // 2
    frac = (min(max(event.score, -scale_max), scale_max) + scale_max) / (2 * scale_max)
    xs = int(x0 + frac * (x1 - x0))
    cv2.rectangle(img, (min(mid, xs), y0 + 1), (max(mid, xs), y1 - 1), color, -1)
    cv2.line(img, (mid, y0 - 2), (mid, y1 + 2), WHITE, 1)
    # badges: one per modality, filled when the fused score used it, coloured by what it alone says
    bx, by0, by1 = pad, pad + 2 * line_h, pad + 3 * line_h - int(4 * s)
    for m in EVENT_MODALITIES:
        ev = event.evidence.get(m)
        alone = ev.score if ev and ev.present and ev.score is not None else None
        label = m + (f" {alone:+.1f}" if alone is not None else " --")
        (tw, _), _ = cv2.getTextSize(label, FONT, 0.7 * s, 1)
        used = event.modalities.get(m, False)
        fill, ink = badge_colours(alone, scale) if used else (GREY, GREY)
        cv2.rectangle(img, (bx, by0), (bx + tw + 2 * pad, by1), fill, -1 if used else 1)
        _text(img, label, (bx + pad, by1 - int(9 * s)), 0.7 * s, ink)
        bx += tw + 3 * pad
    if event.transcript:  # the last two lines of what was said, at the bottom
        lines = _wrap(event.transcript, max(10, int(w / (16 * s))))[-2:]
        _shade(img, h - pad - len(lines) * line_h, h)
        for i, text in enumerate(lines):
            _text(img, text, (pad, h - pad - (len(lines) - 1 - i) * line_h - int(8 * s)), 0.75 * s, WHITE)
    return img


class OverlaySink:
    """Frames in (`frame`), events in (`emit`); a writer thread draws and encodes."""

    def __init__(self, path: str | Path, fps: float = 30.0, scale: str = "mosi",
                 drop_oldest: bool = True, ready_until: Callable[[], float] | None = None,
                 queue_size: int = 32) -> None:
        self.path = Path(path)
        check_overlay_path(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fps, self.scale = max(1.0, fps), scale
        self._ready_until = ready_until or (lambda: math.inf)
        self._queue = ItemQueue(queue_size, drop_oldest=drop_oldest)
        self._events: list[SentimentEvent] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._container = self._stream = None
        self._last_pts = -1
        self._t0: float | None = None
        self.frames_written = 0
        self.error = ""  # why writing stopped (frames are then consumed and dropped: never block the run)
        self._thread = threading.Thread(target=self._write_loop, name="overlay-sink", daemon=True)
        self._thread.start()

    def emit(self, event: SentimentEvent) -> None:
        with self._lock:
            self._events.append(event)

    def frame(self, frame: VideoFrame) -> None:
        self._queue.put(frame, self._stop)

    def _event_at(self, t: float) -> SentimentEvent | None:
        with self._lock:
            done = [e for e in self._events if e.end <= t]
            if not done:
                return None
            latest = max(done, key=lambda e: e.end)
            self._events = [e for e in self._events if e.end >= latest.end]  # older ones never show again
            return latest

    def _open(self, h: int, w: int) -> None:
        self._container = av.open(str(self.path), mode="w")
        self._stream = self._container.add_stream("libx264", rate=round(self.fps))
        self._stream.width, self._stream.height = w - w % 2, h - h % 2  # yuv420p needs even sizes
        self._stream.pix_fmt = "yuv420p"
        self._stream.options = {"preset": "veryfast"}  # keeps up with a live camera on a small CPU

    def _write(self, frame: VideoFrame) -> None:
        if self._container is None:
            self._open(*frame.image.shape[:2])
            self._t0 = frame.t
        pts = round((frame.t - self._t0) * round(self.fps))
        if pts <= self._last_pts:  # two frames on one tick (live jitter): keep the first
            return
        img = draw_overlay(frame.image, self._event_at(frame.t), self.scale)
        img = np.ascontiguousarray(img[: self._stream.height, : self._stream.width])
        out = av.VideoFrame.from_ndarray(img, format="bgr24")
        out.pts, self._last_pts = pts, pts
        for packet in self._stream.encode(out):
            self._container.mux(packet)
        self.frames_written += 1

    def _write_loop(self) -> None:
        while True:
            item = self._queue.get(0.1)
            if item is None:
                break
            if item is TIMEOUT:
                continue
            while item.t > self._ready_until() and not self._stop.is_set() and not self.error:
                self._stop.wait(0.01)
            if not self.error:
                try:
                    self._write(item)
                except (av.FFmpegError, OSError) as e:
                    self.error = f"overlay {self.path}: {e}"

    def close(self) -> None:
        """Write what is queued (everything is decided now), finish the file."""
        self._ready_until = lambda: math.inf
        self._queue.close()
        self._thread.join()
        if self._container is None:
            return
        try:  # the encoder's last packets and the trailer are writes too: a full disk fails here
            try:
                if not self.error:
                    for packet in self._stream.encode(None):
                        self._container.mux(packet)
            finally:
                self._container.close()
        except (av.FFmpegError, OSError) as e:
            self.error = self.error or f"overlay {self.path}: {e}"
