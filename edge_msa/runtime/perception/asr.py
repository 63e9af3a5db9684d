"""Speech recognition behind a small protocol, so engines plug in; pocketsphinx is the default.

pocketsphinx ships an English acoustic model, dictionary and language model in its wheel, so the
default engine needs no download. Building its decoder takes ~0.2-0.4 s: create the engine once
and reuse it for every utterance (`default_engine()` does that). An engine is used from one
thread at a time. Anything an engine raises reaches the caller as ASRError, which the runtime
catches to mark the transcript missing instead of stopping.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from edge_msa.features.audio import SAMPLE_RATE, resample


class ASRError(RuntimeError):
    """The speech recogniser failed (bad model files, decoder error, misuse)."""


@runtime_checkable
class ASREngine(Protocol):
    """One utterance at a time: start(), push() 16 kHz float32 mono chunks, finish() -> text."""

    name: str

    def start(self) -> None: ...

    def push(self, pcm: np.ndarray) -> None: ...

    def finish(self) -> str: ...


class PocketsphinxASR:
    """CMU pocketsphinx with its packaged en-us model (or the files named in decoder_options)."""

    name = "pocketsphinx"

    def __init__(self, **decoder_options: str | float | int) -> None:
        try:
            from pocketsphinx import Decoder
        except ImportError:
            raise ASRError("pocketsphinx is not installed (pip install edge-msa[runtime])") from None
        options = {"samprate": SAMPLE_RATE, "loglevel": "FATAL", **decoder_options}
        try:
            self._decoder = Decoder(**options)
        except (RuntimeError, ValueError, KeyError) as e:
            raise ASRError(f"pocketsphinx could not load its model: {_first_line(e)}") from None
        self._active = False

    def start(self) -> None:
        if self._active:  # a previous utterance was abandoned: close it before the next one
            self._call(self._decoder.end_utt)
        self._call(self._decoder.start_utt)
        self._active = True

    def push(self, pcm: np.ndarray) -> None:
        if not self._active:
            raise ASRError("pocketsphinx: push() before start()")
        self._call(self._decoder.process_raw, _to_int16_bytes(pcm), False, False)

    def finish(self) -> str:
        if not self._active:
            raise ASRError("pocketsphinx: finish() before start()")
        self._active = False
        self._call(self._decoder.end_utt)
        hyp = self._decoder.hyp()
        return hyp.hypstr if hyp is not None else ""

    @staticmethod
    def _call(fn, *args):
        try:
            return fn(*args)
        except RuntimeError as e:
            raise ASRError(f"pocketsphinx: {_first_line(e)}") from None


@lru_cache(maxsize=1)
def default_engine() -> PocketsphinxASR:
    """The process-wide pocketsphinx engine (built on first use, then reused)."""
    return PocketsphinxASR()


def transcribe(wave: np.ndarray, sr: int = SAMPLE_RATE, engine: ASREngine | None = None) -> str:
    """Text of one utterance (float32 mono at sr; resampled to 16 kHz when needed)."""
    if sr != SAMPLE_RATE:
        wave = resample(wave, sr, SAMPLE_RATE)
    engine = engine or default_engine()
    try:
        engine.start()
        engine.push(np.asarray(wave, np.float32))
        return engine.finish()
    except ASRError:
        raise
    except Exception as e:  # a plugged-in engine's own failure: same contract for the caller
        raise ASRError(f"{getattr(engine, 'name', type(engine).__name__)}: {_first_line(e)}") from e


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / reference words, by word-level edit distance."""
    ref, hyp = reference.lower().split(), hypothesis.lower().split()
    row = list(range(len(hyp) + 1))  # distances from the empty reference prefix
    for i, r in enumerate(ref, 1):
        prev_diag, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev_diag, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev_diag + (r != h))
    return row[-1] / max(1, len(ref))


def read_sphinx_transcription(path: str | Path) -> dict[str, str]:
    """{file id: text} from a CMU Sphinx `transcription` file ("<s> words </s> (file id)" lines)."""
    out = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        m = re.match(r"^(?:<s>)?\s*(.*?)\s*(?:</s>)?\s*\(([^()]+)\)\s*$", line.strip())
        if m:
            out[m[2]] = m[1]
    return out


def _to_int16_bytes(pcm: np.ndarray) -> bytes:
    pcm = np.asarray(pcm, np.float32).reshape(-1)
    return (np.clip(pcm, -1.0, 1.0) * 32767.0).astype(np.int16).tobytes()


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
