import numpy as np
import pytest

from edge_msa.errors import UserError
from edge_msa.features import audio as A
from edge_msa.features.media import read_audio
from edge_msa.features.spec import LIVE

SR = A.SAMPLE_RATE
CLIP = "tests/data/librivox/sense_and_sensibility_01_austen_64kb-0880.wav"


def _tone(f0: float, seconds: float = 1.0, sr: int = SR, amp: float = 0.3) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * f0 * np.arange(int(seconds * sr)) / sr)).astype(np.float32)


def test_matches_live_spec():
    assert (A.KIND, A.DIM, A.SAMPLE_RATE / A.HOP) == (LIVE.audio.kind, LIVE.audio.dim, LIVE.audio.rate_hz)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_streaming_equals_offline_for_random_chunkings(seed):
    rng = np.random.default_rng(seed)
    wave = read_audio(CLIP)[: int(1.7 * SR)]  # real speech: voiced and unvoiced frames
    featurizer = A.AudioFeaturizer()
    offline = featurizer.offline(wave)
    featurizer.reset()
    parts, i = [], 0
    while i < len(wave):
        n = int(rng.choice([1, 7, 160, 320, 511, 512, 1000, 4000]))
        parts.append(featurizer.push(wave[i : i + n]))
        i += n
    streamed = np.concatenate(parts)
    assert streamed.shape == offline.shape == (1 + (len(wave) - A.BLOCK // 2) // A.HOP, 42)
    np.testing.assert_allclose(streamed, offline, atol=1e-5)
    assert (offline[:, 40] > 0).any() and (offline[:, 40] == 0).any()


def test_reset_starts_a_new_stream():
    featurizer = A.AudioFeaturizer()
    wave = _tone(150, 0.5)
    first = featurizer.push(wave)
    featurizer.push(_tone(300, 0.3))
    featurizer.reset()
    np.testing.assert_array_equal(featurizer.push(wave), first)


def test_shapes_dtype_and_short_input():
    featurizer = A.AudioFeaturizer()
    out = featurizer.offline(_tone(200, 2.0))
    assert out.shape == (100, 42) and out.dtype == np.float32 and np.isfinite(out).all()
    assert featurizer.offline(np.zeros(100, np.float32)).shape == (0, 42)
    with pytest.raises(UserError):
        featurizer.offline(np.zeros((2, 100), np.float32))
    with pytest.raises(UserError):
        featurizer.offline(np.zeros(100, np.int16))
    with pytest.raises(UserError):
        A.AudioFeaturizer(sample_rate=44100)


@pytest.mark.parametrize("f0", [90.0, 200.0, 420.0])
def test_pitch_of_a_sine(f0):
    pitch = A.AudioFeaturizer().offline(_tone(f0))[:, 40]
    est = 50.0 * np.exp(pitch[2:-2])  # pitch = ln(F0 / 50 Hz)
    assert np.all(np.abs(est / f0 - 1) < 0.03)


def test_silence_and_noise_are_unvoiced():
    featurizer = A.AudioFeaturizer()
    silence = featurizer.offline(np.zeros(SR, np.float32))
    assert np.all(silence[:, 40] == 0) and np.isfinite(silence).all()
    noise = featurizer.offline((0.1 * np.random.default_rng(0).standard_normal(SR)).astype(np.float32))
    assert np.mean(noise[:, 40] > 0) < 0.05
    # louder signals have more energy and more mel power
    quiet, loud = featurizer.offline(_tone(200, amp=0.01)), featurizer.offline(_tone(200, amp=0.5))
    assert np.all(loud[:, 41] > quiet[:, 41]) and loud[:, :40].mean() > quiet[:, :40].mean()


def test_mel_band_follows_tone_frequency():
    featurizer = A.AudioFeaturizer()
    low = featurizer.offline(_tone(300))[:, :40].mean(0).argmax()
    high = featurizer.offline(_tone(3000))[:, :40].mean(0).argmax()
    assert high > low + 10


@pytest.mark.parametrize("sr_in", [8000, 22050, 44100, 48000])
def test_resample_keeps_a_tone(sr_in):
    out = A.resample(_tone(440, 1.0, sr=sr_in, amp=1.0), sr_in, SR)
    assert len(out) == SR
    ref = np.sin(2 * np.pi * 440 * np.arange(SR) / SR)
    assert np.max(np.abs(out - ref)[100:-100]) < 1e-3


def test_resample_removes_what_the_new_rate_cannot_hold():
    aliased = A.resample(_tone(12000, 1.0, sr=44100, amp=1.0), 44100, SR)  # above 8 kHz Nyquist
    assert np.sqrt(np.mean(aliased[100:-100] ** 2)) < 1e-3


@pytest.mark.parametrize("sr", [22050, 44100])
def test_offline_at_another_rate_matches_16k(sr):
    featurizer = A.AudioFeaturizer()
    speech = read_audio(CLIP)
    at_16k = featurizer.offline(speech)
    at_sr = featurizer.offline(A.resample(speech, SR, sr), sr=sr)
    assert at_sr.shape == at_16k.shape
    # the top bands sit at the resampler's anti-aliasing edge (0.95 x 8 kHz): allowed to differ
    np.testing.assert_allclose(at_sr[:, :36], at_16k[:, :36], atol=0.1)
    np.testing.assert_allclose(at_sr[:, 40:], at_16k[:, 40:], atol=0.01)
