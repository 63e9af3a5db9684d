"""What the Python API accepts besides audio arrays (`runtime.sources.arrays.as_16k_mono`): each
check returns the value in the form the pipeline takes, or raises `UserError` naming the rule.

The bounds are what one call can hold, not what a model needs: the model sees 64 tokens, 6 s of
voice and 6 s of face, and the rest of an input only costs time and memory.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from edge_msa.errors import UserError

MAX_TEXT_CHARS = 100_000  # the model reads the first 62 word pieces; a book is a mistake
MAX_UTTERANCE_S = 600.0  # one utterance's audio or frames; a longer recording: score_audio / score_file
MAX_FPS = 1000.0
MIN_SIDE, MAX_SIDE = 16, 8192  # frame height and width in pixels


def checked_text(text: object) -> str:
    """A sentence: a str (not bytes, not a list) of valid Unicode, up to MAX_TEXT_CHARS characters."""
    if not isinstance(text, str):
        hint = " (decode bytes first: text.decode('utf-8'))" if isinstance(text, bytes | bytearray) else ""
        raise UserError(f"text must be a str, got {type(text).__name__}{hint}")
    if len(text) > MAX_TEXT_CHARS:
        raise UserError(f"text is {len(text)} characters; one call takes at most {MAX_TEXT_CHARS}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:  # lone surrogates, e.g. from a bad decode
        raise UserError(f"text is not valid Unicode: {e.reason} at character {e.start}") from None
    return text


def checked_number(name: str, value: object, low: float, high: float) -> float:
    """A real number (not a bool), low < value <= high."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating) \
            or not low < value <= high:
        most = f" and at most {high:g}" if math.isfinite(high) else ""
        raise UserError(f"{name} must be a number above {low:g}{most}, got {value!r:.80}")
    return float(value)


def checked_frames(frames: Iterable[np.ndarray] | None, fps: float) -> list[np.ndarray]:
    """Face frames: HxWx3 uint8 BGR arrays (sides MIN_SIDE..MAX_SIDE) at `fps`, at most
    MAX_UTTERANCE_S of them; float frames are refused (with NaN/inf said first), never rescaled."""
    if frames is None:
        return []
    if isinstance(frames, np.ndarray) and frames.ndim != 4:
        raise UserError(f"frames must be a sequence of HxWx3 frames or an [N, H, W, 3] array, got shape "
                        f"{frames.shape}")
    try:
        frames = list(frames)
    except TypeError:
        raise UserError(f"frames must be a sequence of HxWx3 arrays, got {type(frames).__name__}") from None
    if len(frames) / fps > MAX_UTTERANCE_S:
        raise UserError(f"{len(frames)} frames at {fps:g} fps are {len(frames) / fps:.0f} s; one utterance "
                        f"takes at most {MAX_UTTERANCE_S:.0f} s (score a longer video with score_file)")
    return [_checked_frame(i, f) for i, f in enumerate(frames)]


def _checked_frame(i: int, frame: object) -> np.ndarray:
    try:
        f = np.asarray(frame)
    except (ValueError, TypeError) as e:
        raise UserError(f"frame {i} is not an array: {e}") from None
    if f.dtype.kind == "f" and not np.isfinite(f).all():
        raise UserError(f"frame {i} has NaN or inf values; frames are uint8 BGR 0..255")
    if f.dtype != np.uint8:
        raise UserError(f"frame {i} is {f.dtype}; frames are uint8 BGR 0..255 "
                        "(convert with np.clip(frame, 0, 255).astype(np.uint8))")
    if f.ndim != 3 or f.shape[2] != 3 or not all(MIN_SIDE <= side <= MAX_SIDE for side in f.shape[:2]):
        raise UserError(f"frame {i} has shape {f.shape}; frames are [H, W, 3] BGR with sides "
                        f"{MIN_SIDE}..{MAX_SIDE} pixels")
    return f


def checked_path(name: str, path: object) -> Path | None:
    """A file path (str or os.PathLike) or None."""
    if path is None:
        return None
    if not isinstance(path, str | os.PathLike) or isinstance(path, str) and not path:
        raise UserError(f"{name} must be a file path (str or pathlib.Path), got {path!r:.80}")
    return Path(path)


def checked_duration(duration_s: object) -> float | None:
    """None (until the inputs end) or a positive number of seconds (inf: the same as None)."""
    if duration_s is None:
        return None
    seconds = checked_number("duration_s", duration_s, 0.0, math.inf)
    return None if math.isinf(seconds) else seconds


def checked_device(name: str, device: object) -> str | None:
    """A camera or microphone: an index (int) or a name / device path / pipeline (str), or None."""
    if device is None:
        return None
    if isinstance(device, bool) or not isinstance(device, int | np.integer | str) or device == "":
        raise UserError(f"{name} must be an index (int) or a name (str), got {device!r:.80}")
    return str(device)
