"""`edge-msa demo` and `edge-msa run` from the command line (files only: no camera or mic here)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from runtime_helpers import tiny_bundle

from edge_msa.cli import main
from edge_msa.runtime import launch
from edge_msa.runtime.sinks.jsonl import read_jsonl


def test_demo_prints_one_line_per_utterance_and_writes_jsonl(tmp_path, capsys):
    out, summary = tmp_path / "demo.jsonl", tmp_path / "summary.json"
    code = main(["demo", "--bundle", str(tiny_bundle()), "--jsonl", str(out), "--json", str(summary)])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    events = read_jsonl(out)
    assert len(events) == 6 and all(e.kind == "utterance" for e in events)  # six acted emotions
    lines = [line for line in printed.out.splitlines() if line.strip().endswith('"') and "s  " in line]
    assert len(lines) == 6
    for line, e in zip(lines, events, strict=True):
        assert f"{e.start:.2f}" in line and e.label in line and f"{e.score:+.2f}" in line
        assert "text" in line and "voice" in line and "face" in line
    assert sum(bool(e.transcript) for e in events) >= 5
    assert sum(e.modalities["vision"] for e in events) >= 5  # the actor's face is in view
    result = json.loads(summary.read_text())
    assert result["events"] == 6 and result["rtf"] > 0 and "event_ms" in result["stages"]
    assert "real-time factor" in printed.out and f"wrote 6 events to {out}" in printed.out


def test_demo_without_a_default_bundle_says_what_to_do(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(launch, "default_bundle_path", lambda: tmp_path / "default")  # not shipped here
    assert main(["demo", "--jsonl", str(tmp_path / "x.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "edge-msa: error: no default bundle" in err and "--bundle" in err


def test_run_on_a_file_with_an_audio_file_as_mic(tmp_path, capsys, voice_file="voice.mp3", rate=44100):
    """--video brings its own audio unless --audio says otherwise: here the voice is a 44.1 kHz MP3."""
    from runtime_helpers import decode_demo, write_media

    from edge_msa.features.audio import resample

    frames, fps, wave = decode_demo(2.7)
    video = write_media(tmp_path / "face.mkv", frames, fps, None)
    voice = write_media(tmp_path / voice_file, None, fps, resample(wave, 16000, rate), sr=rate)
    out = tmp_path / "events.jsonl"
    argv = ["run", "--video", str(video), "--audio", str(voice), "--fast", "--bundle", str(tiny_bundle()),
            "--jsonl", str(out), "--console", "lines"]
    assert main(argv) == 0, capsys.readouterr().err
    events = read_jsonl(out)
    assert len(events) == 1 and events[0].modalities["audio"] and events[0].modalities["vision"]


@pytest.mark.parametrize("argv, message", [
    (["run", "--video", "{garbage}", "--fast"], "cannot read"),
    (["run", "--video", "{garbage}", "--camera", "0"], "pick one"),
    (["run", "--camera", "0", "--audio", "{garbage}", "--fast"], "cannot read"),
    (["run", "--config", "{bad_yaml}", "--video", "{garbage}"], "sinks.colour"),
    (["run", "--video", "{missing}", "--fast"], "no such media file"),
    (["run", "--video", "{garbage}", "--fast", "--duration", "-5"], "--duration must be a positive number"),
    (["run", "--video", "{garbage}", "--fast", "--duration", "nan"], "--duration must be a positive number"),
])
def test_run_bad_input_is_one_clear_line(tmp_path, capsys, argv, message):
    paths = {"garbage": tmp_path / "clip.mp4", "bad_yaml": tmp_path / "bad.yaml",
             "missing": tmp_path / "no.mp4"}
    paths["garbage"].write_bytes(np.random.default_rng(1).bytes(2048))
    paths["bad_yaml"].write_text("sinks:\n  colour: red\n")
    assert main([a.format(**paths) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("edge-msa: error:") and message in err and len(err.splitlines()) == 1


def test_run_with_the_default_microphone_without_portaudio(capsys):
    try:
        import sounddevice  # noqa: F401
    except OSError:
        assert main(["run", "--mic", "default", "--duration", "1"]) == 2
        assert "PortAudio" in capsys.readouterr().err
    else:
        pytest.skip("PortAudio is installed here")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux) for a write that fails")
def test_a_failed_overlay_write_exits_2_with_one_line(tmp_path, capsys):
    """The overlay's writes fail (disk full); the run ends, keeps its events and exits 2, not 0."""
    from runtime_helpers import decode_demo, write_media

    frames, fps, _ = decode_demo(1.0)
    video = write_media(tmp_path / "face.mkv", frames[:10], fps, None)
    overlay = tmp_path / "annotated.mp4"
    overlay.symlink_to("/dev/full")  # every write: ENOSPC
    config = tmp_path / "no-face.yaml"
    config.write_text("face:\n  enabled: false\n")  # the overlay needs frames, not faces
    argv = ["run", "--video", str(video), "--fast", "--bundle", str(tiny_bundle()), "--config", str(config),
            "--console", "off", "--overlay", str(overlay), "--jsonl", str(tmp_path / "e.jsonl"), "--force"]
    assert main(argv) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(f"edge-msa: error: overlay {overlay}:") and "No space left" in last
    assert (tmp_path / "e.jsonl").is_file()
