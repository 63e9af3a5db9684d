from pathlib import Path

import numpy as np
import pytest

from edge_msa.features.media import read_audio
from edge_msa.runtime.perception.asr import (
    ASREngine,
    ASRError,
    PocketsphinxASR,
    default_engine,
    read_sphinx_transcription,
    transcribe,
    word_error_rate,
)

CLIPS = Path(__file__).parent / "data" / "librivox"
REFS = read_sphinx_transcription(CLIPS / "transcription")


def test_transcripts_are_read():
    assert len(REFS) == 5
    assert REFS["sense_and_sensibility_01_austen_64kb-0880"] == "he was not an ill disposed young man"


def test_word_error_rate_by_hand():
    assert word_error_rate("a b c d", "a b c d") == 0.0
    assert word_error_rate("a b c d", "a x c") == 0.5  # one substitution, one deletion
    assert word_error_rate("a b", "c a b d") == 1.0  # two insertions
    assert word_error_rate("He was", "he WAS") == 0.0


@pytest.mark.parametrize("name,sr", [("0880", 16000), ("0930", 44100)])
def test_pocketsphinx_recognises_librivox(name, sr):
    key = f"sense_and_sensibility_01_austen_64kb-{name}"
    wave = read_audio(CLIPS / f"{key}.wav", sr=sr)
    hyp = transcribe(wave, sr=sr)
    assert word_error_rate(REFS[key], hyp) < 0.5, hyp


def test_streamed_chunks_reuse_one_decoder():
    key = "sense_and_sensibility_01_austen_64kb-0930"
    wave = read_audio(CLIPS / f"{key}.wav")
    engine = default_engine()
    assert isinstance(engine, ASREngine) and default_engine() is engine  # built once, reused
    engine.start()
    for i in range(0, len(wave), 512):
        engine.push(wave[i : i + 512])
    streamed = engine.finish()
    assert word_error_rate(REFS[key], streamed) < 0.5, streamed


def test_silence_gives_empty_or_short_text():
    assert len(transcribe(np.zeros(16000, np.float32)).split()) <= 1


def test_engine_failures_are_reported_as_asr_error(tmp_path):
    with pytest.raises(ASRError, match="could not load its model"):
        PocketsphinxASR(hmm=str(tmp_path))  # an empty folder holds no acoustic model
    engine = default_engine()
    engine.start()
    engine.finish()
    with pytest.raises(ASRError, match="before start"):
        engine.push(np.zeros(160, np.float32))


class _CrashingEngine:
    """A plugged-in engine whose backend dies mid-utterance (e.g. a lost network ASR)."""

    name = "crashing"

    def start(self) -> None:
        pass

    def push(self, pcm: np.ndarray) -> None:
        raise ConnectionError("backend went away")

    def finish(self) -> str:
        return ""


def test_a_plugged_in_engine_crash_becomes_asr_error():
    with pytest.raises(ASRError, match="crashing: backend went away"):
        transcribe(np.zeros(1600, np.float32), engine=_CrashingEngine())
