"""Hostile input to the Python API (issue 29, defects 13-16): every bad input is a `UserError`
naming the rule, before any work; nothing is scored from garbage; stereo in either layout is
read with time on the longer axis."""

from __future__ import annotations

import wave

import numpy as np
import pytest
from shared_data import SHARED_DATA

from edge_msa.errors import UserError
from edge_msa.runtime.config import AsrConfig, load_config
from edge_msa.runtime.sources.arrays import MAX_SAMPLES

CLIP = SHARED_DATA / "speech" / "librivox" / "sense_and_sensibility_01_austen_64kb-0880.wav"  # 3 s


@pytest.fixture(scope="module")
def model():
    from edge_msa import SentimentModel

    # no speech recognition: these tests are about the arrays, and VAD still cuts utterances
    config = load_config(None).model_copy(update={"asr": AsrConfig(engine="none")})
    return SentimentModel("default/onnx-int8", config=config)


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    """3 s of a real reader, int16 mono at 16 kHz."""
    if not CLIP.is_file():
        pytest.skip(f"needs the shared speech clip {CLIP}")
    with wave.open(str(CLIP)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), np.int16)


def test_non_finite_audio_is_refused(model, speech):
    """Defect 13: every 1000th sample NaN gave 0 events and no error; all NaN scored -0.563."""
    x = speech.astype(np.float32) / 32768
    assert model.score_audio(x, 16000)  # the clean clip has utterances
    holed = x.copy()
    holed[::1000] = np.nan
    with pytest.raises(UserError, match=r"audio has 48 non-finite samples \(NaN or inf"):
        model.score_audio(holed, 16000)
    with pytest.raises(UserError, match="audio has 16000 non-finite samples"):
        model.score_utterance(audio=np.full(16000, np.nan, np.float32))
    stereo = np.stack([x, x], 1)
    stereo[5, 1] = np.inf  # one channel is enough
    with pytest.raises(UserError, match="audio has 1 non-finite samples"):
        model.score_utterance(text="hello", audio=stereo)
    with pytest.raises(UserError, match="beyond float32's range"):  # float64 that casts to inf
        model.score_utterance(text="hello", audio=np.full(1600, 1e300))


def test_non_finite_frames_are_refused(model):
    nan_frame = np.full((32, 32, 3), 128.0)
    nan_frame[3, 3, 0] = np.nan
    with pytest.raises(UserError, match="frame 1 has NaN or inf values"):
        model.score_utterance(text="hi", frames=[np.zeros((32, 32, 3), np.uint8), nan_frame])
    with pytest.raises(UserError, match=r"frame 0 is float64; frames are uint8 BGR 0..255 \(convert with"):
        model.score_utterance(text="hi", frames=[np.full((32, 32, 3), 128.0)])


@pytest.mark.parametrize("call, match", [
    (lambda m: m.score_text(123), "text must be a str, got int"),
    (lambda m: m.score_text(["a", "b"]), "text must be a str, got list"),
    (lambda m: m.score_text(b"x"), r"text must be a str, got bytes \(decode bytes first"),
    (lambda m: m.score_text("bad \ud800 surrogate"), "text is not valid Unicode"),
    (lambda m: m.score_text("a" * 100_001), "text is 100001 characters; one call takes at most 100000"),
    (lambda m: m.score_audio(np.array(["a"]), 48000), "audio must hold floats .* got dtype <U1"),
    (lambda m: m.score_audio(np.ones(100, bool), 16000), "audio must hold floats .* got dtype bool"),
    (lambda m: m.score_audio(np.ones(100, complex), 16000), "got dtype complex128"),
    (lambda m: m.score_audio([[0.1, 0.2], [0.3]], 16000), "audio must be an array of numbers"),
    (lambda m: m.score_audio(np.zeros((10, 2, 2)), 16000), r"got shape \(10, 2, 2\)"),
    (lambda m: m.score_utterance(text="hi", frames=[np.zeros((0, 0, 3), np.uint8)]),
     r"frame 0 has shape \(0, 0, 3\); frames are \[H, W, 3\] BGR with sides 16..8192"),
    (lambda m: m.score_utterance(text="hi", frames=[np.zeros((32, 32), np.uint8)]), r"shape \(32, 32\)"),
    (lambda m: m.score_utterance(text="hi", frames=5), "frames must be a sequence .* got int"),
    (lambda m: m.score_utterance(text="hi", frames=[["x"]]), "frame 0 is <U1"),
    (lambda m: m.score_utterance(text="hi", fps="30"), "fps must be a number above 0"),
    (lambda m: m.score_utterance(text="hi", fps=float("nan")), "fps must be a number above 0"),
    (lambda m: m.score_file(3), r"path must be a file path \(str or pathlib.Path\), got 3"),
    (lambda m: m.stream(video="clip.mp4", duration_s="5"), "duration_s must be a number above 0, got '5'"),
    (lambda m: m.stream(camera=True), r"camera must be an index \(int\) or a name \(str\)"),
])
def test_wrong_types_are_user_errors(model, call, match):
    """Defect 14: these gave AttributeError, TypeError, ValueError or cv2.error."""
    with pytest.raises(UserError, match=match):
        call(model)


@pytest.mark.parametrize("rate", [True, False, 1, 0, -16000, 7999, 192_001, 10**8, 48000.0, "48000", None])
def test_sample_rate_is_validated(model, rate):
    """Defect 15: True was taken as 1 Hz; 10**8 Hz reached 5.8 GB, then MemoryError."""
    with pytest.raises(UserError, match=r"sample_rate must be a positive whole number .* 8000..192000"):
        model.score_audio(np.zeros(4800, np.float32), rate)
    with pytest.raises(UserError, match="sample_rate must be"):
        model.score_utterance(text="hi", audio=np.zeros(4800, np.float32), sample_rate=rate)


def test_sizes_that_cannot_fit_are_refused(model):
    """The limits are stated in the error; the refusal comes before any copy (a broadcast view
    of one zero stands in for a recording that would take 256 MB)."""
    long = np.broadcast_to(np.float32(0), (MAX_SAMPLES + 1,))
    with pytest.raises(UserError, match=rf"holds {MAX_SAMPLES + 1} samples per channel; an array takes at "
                                        rf"most {MAX_SAMPLES} \(69.9 min at 16000 Hz\): score a longer"):
        model.score_audio(long, 16000)
    utterance = np.broadcast_to(np.float32(0), (48000 * 601,))
    with pytest.raises(UserError, match=r"at most 28800000 \(10.0 min at 48000 Hz\)"):
        model.score_utterance(audio=utterance, sample_rate=48000)
    with pytest.raises(UserError, match="one utterance takes at most 600 s"):
        model.score_utterance(frames=np.broadcast_to(np.uint8(0), (601, 16, 16, 3)), fps=1.0)
    for rate in (8000, 192_000):  # the ends of the range work
        assert model.score_utterance(text="fine", audio=np.zeros(rate // 10, np.float32), sample_rate=rate)


def test_channels_first_stereo_is_read_as_time(model, speech):
    """Defect 16: np.stack([a, a], 0) was read as 2 samples: 0 events and no error."""
    mono = model.score_audio(speech, 16000)
    first = model.score_audio(np.stack([speech, speech], 0), 16000)
    last = model.score_audio(np.stack([speech, speech], 1), 16000)
    assert len(mono) >= 1
    assert [e.score for e in first] == [e.score for e in last] == [e.score for e in mono]
    assert first[0].modalities["audio"]
    four = model.score_utterance(text="so it goes", audio=np.stack([speech] * 4, 0))
    alone = model.score_utterance(text="so it goes", audio=speech)
    assert four.modalities["audio"] and four.score == alone.score
    with pytest.raises(UserError, match=r"got shape \(2, 2\)"):  # square: which axis is time?
        model.score_audio(np.zeros((2, 2), np.float32), 16000)
    with pytest.raises(UserError, match=r"has 17 channels; at most 16 \(the longer axis is time\)"):
        model.score_audio(np.zeros((17, 4800), np.float32), 16000)


@pytest.mark.parametrize("kwargs, match", [
    ({"bundle": 123}, r"bundle must be a file path \(str or pathlib.Path\), got 123"),
    ({"threads": 0}, "threads must be a whole number of at least 1, got 0"),
    ({"threads": True}, "threads must be a whole number of at least 1, got True"),
    ({"backend": 5}, "unknown backend 5"),
])
def test_constructor_arguments_are_checked(kwargs, match):
    from edge_msa import SentimentModel

    with pytest.raises(UserError, match=match):
        SentimentModel(**kwargs)
