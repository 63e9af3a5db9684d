"""Whisper speech recognition (faster-whisper / CTranslate2, local model) behind the ASREngine protocol.

Whisper is trained on 30 s windows and faster-whisper pads every call to 30 s, which costs ~0.85 s
of encoder time per utterance with tiny.en on one thread whatever the utterance's length. Here the
encoder sees the utterance followed by as much of faster-whisper's own padding value (log-mel 0)
as it holds speech (at least 1 s), and the decoder runs with timestamps: it closes the segment
with an end timestamp, and decoding stops at the first segment that would start less than
MIN_SEGMENT_S before the end of the speech. Without padding and timestamps the decoder does not
stop: it repeats the sentence until max_length (LibriVox: WER > 200 %). With 1 s of padding it
stops on every LibriVox clip, but repeats a sentence inside two sentences said twice; padding as
long as the speech fixed that (bench/bench_speech.py; docs/perception.md).

The same utterance's encoder states WITHOUT the padding (`encode_short`) are returned as
`voice_states` for the Whisper voice expert: one more encoder pass over the unpadded log-mel,
because the padding changes every state (the encoder attends over the whole input).

Confidence (0..1) = exp(average token log-probability) x (1 - no-speech probability): the
geometric mean of the decoder's token probabilities, discounted by Whisper's own estimate that
the audio holds no speech. When no-speech > 0.6 and the average log-probability < -1 (faster-
whisper's silence rule), the text is dropped: what Whisper "hears" in noise is a guess.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from edge_msa.errors import UserError, first_line
from edge_msa.features import whisper as W
from edge_msa.runtime.perception.asr import ASRError

MIN_PAD_FRAMES = 100  # padding after the speech: as long as the speech, at least 1 s (log-mel frames)
PAD_VALUE = 0.0  # what faster-whisper pads its 30 s windows with
MIN_SEGMENT_S = 0.5  # a new segment starting later than this before the end holds no speech
TIME_PRECISION = 0.02  # seconds per timestamp token
MAX_TOKENS = 16  # decoding cap: 16 + 8 tokens per second of audio (fast speech: ~5 per second)
TOKENS_PER_S = 8
NO_SPEECH = 0.6  # faster-whisper's defaults: no-speech above this with a low average
LOW_LOGPROB = -1.0  # log-probability means silence, not words


@dataclass(frozen=True)
class Transcript:
    """One utterance as Whisper heard it."""

    text: str
    confidence: float  # 0..1, see the module docstring
    voice_states: np.ndarray | None  # encoder states [frames at 50 Hz, d] of the unpadded utterance


COMPUTE_TYPE = "int8"  # CTranslate2's int8 weights on the CPU (the measured WER and cost are for it)


class WhisperASR:
    """A Whisper model from a local folder (None: the packaged tiny.en); decodes at finish()."""

    name = "whisper"

    def __init__(self, model: str | Path | None = None, threads: int = 1,
                 compute_type: str = COMPUTE_TYPE) -> None:
        try:
            folder = None if model is None else W.whisper_model_dir(model)
            self._model = W.load_whisper(folder, threads, compute_type)
        except UserError as e:
            raise ASRError(str(e)) from None
        self._chunks: list[np.ndarray] | None = None

    def start(self) -> None:
        self._chunks = []

    def push(self, pcm: np.ndarray) -> None:
        if self._chunks is None:
            raise ASRError("whisper: push() before start()")
        self._chunks.append(np.asarray(pcm, np.float32).reshape(-1).copy())

    def finish(self) -> str:
        return self.finish_detailed().text

    def finish_detailed(self) -> Transcript:
        if self._chunks is None:
            raise ASRError("whisper: finish() before start()")
        wave = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.float32)
        self._chunks = None
        try:
            return self._decode(wave)
        except (RuntimeError, ValueError) as e:  # CTranslate2 reports its failures as these
            raise ASRError(f"whisper: {first_line(e)}") from e

    def _decode(self, wave: np.ndarray) -> Transcript:
        mel = W.log_mel(self._model, wave)
        piece = W.MAX_FRAMES // 2  # 15 s of speech + as much padding fill one 30 s encoder window
        texts, logprob_sum, tokens, no_speech = [], 0.0, 0, 1.0
        for i in range(0, mel.shape[1], piece):
            part = mel[:, i : i + piece]
            pad = max(MIN_PAD_FRAMES, part.shape[1])
            padded = np.pad(part, ((0, 0), (0, pad)), constant_values=PAD_VALUE)
            speech_s = part.shape[1] / W.FRAMES_PER_SECOND
            text, avg_logprob, piece_no_speech, n = self._generate(padded, speech_s)
            texts.append(text)
            logprob_sum, tokens = logprob_sum + avg_logprob * n, tokens + n
            no_speech = min(no_speech, piece_no_speech)  # one piece with speech: the utterance has speech
        avg = logprob_sum / max(1, tokens)
        text = " ".join(t for t in texts if t)
        if no_speech > NO_SPEECH and avg < LOW_LOGPROB:
            text = ""
        confidence = math.exp(avg) * (1.0 - no_speech) if tokens else 0.0
        return Transcript(text, float(np.clip(confidence, 0.0, 1.0)), W.encode_log_mel(self._model, mel))

    def _generate(self, mel: np.ndarray, speech_s: float) -> tuple[str, float, float, int]:
        """(text, average log-probability, no-speech probability, tokens generated) of one padded piece."""
        whisper = self._model.model
        encoded = W.encode_storage(self._model, mel)
        language = whisper.detect_language(encoded)[0][0][0].strip("<|>") if whisper.is_multilingual else "en"
        tok = _tokenizer(self._model, language)
        result = whisper.generate(
            encoded,
            [list(tok.sot_sequence)],  # no <|notimestamps|>: the end timestamp is the stop signal
            beam_size=1,
            max_length=MAX_TOKENS + math.ceil(TOKENS_PER_S * speech_s),
            return_scores=True,
            return_no_speech_prob=True,
        )[0]
        ids = result.sequences_ids[0]
        # the score is the summed log-probability divided by the length (length_penalty 1)
        text = tok.decode(_until_audio_ends(ids, tok, speech_s)).strip()
        return text, result.scores[0], result.no_speech_prob, len(ids)


def _until_audio_ends(ids: list[int], tok, speech_s: float) -> list[int]:
    """The text tokens before the first segment that starts where too little audio is left.

    Timestamps come in pairs between segments (end, next start); a start later than
    speech_s - MIN_SEGMENT_S can only be the decoder repeating itself past the end of the audio."""
    text, after_timestamp = [], False
    for t in ids:
        if t >= tok.timestamp_begin:
            start_s = (t - tok.timestamp_begin) * TIME_PRECISION
            if after_timestamp and start_s > speech_s - MIN_SEGMENT_S:
                break
            after_timestamp = True
        elif t < tok.eot:
            text.append(t)
            after_timestamp = False
    return text


@lru_cache(maxsize=8)
def _tokenizer(model, language: str):
    from faster_whisper.tokenizer import Tokenizer

    return Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=language)
