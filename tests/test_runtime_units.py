"""Runtime building blocks: events, health, queues, windows, config, sources, sinks (no camera/mic)."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from pathlib import Path

import av
import numpy as np
import pytest

from edge_msa.errors import UserError
from edge_msa.features import media
from edge_msa.features.spec import LIVE, FeatureSpec, ModalitySpec, check_live_spec
from edge_msa.runtime.clock import Clock
from edge_msa.runtime.config import RuntimeConfig, load_config
from edge_msa.runtime.events import Evidence, SentimentEvent, label_for
from edge_msa.runtime.health import Backoff, HealthMonitor
from edge_msa.runtime.scheduler import only
from edge_msa.runtime.sinks.http import HttpSink
from edge_msa.runtime.sinks.jsonl import JsonlSink, read_jsonl
from edge_msa.runtime.sinks.overlay import OverlaySink, draw_overlay
from edge_msa.runtime.sources.base import TIMEOUT, ItemQueue, SourceLost, SourceRunner, VideoFrame
from edge_msa.runtime.sources.camera import CameraSource
from edge_msa.runtime.windows import TimedRing, fill_window

REPO = Path(__file__).resolve().parents[1]


def make_event(index: int = 0, score: float = 1.2) -> SentimentEvent:
    return SentimentEvent(
        index=index, kind="utterance", start=1.0, end=2.5, score=score, label=label_for(score),
        uncertainty=0.3, transcript="he was not an ill disposed young man",
        modalities={"text": True, "audio": True, "vision": False}, masked={"vision": "no face in view"},
        evidence={"text": Evidence(True, 1.5, 0.2), "audio": Evidence(True, 0.4, 0.5),
                  "vision": Evidence(False)},
        latency_ms={"backend_ms": 0.5})


def test_label_uses_the_fields_neutral_band():
    assert [label_for(s) for s in (-0.6, -0.5, 0.0, 0.49, 0.51)] == \
        ["negative", "neutral", "neutral", "neutral", "positive"]
    assert label_for(0.2, "sims") == "positive" and label_for(0.05, "sims") == "neutral"


def test_event_json_round_trip_and_summary_line():
    e = make_event()
    back = SentimentEvent.from_dict(json.loads(e.to_json()))
    assert back == e and back.used == ["text", "voice"]
    line = e.summary_line()
    assert "positive" in line and "text +1.50" in line and "voice +0.40" in line and "face -" in line
    assert "ill disposed" in line


def test_health_stall_mute_fail_and_recover():
    h = HealthMonitor()
    h.register("cam", timeout_s=0.05)
    assert not h.usable("cam") and "starting" in h.reason("cam")
    h.beat("cam", 0.0)
    assert h.usable("cam")
    time.sleep(0.08)
    assert h.state("cam") == "stalled" and "nothing received" in h.reason("cam")
    h.beat("cam", 0.1)
    assert h.usable("cam")
    h.fail("cam", SourceLost("unplugged"))
    assert h.state("cam") == "failed" and "unplugged" in h.reason("cam")

    h.register("mic", timeout_s=1.0)
    h.beat("mic", 0.0, signal=True)
    h.beat("mic", 0.9, signal=False)
    assert h.usable("mic")
    h.beat("mic", 1.2, signal=False)  # stream time, not wall time, decides a mute
    assert h.state("mic") == "muted"
    h.beat("mic", 1.3, signal=False)
    assert h.state("mic") == "muted"
    h.beat("mic", 1.4, signal=True)
    assert h.usable("mic")
    assert h.reason("nothing") == "nothing absent"


def test_backoff_grows_to_its_cap_and_resets():
    b = Backoff(0.1, 0.5)
    assert [b.next_delay() for _ in range(5)] == [0.1, 0.2, 0.4, 0.5, 0.5]
    b.reset()
    assert b.next_delay() == 0.1


def test_queue_drops_oldest_or_blocks():
    stop = threading.Event()
    q = ItemQueue(3, drop_oldest=True)
    for i in range(5):
        q.put(i, stop)
    assert q.dropped == 2 and [q.get(0.01) for _ in range(3)] == [2, 3, 4]
    assert q.get(0.01) is TIMEOUT
    q.close()
    assert q.get(0.01) is None

    q = ItemQueue(1, drop_oldest=False)
    q.put("a", stop)
    waits = []
    done = threading.Thread(target=lambda: q.put("b", stop, on_wait=lambda: waits.append(1)))
    done.start()
    time.sleep(0.15)
    assert done.is_alive() and waits  # blocked, and told the caller it is waiting
    assert q.get(0.1) == "a"
    done.join(1)
    assert q.get(0.1) == "b" and q.dropped == 0


def test_fill_window_puts_samples_in_time_slots_with_masks():
    times = np.array([0.0, 0.1, 0.3, 0.35, 0.5])
    rows = np.arange(5, dtype=np.float32)[:, None] + 1
    present = np.array([True, True, True, False, True])
    x, mask = fill_window(times, rows, present, 0.0, 0.5, rate=10, max_len=8)
    assert mask.tolist() == [1, 1, 0, 1, 0, 0, 0, 0]  # 0.2 s missing, 0.35 has no face, 0.5 is outside
    assert x[:4, 0].tolist() == [1, 2, 0, 3]
    # longer than max_len: the most recent slots are kept
    x, mask = fill_window(np.arange(20) / 10, np.arange(20, dtype=np.float32)[:, None], np.ones(20, bool),
                          0.0, 2.0, rate=10, max_len=5)
    assert x[:, 0].tolist() == [15, 16, 17, 18, 19] and mask.all()


def test_timed_ring_keeps_the_newest():
    ring = TimedRing(4, 2)
    ring.append(np.arange(6) * 0.1, np.ones((6, 2)), present=True)
    t, x, ok = ring.between(0.0, 1.0)
    assert np.allclose(t, [0.2, 0.3, 0.4, 0.5]) and ok.all() and x.shape == (4, 2)


def test_only_keeps_one_modality():
    inputs = tuple(np.ones((1, 3)) for _ in range(6))
    out = only(inputs, "audio")
    assert [float(a.sum()) for a in out] == [0, 0, 3, 3, 0, 0]


def test_live_spec_check_refuses_dataset_specs():
    check_live_spec(LIVE)
    other = FeatureSpec(text=LIVE.text, audio=ModalitySpec("audio:covarep-74", 74, 50), vision=LIVE.vision)
    with pytest.raises(UserError, match="covarep-74"):
        check_live_spec(other)


def test_config_files_and_clear_errors(tmp_path):
    assert load_config(REPO / "runtime" / "default.yaml") == RuntimeConfig()
    jetson = load_config(REPO / "runtime" / "jetson-csi.yaml")
    assert "nvarguscamerasrc" in jetson.camera.device and jetson.backend == "tensorrt"
    bad = tmp_path / "bad.yaml"
    bad.write_text("vad:\n  treshold: 0.5\n")
    with pytest.raises(UserError, match="vad.treshold"):
        load_config(bad)
    bad.write_text("health:\n  audio_timeout_s: -1\n")
    with pytest.raises(UserError, match="health.audio_timeout_s"):
        load_config(bad)
    bad.write_text("vad: [unclosed\n")
    with pytest.raises(UserError, match="not valid YAML"):
        load_config(bad)
    with pytest.raises(UserError, match="no such pipeline config"):
        load_config(tmp_path / "missing.yaml")
    cfg = RuntimeConfig().with_overrides(**{"sinks.http.port": 9000, "backend": "onnxruntime",
                                            "vad.threshold": None})
    assert cfg.sinks.http.port == 9000 and cfg.backend == "onnxruntime" and cfg.vad.threshold == 0.5


class FlakySource:
    """A live sensor that fails twice on open, then streams three frames and ends."""

    live = True
    name = "flaky"

    def __init__(self) -> None:
        self.opens = 0

    def stream(self, clock):
        self.opens += 1
        if self.opens <= 2:
            raise SourceLost("cannot open camera 7")
        for _ in range(3):
            yield VideoFrame(clock.now(), np.zeros((4, 4, 3), np.uint8))


def test_runner_reopens_a_live_sensor_with_backoff():
    health, stop, q = HealthMonitor(), threading.Event(), ItemQueue(100, drop_oldest=True)
    health.register("video", 1.0)
    source = FlakySource()
    runner = SourceRunner(source, q, health, Clock(), stop, paced=False, backoff=Backoff(0.01, 0.02),
                          name="video")
    runner.start()
    deadline = time.time() + 5
    while source.opens < 5 and time.time() < deadline:
        time.sleep(0.01)
    stop.set()
    runner.join(2)
    assert source.opens >= 5  # failed twice, streamed, ended (= lost for a live sensor), re-opened again
    assert health.snapshot()["video"]["reopens"] >= 4 and q.dropped == 0 and len(q) >= 3


def test_camera_source_reads_a_video_file_as_a_camera(tmp_path):
    """No camera here: OpenCV's VideoCapture on a file is the nearest real thing."""
    path = tmp_path / "cam.mp4"
    write_test_video(path, n=5)
    frames = []
    for frame in CameraSource(str(path), width=0, height=0, fps=0).stream(Clock()):
        frames.append(frame)
        if len(frames) == 3:
            break
    assert frames[0].image.shape == (48, 64, 3) and frames[2].t >= frames[0].t
    with pytest.raises(SourceLost, match="cannot open camera"):
        next(CameraSource(str(tmp_path / "none.mp4")).stream(Clock()))


def test_mic_without_portaudio_is_a_clear_error():
    try:
        import sounddevice  # noqa: F401
    except OSError:
        from edge_msa.runtime.sources.mic import MicSource

        with pytest.raises(UserError, match="PortAudio"):
            MicSource()
    else:
        pytest.skip("PortAudio is installed here: the missing-library path cannot be exercised")


def write_test_video(path: Path, n: int, fps: int = 10) -> None:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(n):
            img = np.full((48, 64, 3), 20 * i, np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format="bgr24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def test_jsonl_sink_round_trip(tmp_path):
    sink = JsonlSink(tmp_path / "sub" / "events.jsonl")
    sink.emit(make_event(0))
    sink.emit(make_event(1, -2.0))
    sink.close()
    events = read_jsonl(tmp_path / "sub" / "events.jsonl")
    assert [e.index for e in events] == [0, 1] and events[1].label == "negative"


def test_console_shows_health_evidence_and_one_line_per_event():
    from io import StringIO

    from rich.console import Console

    from edge_msa.runtime.sinks.console import ConsoleSink, score_bar

    out = Console(file=StringIO(), width=160)
    health = {"video": {"state": "failed", "error": "unplugged"}}
    sink = ConsoleSink("lines", health=lambda: health, console=out)
    sink.emit(make_event())
    line = out.file.getvalue()
    assert line.count("\n") == 1 and "text +1.50" in line and "ill disposed" in line
    out.print(sink.render())
    view = out.file.getvalue()[len(line):]
    assert "video: failed" in view and "+1.50" in view and "+0.40" in view and "positive" in view
    assert score_bar(3.0, 3.0, 5) == "--|-#" and score_bar(-9, 3.0, 5) == "#-|--"


def test_http_sink_serves_latest_events_and_health():
    sink = HttpSink(port=0, keep=2, health=lambda: {"video": {"state": "ok"}})
    try:
        def get(path):
            with urllib.request.urlopen(sink.url + path, timeout=5) as r:
                return json.loads(r.read())

        assert get("/latest") is None
        for i in range(3):
            sink.emit(make_event(i))
        assert get("/latest")["index"] == 2
        assert [e["index"] for e in get("/events")] == [1, 2]  # keeps the newest 2
        assert [e["index"] for e in get("/events?since=2")] == [2]
        assert get("/health") == {"video": {"state": "ok"}}
        with pytest.raises(urllib.error.HTTPError) as err:
            get("/nope")
        assert err.value.code == 404
    finally:
        sink.close()


def test_overlay_draws_and_encodes_every_frame(tmp_path):
    img = np.zeros((360, 480, 3), np.uint8)
    drawn = draw_overlay(img, make_event())
    assert drawn.shape == img.shape and drawn.any() and not img.any()
    assert draw_overlay(img, None).any()  # "waiting for speech"

    path = tmp_path / "overlay.mp4"
    sink = OverlaySink(path, fps=10, drop_oldest=False)
    sink.emit(make_event())  # ends at 2.5 s: frames from then on show it
    for i in range(30):
        sink.frame(VideoFrame(i / 10, np.zeros((47, 63, 3), np.uint8)))  # odd sizes are cropped to even
    sink.close()
    info = media.probe(path)
    frames = [f for _, f in media.iter_video_frames(path)]
    assert info.has_video and len(frames) == 30 == sink.frames_written
    assert frames[0].shape == (46, 62, 3)
    assert frames[29].astype(int).sum() > frames[0].astype(int).sum()  # the event's badges and text
    with pytest.raises(UserError, match="overlay video must be"):
        OverlaySink(tmp_path / "x.gif")
