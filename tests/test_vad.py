import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge_msa.errors import UserError
from edge_msa.features.media import read_audio
from edge_msa.runtime.perception import vad as vad_module
from edge_msa.runtime.perception.vad import VADConfig, VoiceActivity, silero_onnx_path, speech_segments

CLIPS = Path(__file__).parent / "data" / "librivox"
SR = 16000


def _clip(name: str) -> np.ndarray:
    return read_audio(CLIPS / f"sense_and_sensibility_01_austen_64kb-{name}.wav")


def _silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SR), np.float32)


def _speech_span(wave: np.ndarray) -> tuple[float, float]:
    """First and last 20 ms block louder than -35 dBFS: where the talker is, by plain energy."""
    rms = np.sqrt(np.mean(wave[: len(wave) // 320 * 320].reshape(-1, 320) ** 2, axis=1))
    loud = np.flatnonzero(rms > 10 ** (-35 / 20))
    return loud[0] * 0.02, (loud[-1] + 1) * 0.02


def test_model_is_the_packaged_one_without_silero_or_torch():
    code = ("import sys; from edge_msa.runtime.perception.vad import VoiceActivity; VoiceActivity(); "
            "print('silero_vad' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
    assert silero_onnx_path() == vad_module.ASSET_DIR / "silero_vad_16k_sequence.onnx"


def test_a_changed_model_file_is_refused(tmp_path, monkeypatch):
    shipped = vad_module.ASSET_DIR
    (tmp_path / "SHA256SUMS").write_text((shipped / "SHA256SUMS").read_text())
    data = bytearray((shipped / vad_module.MODEL_FILE).read_bytes())
    data[-1] ^= 1
    (tmp_path / vad_module.MODEL_FILE).write_bytes(bytes(data))
    monkeypatch.setattr(vad_module, "ASSET_DIR", tmp_path)
    with pytest.raises(UserError, match="corrupted or not the supported version"):
        silero_onnx_path()
    (tmp_path / vad_module.MODEL_FILE).unlink()
    with pytest.raises(UserError, match="missing: reinstall edge-msa"):
        silero_onnx_path()


TORCH_PARITY = """
import numpy as np, torch
from silero_vad import load_silero_vad
from edge_msa.features.media import read_audio
from edge_msa.runtime.perception.vad import WINDOW, SileroVAD
wave = read_audio({path!r})
ours, theirs = SileroVAD(), load_silero_vad()
diffs = [abs(ours(w) - theirs(torch.from_numpy(w), 16000).item())
         for w in (wave[i * WINDOW : (i + 1) * WINDOW] for i in range(len(wave) // WINDOW))]
print(len(diffs), max(diffs))
"""


def test_packaged_model_scores_like_silero_vads_torch_model():
    """Same probabilities per window as the silero-vad package's TorchScript model on real speech
    (in a child process: importing silero_vad sets torch to one thread for the whole process)."""
    if importlib.util.find_spec("silero_vad") is None:
        pytest.skip("the silero-vad package (the torch reference) is not installed")
    code = TORCH_PARITY.format(path=str(CLIPS / "sense_and_sensibility_01_austen_64kb-0890.wav"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    windows, worst = out.split()
    assert int(windows) > 150 and float(worst) < 1e-4


def test_real_speech_is_covered():
    wave = np.concatenate([_silence(0.5), _clip("0880"), _silence(0.5)])
    segments = speech_segments(wave)
    assert len(segments) >= 1
    start, end = _speech_span(wave)
    assert segments[0].start_s <= start + 0.1 and segments[-1].end_s >= end - 0.1
    assert segments[0].start_s >= 0.4 and segments[-1].end_s <= len(wave) / SR - 0.2  # not the silence


def test_silence_and_faint_noise_give_nothing():
    assert speech_segments(_silence(3.0)) == []
    noise = (0.003 * np.random.default_rng(0).standard_normal(3 * SR)).astype(np.float32)
    assert speech_segments(noise) == []


def test_two_utterances_one_second_apart_stream_in_any_chunks():
    a, b = _clip("0880"), _clip("0930")
    wave = np.concatenate([_silence(0.3), a, _silence(1.0), b, _silence(0.6)])
    vad = VoiceActivity()
    rng = np.random.default_rng(0)
    segments, i = [], 0
    while i < len(wave):
        n = int(rng.integers(100, 3000))
        segments += vad.push(wave[i : i + n])
        i += n
    segments += vad.flush()
    assert len(segments) == 2
    gap_start, gap_end = (0.3 + len(a) / SR), (1.3 + len(a) / SR)
    assert segments[0].end_s <= gap_end - 0.3 and segments[1].start_s >= gap_start + 0.3
    assert segments[1].end_s <= len(wave) / SR and segments[0].duration_s > 1.5
    assert not vad.in_speech


def test_utterances_end_during_the_stream_not_only_at_flush():
    vad = VoiceActivity()
    ended = vad.push(np.concatenate([_silence(0.3), _clip("0880"), _silence(1.0)]))
    assert len(ended) >= 1 and vad.flush() == []


def test_long_speech_is_split_at_max_utterance():
    wave = _clip("0870")  # 7.1 s of continuous reading
    segments = speech_segments(wave, VADConfig(max_utterance_s=2.0))
    assert len(segments) >= 3
    assert all(s.duration_s <= 2.0 + 0.1 for s in segments)
    assert all(b.start_s >= a.end_s for a, b in zip(segments, segments[1:], strict=False))


def test_min_speech_drops_short_bursts():
    wave = np.concatenate([_silence(0.5), _clip("0880"), _silence(0.5)])
    assert speech_segments(wave, VADConfig(min_speech_s=5.0, max_utterance_s=10.0)) == []


@pytest.mark.parametrize("bad", [dict(threshold=1.5), dict(threshold=0.5, neg_threshold=0.7),
                                 dict(min_silence_s=-1), dict(max_utterance_s=0.1)])
def test_bad_config_is_a_user_error(bad):
    with pytest.raises(UserError):
        VADConfig(**bad)


def test_runtime_config_and_segmenter_share_one_set_of_defaults():
    from dataclasses import asdict

    from edge_msa.runtime.config import RuntimeConfig

    segmenter = asdict(VADConfig())
    assert RuntimeConfig().vad.model_dump() == {k: v for k, v in segmenter.items() if k != "neg_threshold"}
