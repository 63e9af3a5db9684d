"""Fuzz over the Python API's inputs (issue 29): seeded random texts, audio arrays, sample rates,
frames and frame rates, well-formed and hostile mixed. Every call either returns events with
finite scores or raises `UserError`; any other exception, or a score from audio holding NaN or
inf, fails with the case that caused it. A seeded generator (not hypothesis) keeps the cases the
same on every run and needs nothing beyond numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge_msa.errors import UserError
from edge_msa.runtime.config import AsrConfig, load_config
from edge_msa.runtime.events import SentimentEvent

SEED = 29
TEXTS = ["what a wonderful surprise", "", "   ", "\x00", "a\u2028b\nc", "😀" * 40, "ı̇ß" * 10, "a\ud800b",
         "x" * 100_001, "word " * 500, "\t\r\n", "[CLS] [SEP] [PAD]"]
RATES = [16000, 8000, 44100, 48000, 192000, np.int64(22050), np.int32(16000), True, False, 0, -1, 1, 7999,
         192001, 10**8, 48000.0, float("nan"), "16000", None]
DTYPES = [np.float32, np.float64, np.float16, np.int16, np.int32, np.int8, np.uint8, np.uint16, np.int64,
          bool, np.complex64, object, "<U3"]
FPS = [30.0, 10, 1e-3, 1000, 1001, 0, -5, float("nan"), float("inf"), True, "30", None]


def _text(rng: np.random.Generator):
    pick = rng.integers(8)
    if pick < 4:
        return TEXTS[rng.integers(len(TEXTS))]
    if pick == 4:  # random code points, surrogates and controls included
        return "".join(chr(int(c)) for c in rng.integers(0, 0x11000, rng.integers(1, 30)))
    return [b"bytes", 123, 4.5, ["a"], {"t": 1}, np.str_("numpy str"), np.array(["a"])][rng.integers(7)] \
        if pick < 7 else None


def _audio(rng: np.random.Generator):
    n = int(rng.choice([0, 1, 2, 7, 320, 1600, 4800, 16000]))
    shapes = [(n,), (n, 2), (2, n), (n, 1), (1, n), (n, 17), (3, 3), (2, 2, n), ()]
    shape = shapes[rng.integers(len(shapes))] if rng.random() < 0.6 else (n,)
    dtype = DTYPES[rng.integers(len(DTYPES))] if rng.random() < 0.6 else np.float32
    values = rng.standard_normal(shape) * rng.choice([1e-4, 0.1, 1.0, 1e5, 1e300])
    if rng.random() < 0.3 and values.size:
        values.flat[rng.integers(values.size, size=max(1, values.size // 50))] = \
            rng.choice([np.nan, np.inf, -np.inf])
    if dtype == "<U3" or dtype is object:
        audio = values.astype(dtype)
    else:
        with np.errstate(invalid="ignore", over="ignore"):
            audio = values.astype(dtype)
    return audio.tolist() if rng.random() < 0.1 else audio


def _frames(rng: np.random.Generator):
    pick = rng.integers(6)
    if pick == 0:
        return None
    if pick == 1:
        return [5, "frame", np.zeros((16, 16, 3), np.uint8), np.zeros(4, np.uint8)][rng.integers(4)]
    shapes = [(16, 16, 3), (40, 30, 3), (0, 0, 3), (15, 16, 3), (16, 16), (16, 16, 4), (1, 1, 3)]
    frames = []
    for _ in range(rng.integers(0, 4)):
        shape = shapes[rng.integers(len(shapes))]
        frame = rng.integers(0, 256, shape)
        kind = rng.integers(4)
        if kind == 0:
            frame = frame.astype(np.float32)
            if frame.size and rng.random() < 0.5:
                frame.flat[0] = np.nan
        frames.append(frame.astype(np.uint8) if kind else frame)
    return np.stack(frames) if frames and pick == 5 and len({f.shape for f in frames}) == 1 else frames


def _non_finite(audio) -> bool:
    try:
        a = np.asarray(audio)
        return a.dtype.kind == "f" and not np.isfinite(a.astype(np.float32)).all()
    except (ValueError, TypeError):
        return False


def _check(case: dict, call) -> str:
    """'ok' or 'refused'; anything else fails the test with the case."""
    try:
        result = call()
    except UserError as e:
        assert "\n" not in str(e), f"{case}: a multi-line error: {e}"
        return "refused"
    except Exception as e:  # noqa: BLE001 - the property under test
        pytest.fail(f"{type(e).__name__}: {e} for {case}")
    events = result if isinstance(result, list) else [result]
    assert all(isinstance(e, SentimentEvent) and math.isfinite(e.score) for e in events), case
    assert not _non_finite(case.get("audio")), f"scored audio holding NaN or inf: {case}"
    return "ok"


def _describe(value) -> str:
    if isinstance(value, np.ndarray):
        return f"ndarray{value.shape} {value.dtype}"
    return repr(value)[:60]


@pytest.fixture(scope="module")
def model():
    from edge_msa import SentimentModel

    config = load_config(None).model_copy(update={"asr": AsrConfig(engine="none")})
    return SentimentModel("default/onnx-int8", config=config)


def test_score_text_fuzz(model):
    rng = np.random.default_rng(SEED)
    outcomes = [_check({"text": _describe(t)}, lambda t=t: model.score_text(t))
                for t in (_text(rng) for _ in range(150))]
    assert {"ok", "refused"} <= set(outcomes)  # the generator reaches both sides


def test_score_utterance_fuzz(model):
    rng = np.random.default_rng(SEED + 1)
    outcomes = []
    for _ in range(150):
        # each argument hostile now and then, so that whole calls also succeed
        kwargs = {"text": _text(rng) if rng.random() < 0.5 else None,
                  "audio": _audio(rng) if rng.random() < 0.5 else None,
                  "sample_rate": RATES[rng.integers(len(RATES))] if rng.random() < 0.3 else 16000,
                  "frames": _frames(rng) if rng.random() < 0.3 else None,
                  "fps": FPS[rng.integers(len(FPS))] if rng.random() < 0.2 else 30.0}
        case = {k: _describe(v) for k, v in kwargs.items()} | {"audio": kwargs["audio"]}
        outcomes.append(_check(case, lambda kwargs=kwargs: model.score_utterance(**kwargs)))
    assert outcomes.count("ok") >= 10 and outcomes.count("refused") >= 10


def test_score_audio_fuzz(model):
    rng = np.random.default_rng(SEED + 2)
    outcomes = []
    for _ in range(30):
        audio, rate = _audio(rng), RATES[rng.integers(len(RATES))] if rng.random() < 0.5 else 16000
        case = {"audio": audio, "rate": _describe(rate), "shape": _describe(audio)}
        outcomes.append(_check(case, lambda audio=audio, rate=rate: model.score_audio(audio, rate)))
    assert {"ok", "refused"} <= set(outcomes)
