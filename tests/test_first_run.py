"""A new user's first commands: `edge-msa demo` re-runs, a clip run prints no native-library chatter,
and the ExecuTorch backend loads without the exporter (executorch.exir, torchao)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from shared_data import SHARED_DATA

from edge_msa.cli import main
from edge_msa.profile import devices
from edge_msa.profile.devices import DeviceInfo
from edge_msa.runtime.native_output import quiet_native_stderr
from edge_msa.runtime.sinks.jsonl import read_jsonl

CLIP = SHARED_DATA / "crema-d-sample" / "1001_DFA_NEU_XX.flv"  # 2.1 s, one utterance
# What native libraries and third-party packages printed on every run before `--verbose` existed.
CHATTER = ("cpuinfo_utils.cpp", "Failed to open midr file", "CPU info and manual query",
           "Created TensorFlow Lite XNNPACK delegate", "_C_mxfp8", "register_constant", "threadpool.cpp",
           "ExperimentalWarning")
needs_clip = pytest.mark.skipif(not CLIP.is_file(), reason=f"needs {CLIP}")


def test_demo_twice_then_with_nano_all_succeed(tmp_path, monkeypatch, capsys):
    """The README's sequence: `edge-msa demo`, again, then `edge-msa demo --bundle nano`."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the demo's own folder goes under tmp_path
    written = []
    for args in (["demo"], ["demo"], ["demo", "--bundle", "nano"]):
        assert main(args) == 0, capsys.readouterr().err
        out = capsys.readouterr().out
        line = next(x for x in out.splitlines() if x.startswith("wrote "))
        written.append(Path(line.split(" to ", 1)[1].strip()))
    assert len(set(written)) == 3 and not list(tmp_path.glob("*.jsonl"))  # nothing left in the cwd
    for path in written:
        assert path.is_relative_to(tmp_path) and len(read_jsonl(path)) == 6  # six acted utterances


@needs_clip
@pytest.mark.parametrize("bundle", ["default", "nano"])  # onnxruntime here; ExecuTorch + XNNPACK
def test_a_clip_run_prints_events_and_no_chatter(bundle):
    done = subprocess.run([sys.executable, "-m", "edge_msa", "run", "--video", str(CLIP), "--fast",
                           "--console", "lines", "--bundle", bundle], capture_output=True, text=True,
                          timeout=300, env={k: v for k, v in os.environ.items() if k != "EDGE_MSA_VERBOSE"})
    assert done.returncode == 0, done.stderr
    assert "1 events" in done.stdout
    assert [c for c in CHATTER if c in done.stderr] == [], done.stderr


@needs_clip
def test_verbose_lets_the_native_notes_through():
    """The filter is what hides them: with --verbose the ExecuTorch runtime's notes are there."""
    done = subprocess.run([sys.executable, "-m", "edge_msa", "--verbose", "run", "--video", str(CLIP),
                           "--fast", "--console", "off", "--bundle", "nano"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert "threadpool.cpp" in done.stderr and "Created TensorFlow Lite XNNPACK delegate" in done.stderr


def test_the_executorch_backend_loads_without_the_exporter():
    """`executorch.runtime` imports executorch.exir and torchao (8 s here); the backend needs neither."""
    code = ("import sys; from edge_msa.runtime.backends import load_backend; "
            "from edge_msa.runtime.tiers import resolve_bundle; "
            "load_backend(resolve_bundle('nano/executorch-int8'), 'executorch', 1); "
            "print(sorted(m for m in ('executorch.exir', 'torchao') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def _machine(arch: str) -> DeviceInfo:
    return DeviceInfo(arch=arch, os="linux", cpu_model="test CPU", cores=2, memory_gb=8.0)


def test_a_profiled_device_takes_its_profiles_order(monkeypatch):
    monkeypatch.setattr(devices, "detect_device", lambda **_: _machine("x86_64"))
    devices.fastest_formats.cache_clear()
    try:
        assert devices.fastest_formats() == ("onnx-int8", "executorch-int8")  # devices/x86-cpu-2core.yaml
    finally:
        devices.fastest_formats.cache_clear()


def test_a_device_no_profile_describes_is_timed_once(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(devices, "detect_device", lambda **_: _machine("riscv64"))
    devices.fastest_formats.cache_clear()
    try:
        first = devices.fastest_formats()
    finally:
        devices.fastest_formats.cache_clear()
    assert sorted(first) == ["executorch-int8", "onnx-int8"] and "timing" in capsys.readouterr().err
    saved = json.loads((tmp_path / "edge-msa" / "fastest-formats.json").read_text())
    assert list(saved.values()) == [list(first)] and next(iter(saved)).startswith("test-cpu-2c ")  # device id
    monkeypatch.setattr(devices, "_rank_by_latency", lambda *_: pytest.fail("timed a second time"))
    assert devices.measured_formats(_machine("riscv64").device_id) == first


def test_native_notes_are_held_back_and_replayed_when_the_load_fails(capfd):
    with quiet_native_stderr():
        os.write(2, b"[cpuinfo_utils.cpp:87] Failed to open midr file\n")
    with pytest.raises(RuntimeError), quiet_native_stderr():
        os.write(2, b"[method.cpp:822] Missing operator\n")
        raise RuntimeError("load failed")
    os.write(2, b"ours\n")
    assert capfd.readouterr().err == "[method.cpp:822] Missing operator\nours\n"


@needs_clip
def test_an_enrolment_the_stream_never_finished_is_said(tmp_path):
    """`--enrol 100` on a 2 s clip sets no baseline: the run says so in one note (and in --json),
    and the events say the person is not enrolled."""
    summary, jsonl = tmp_path / "summary.json", tmp_path / "events.jsonl"
    args = ["--fast", "--console", "off", "--enrol", "100", "--json", str(summary), "--jsonl", str(jsonl)]
    done = subprocess.run([sys.executable, "-m", "edge_msa", "run", "--video", str(CLIP), *args],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "note: enrolment (100 s) set no baseline" in " ".join((done.stdout + done.stderr).split())
    notes = json.loads(summary.read_text())["notes"]
    assert len(notes) == 1 and "set no baseline" in notes[0]
    events = read_jsonl(jsonl)
    assert events and not any(e.baseline["enrolled"] for e in events)


@needs_clip
def test_a_whisper_voice_without_the_whisper_recogniser_is_said(tmp_path):
    """`calibration.voice: whisper` with pocketsphinx has no encoder states to read: the run keeps the
    log-mel voice and says so in one note (and in --json), and `enrol_s: .inf` is refused in one line."""
    config, summary = tmp_path / "voice.yaml", tmp_path / "summary.json"
    config.write_text("calibration:\n  voice: whisper\nasr:\n  engine: pocketsphinx\n")
    args = ["--fast", "--console", "off", "--config", str(config), "--json", str(summary)]
    done = subprocess.run([sys.executable, "-m", "edge_msa", "run", "--video", str(CLIP), *args],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "note: calibration.voice: whisper had no effect" in " ".join((done.stdout + done.stderr).split())
    [note] = json.loads(summary.read_text())["notes"]
    assert "asr.engine: pocketsphinx" in note and "log-mel" in note
    config.write_text("calibration:\n  enrol_s: .inf\n")
    done = subprocess.run([sys.executable, "-m", "edge_msa", "run", "--video", str(CLIP), *args],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "enrol_s: Input should be a finite number" in done.stderr
    assert "Traceback" not in done.stderr
