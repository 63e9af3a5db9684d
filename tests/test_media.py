from pathlib import Path

import av
import numpy as np
import pytest
from shared_data import SHARED_DATA

from edge_msa.errors import UserError
from edge_msa.features import media

CREMA = SHARED_DATA / "crema-d-sample" / "1001_DFA_HAP_XX.flv"


def _write_audio(path: Path, codec: str, sr: int, wave: np.ndarray) -> Path:
    """Encode float mono samples with PyAV (converted to whatever sample format the codec wants)."""
    with av.open(str(path), "w") as c:
        stream = c.add_stream(codec, rate=sr, layout="mono")
        convert = av.AudioResampler(format=stream.codec_context.format.name, layout="mono", rate=sr)
        size = stream.codec_context.frame_size or 1024
        for i in range(0, len(wave), size):
            frame = av.AudioFrame.from_ndarray(wave[None, i : i + size].astype(np.float32), format="flt",
                                               layout="mono")
            frame.sample_rate, frame.pts = sr, i
            for converted in convert.resample(frame):
                c.mux(stream.encode(converted))
        c.mux(stream.encode(None))
    return path


def _write_video(path: Path, n_frames: int = 10, fps: int = 10) -> Path:
    """A video-only MPEG-4 file whose frame i is uniformly grey level 20 * i."""
    with av.open(str(path), "w") as c:
        stream = c.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(n_frames):
            img = np.full((48, 64, 3), 20 * i, np.uint8)
            c.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="bgr24")))
        c.mux(stream.encode(None))
    return path


def test_crema_d_flv_has_both_streams_and_skips_the_data_track():
    info = media.probe(CREMA)
    assert info.has_audio and info.has_video
    assert (info.width, info.height, info.sample_rate) == (480, 360, 44100)
    assert info.fps == pytest.approx(29.97, abs=0.01) and info.duration_s == pytest.approx(1.87, abs=0.05)

    audio = media.read_audio(CREMA)
    assert audio.dtype == np.float32 and abs(len(audio) / 16000 - info.duration_s) < 0.1
    assert np.sqrt(np.mean(audio**2)) > 0.01  # somebody speaks

    frames = list(media.iter_video_frames(CREMA))
    assert len(frames) == pytest.approx(info.duration_s * info.fps, abs=2)
    t, img = frames[0]
    assert img.shape == (360, 480, 3) and img.dtype == np.uint8 and img.std() > 10
    assert all(b[0] > a[0] for a, b in zip(frames, frames[1:], strict=False))

    thinned = [t for t, _ in media.iter_video_frames(CREMA, fps=10)]
    assert len(thinned) == pytest.approx(info.duration_s * 10, abs=1.5)
    assert np.all(np.diff(thinned) > 0.09)


def test_audio_chunks_are_contiguous_and_equal_the_whole_read():
    chunks = list(media.iter_audio_chunks(CREMA, chunk_s=0.032))
    assert all(len(c) == 512 for _, c in chunks[:-1]) and 0 < len(chunks[-1][1]) <= 512
    np.testing.assert_allclose([t for t, _ in chunks], np.arange(len(chunks)) * 0.032, atol=1e-6)
    np.testing.assert_array_equal(np.concatenate([c for _, c in chunks]), media.read_audio(CREMA))


@pytest.mark.parametrize("codec,suffix", [("pcm_s16le", ".wav"), ("flac", ".flac")])
def test_44k_audio_file_is_resampled_to_16k(tmp_path, codec, suffix):
    sr = 44100
    tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(2 * sr) / sr)
    path = _write_audio(tmp_path / f"tone{suffix}", codec, sr, tone)
    info = media.probe(path)
    assert info.has_audio and not info.has_video and info.sample_rate == sr
    assert info.duration_s == pytest.approx(2.0, abs=0.05)
    audio = media.read_audio(path, sr=16000)
    assert abs(len(audio) - 32000) < 200
    segment = audio[1000:17000]
    peak_hz = np.argmax(np.abs(np.fft.rfft(segment))) * 16000 / len(segment)
    assert peak_hz == pytest.approx(440, abs=2)
    assert np.sqrt(np.mean(audio[1000:-1000] ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.02)
    with pytest.raises(UserError, match="no video stream"):
        list(media.iter_video_frames(path))


@pytest.mark.parametrize("channels", [2, 6])
def test_multichannel_audio_is_averaged_to_mono(tmp_path, channels):
    """One signal on every channel is that signal in mono (FFmpeg's downmix summed it: peak 1.41, 3.41)."""
    import wave

    sr = 16000
    tone = 0.9 * np.sin(2 * np.pi * 440 * np.arange(sr) / sr)
    pcm = np.repeat(np.round(tone * 32767).astype("<i2")[:, None], channels, axis=1)
    path = tmp_path / f"tone-{channels}ch.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(pcm.tobytes())
    audio = media.read_audio(path, sr=sr)
    np.testing.assert_allclose(audio, pcm[:, 0] / 32768, atol=1e-6)
    chunks = np.concatenate([c for _, c in media.iter_audio_chunks(path, sr=sr)])
    np.testing.assert_array_equal(chunks, audio)


def test_video_only_file(tmp_path):
    path = _write_video(tmp_path / "silent.mp4")
    info = media.probe(path)
    assert info.has_video and not info.has_audio and info.sample_rate == 0
    assert (info.width, info.height, info.fps) == (64, 48, 10.0)
    frames = list(media.iter_video_frames(path))
    assert len(frames) == 10
    np.testing.assert_allclose([t for t, _ in frames], np.arange(10) / 10, atol=1e-3)
    levels = [img.mean() for _, img in frames]  # lossy codec + YUV range: order kept, values close
    assert np.all(np.diff(levels) > 10) and levels == pytest.approx(list(range(0, 200, 20)), abs=8)
    with pytest.raises(UserError, match="no audio stream"):
        media.read_audio(path)


def test_bad_files_raise_user_error(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    truncated = tmp_path / "broken.flv"
    truncated.write_bytes(CREMA.read_bytes()[:3000] + bytes(range(256)) * 20)
    garbage = tmp_path / "noise.wav"
    garbage.write_bytes(np.random.default_rng(0).bytes(20000))
    for bad in (text, truncated, garbage, tmp_path / "missing.wav", tmp_path):
        with pytest.raises(UserError) as err:
            media.read_audio(bad)
        assert "\n" not in str(err.value) and str(bad) in str(err.value)
    with pytest.raises(UserError):
        media.probe(text)
    with pytest.raises(UserError):
        list(media.iter_video_frames(truncated))
