"""The runtime's pocketsphinx options (a capped search and 2 Gaussians scored per frame, so the live
path fits one core) against the decoder without them, on the five LibriVox clips with exact
transcripts."""

from pathlib import Path

from edge_msa.features.media import read_audio
from edge_msa.runtime.config import RuntimeConfig
from edge_msa.runtime.perception.asr import (
    PocketsphinxASR,
    read_sphinx_transcription,
    transcribe,
    word_error_rate,
)

CLIPS = Path(__file__).parent / "data" / "librivox"


def corpus_wer(engine: PocketsphinxASR, refs: dict[str, str]) -> float:
    errors = sum(word_error_rate(text, transcribe(read_audio(CLIPS / f"{name}.wav"), engine=engine))
                 * len(text.split()) for name, text in refs.items())
    return errors / sum(len(text.split()) for text in refs.values())


def test_capped_search_keeps_the_word_error_rate():
    options = RuntimeConfig().asr.options
    assert options["maxhmmpf"] < 30000  # pocketsphinx's own cap: the runtime does cap the search
    assert options["topn"] < 4  # pocketsphinx's own default
    uncapped = {k: v for k, v in options.items() if k not in ("maxhmmpf", "topn")}
    refs = read_sphinx_transcription(CLIPS / "transcription")
    capped_wer = corpus_wer(PocketsphinxASR(**options), refs)
    full_wer = corpus_wer(PocketsphinxASR(**uncapped), refs)
    assert full_wer < 0.35  # the decoder works at all on read speech
    assert capped_wer <= full_wer + 0.02, (capped_wer, full_wer)
