"""The Whisper voice expert: pooled features, the shipped weights' calibration, the per-person baseline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_msa.errors import UserError
from edge_msa.features.whisper_voice import SAMPLES_PER_STATE, pooled_voice_features, speech_frames
from edge_msa.runtime.voice_expert import DEFAULT_WEIGHTS, SpeakerBaseline, WhisperVoiceExpert

LIBRIVOX = Path(__file__).parent / "data" / "librivox"


def test_pooled_features_are_mean_and_std_over_speech_frames():
    rng = np.random.default_rng(0)
    states = rng.normal(size=(50, 8)).astype(np.float32)
    states[:10] += 100.0  # the first 10 frames: silence below
    wave = np.concatenate([np.zeros(10 * SAMPLES_PER_STATE), 0.1 * rng.normal(size=40 * SAMPLES_PER_STATE)])
    assert speech_frames(wave, 50).tolist() == [False] * 10 + [True] * 40
    pooled = pooled_voice_features(states, wave)
    assert pooled.shape == (16,) and pooled.dtype == np.float32
    np.testing.assert_allclose(pooled, np.concatenate([states[10:].mean(0), states[10:].std(0)]), rtol=1e-5)
    everything = pooled_voice_features(states)  # no audio: every frame
    np.testing.assert_allclose(everything[:8], states.mean(0), rtol=1e-5)
    # gain does not move the speech frames: the threshold is relative to the loudest frame
    assert speech_frames(0.05 * wave, 50).tolist() == speech_frames(wave, 50).tolist()
    with pytest.raises(UserError):
        pooled_voice_features(np.zeros((0, 8)))


def test_baseline_shrinks_toward_the_prior_then_learns_the_person():
    dim, k = 4, 5.0
    baseline = SpeakerBaseline(np.zeros(dim), np.ones(dim), prior_utterances=k)
    person = np.random.default_rng(1).normal(3.0, 2.0, size=(2000, dim))
    baseline.update(person[0])
    np.testing.assert_allclose(baseline.mean, person[0] / (k + 1))  # one utterance moves it 1/(k+1)
    np.testing.assert_allclose(baseline.std, np.ones(dim))  # one utterance says nothing about spread
    for x in person[1:]:
        baseline.update(x)
    np.testing.assert_allclose(baseline.mean, 3.0, atol=0.15)
    np.testing.assert_allclose(baseline.std, 2.0, atol=0.15)
    baseline.reset()
    assert baseline.n == 0
    np.testing.assert_allclose(baseline.mean, 0.0)
    np.testing.assert_allclose(baseline.std, 1.0)


def test_enrol_sets_the_person_prior_and_reset_keeps_it():
    baseline = SpeakerBaseline(np.zeros(3), np.ones(3), prior_utterances=2.0)
    baseline.update(np.full(3, 50.0))
    baseline.enrol([np.full(3, 3.0), np.full(3, 5.0)])
    assert baseline.n == 0  # the 50 heard before is forgotten
    np.testing.assert_allclose(baseline.mean, 4.0)  # the enrolled neutral voice
    np.testing.assert_allclose(baseline.std, 1.0)  # spread: still the prior's
    baseline.update(np.full(3, 7.0))
    np.testing.assert_allclose(baseline.mean, (2 * 4.0 + 7.0) / 3)  # shrunk toward the enrolled mean
    baseline.reset()
    np.testing.assert_allclose(baseline.mean, 4.0)
    with pytest.raises(UserError):
        baseline.enrol([])
    with pytest.raises(UserError):
        baseline.update(np.zeros(5))


def test_shipped_weights_load_and_refuse_bad_input(tmp_path):
    expert = WhisperVoiceExpert.load()
    assert expert.dim == 768 and expert.error > 0 and expert.prior_utterances > 0
    with pytest.raises(UserError):
        expert.evidence(np.zeros(10))
    with pytest.raises(UserError):
        WhisperVoiceExpert.load(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(UserError):
        WhisperVoiceExpert.load(bad)
    assert DEFAULT_WEIGHTS.is_file()


def test_narration_reads_neutral():
    """Mean voice score of the five LibriVox clips (calm English read speech) within +-0.5, scored
    with no baseline and through one session's running baseline. The prior mean IS these clips'
    mean (the recipe's neutral reference), so this checks the calibration chain, not transfer."""
    pytest.importorskip("faster_whisper", reason="the whisper extra is not installed")
    from edge_msa.features.media import read_audio
    from edge_msa.features.whisper import SAMPLE_RATE, encode_short, load_whisper

    try:
        model = load_whisper()
    except UserError as e:
        pytest.skip(f"the Whisper model is not installed: {e}")
    expert = WhisperVoiceExpert.load()
    baseline = expert.new_baseline()
    cold, session = [], []
    for path in sorted(LIBRIVOX.glob("*.wav")):
        wave = read_audio(path, SAMPLE_RATE)
        features = pooled_voice_features(encode_short(model, wave), wave)
        cold.append(expert.evidence(features)[0])
        session.append(expert.evidence(features, baseline)[0])
        baseline.update(features)
    assert len(cold) == 5 and baseline.n == 5
    assert abs(np.mean(cold)) <= 0.5, f"narration reads {np.mean(cold):+.2f} with no baseline"
    assert abs(np.mean(session)) <= 0.5, f"narration reads {np.mean(session):+.2f} through a session"


def test_the_voice_fit_refuses_a_bad_recipe_or_output_before_the_work(tmp_path, capsys, monkeypatch):
    """Each refusal is one line and exit 2, before any Whisper feature is computed (the fit is
    replaced by a failure: reaching it would mean the check came too late)."""
    from edge_msa.train import whisper_voice

    monkeypatch.setattr(whisper_voice, "fit", lambda *a: pytest.fail("the work started"))
    data = tmp_path / "data"
    (data / "speech" / "librivox").mkdir(parents=True)
    (data / "speech" / "librivox" / "a.wav").write_bytes(b"")
    cases = {"cs: [-1]\n": "cs.0: Input should be greater than 0",
             "prior_utterances: [0]\n": "prior_utterances.0: Input should be greater than 0",
             "neutral_reference: nowhere\n": "no neutral reference speech (*.wav)"}
    for i, (body, said) in enumerate(cases.items()):
        recipe = tmp_path / f"r{i}.yaml"
        recipe.write_text("name: x\n" + body)
        args = ["--recipe", str(recipe), "--out", str(tmp_path / "w.npz"), "--data", str(data)]
        code = whisper_voice.main(args)
        err = capsys.readouterr().err
        assert code == 2 and said in err and len(err.strip().splitlines()) == 1, err
    recipe = tmp_path / "ok.yaml"
    recipe.write_text("name: x\n")
    kept = tmp_path / "kept.npz"
    kept.write_bytes(b"user data")
    for out, said in ((kept, "exists; pass --force"), (tmp_path / "no" / "w.npz", "does not exist"),
                      (recipe, "is the --recipe input")):
        code = whisper_voice.main(["--recipe", str(recipe), "--out", str(out), "--data", str(data)])
        assert code == 2 and said in capsys.readouterr().err
    assert kept.read_bytes() == b"user data" and recipe.read_text() == "name: x\n"
