"""The live dashboard's server (`edge-msa run --http`): token rules, security headers, Server-Sent
Events, camera snapshots. The page itself in a real browser: tests/test_dashboard_browser.py."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from importlib import resources

import cv2
import numpy as np
import pytest
from test_runtime_units import make_event

from edge_msa.runtime.sinks.http import HttpSink, is_loopback
from edge_msa.runtime.sources.base import VideoFrame

HEALTH = {"audio": {"state": "ok", "error": ""}, "video": {"state": "absent", "error": "no video track"}}


@pytest.fixture
def sink_on(request):
    """A started HttpSink (host, token from the test's parameters); closed afterwards."""
    sinks = []

    def start(host: str = "127.0.0.1", token: str | None = None) -> HttpSink:
        sinks.append(HttpSink(host, port=0, keep=10, health=lambda: HEALTH, token=token))
        return sinks[-1]

    yield start
    for s in sinks:
        s.close()


def get(port: int, path: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def read_sse(response, kind: str, timeout_s: float = 5.0) -> dict:
    """The data of the next event of this kind on an open /stream response."""
    deadline, current = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        line = response.readline().decode()
        if not line:
            raise EOFError("stream ended")
        if line.startswith("event: "):
            current = line[len("event: "):].strip()
        elif line.startswith("data: ") and current == kind:
            return json.loads(line[len("data: "):])
    raise TimeoutError(f"no {kind} event in {timeout_s} s")


def test_is_loopback():
    assert all(map(is_loopback, ["127.0.0.1", "127.3.2.1", "::1", "[::1]", "localhost", "LOCALHOST"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "192.168.1.20", "10.0.0.1", "example.com", ""]))


def test_loopback_serves_the_page_without_a_token_with_security_headers(sink_on):
    sink = sink_on()
    assert sink.token is None and sink.dashboard_url == f"http://127.0.0.1:{sink.port}/"
    status, headers, page = get(sink.port, "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "img-src 'self' data:" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["X-Frame-Options"] == "DENY"
    html = page.decode()
    assert '<script src="/dashboard.js" defer></script>' in html
    assert re.findall(r"<script(?![^>]*\ssrc=)", html) == []  # no inline script: the CSP would block it
    for path, kind in [("/dashboard.js", "text/javascript"), ("/dashboard.css", "text/css"),
                       ("/latest", "application/json"), ("/health", "application/json")]:
        status, headers, _ = get(sink.port, path)
        assert status == 200 and headers["Content-Type"].startswith(kind), path
        assert "Content-Security-Policy" in headers and headers["X-Content-Type-Options"] == "nosniff"


def test_the_page_loads_nothing_from_elsewhere():
    files = resources.files("edge_msa.runtime.sinks")
    for name in ("dashboard.html", "dashboard.js", "dashboard.css"):
        text = files.joinpath(name).read_text()
        urls = set(re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}[^\s\"'`)]*", text))
        assert urls <= {"http://www.w3.org/2000/svg"}, (name, urls)  # SVG's namespace: a name, not a fetch
        assert "@import" not in text and "innerHTML" not in text


def test_loopback_refuses_another_host_name(sink_on):
    """A web page that rebinds its own name to 127.0.0.1 sends its name as Host: refused."""
    sink = sink_on()
    assert get(sink.port, "/latest", {"Host": "attacker.example"})[0] == 403
    assert get(sink.port, "/latest", {"Host": f"localhost:{sink.port}"})[0] == 200


def test_beyond_loopback_every_request_needs_the_generated_token(sink_on):
    sink = sink_on("0.0.0.0")
    token = sink.token
    assert token and len(token) >= 20 and sink.dashboard_url.endswith(f"/?token={token}")
    for path in ("/", "/dashboard.js", "/dashboard.css", "/latest", "/events", "/health", "/stream",
                 "/frame.jpg"):
        status, headers, _ = get(sink.port, path)
        assert status == 401 and headers["WWW-Authenticate"] == "Bearer", path
        assert get(sink.port, path + "?token=wrong")[0] == 401, path
    assert get(sink.port, f"/latest?token={token}")[0] == 200
    assert get(sink.port, "/latest", {"Authorization": f"Bearer {token}"})[0] == 200
    assert get(sink.port, "/latest", {"Authorization": "Bearer nope"})[0] == 401
    status, _, page = get(sink.port, f"/?token={token}")
    assert status == 200 and f'src="/dashboard.js?token={token}"' in page.decode()  # the page passes it on
    assert get(sink.port, f"/dashboard.js?token={token}")[0] == 200


def test_a_given_token_is_required_also_on_loopback(sink_on):
    sink = sink_on("127.0.0.1", token="s3cret&<x>")
    assert sink.token == "s3cret&<x>"
    assert get(sink.port, "/latest")[0] == 401
    assert get(sink.port, "/latest?token=s3cret%26%3Cx%3E")[0] == 200
    page = get(sink.port, "/?token=s3cret%26%3Cx%3E")[2].decode()
    assert 'href="/dashboard.css?token=s3cret%26%3Cx%3E"' in page  # quoted, nothing for HTML to parse


def test_stream_pushes_events_health_and_frames(sink_on):
    sink = sink_on()
    sink.emit(make_event(0))
    with urllib.request.urlopen(f"{sink.url}/stream", timeout=5) as r:
        assert r.headers["Content-Type"] == "text/event-stream"
        assert r.headers["Content-Security-Policy"]
        assert read_sse(r, "sentiment")["index"] == 0  # the kept events first
        assert read_sse(r, "health") == HEALTH
        sink.emit(make_event(1, score=-2.0))
        event = read_sse(r, "sentiment")
        assert event["index"] == 1 and event["label"] == "negative"
        assert event["transcript"] == "he was not an ill disposed young man"
        assert event["evidence"]["text"]["score"] == 1.5 and event["masked"] == {"vision": "no face in view"}
        assert get(sink.port, "/frame.jpg")[0] == 404  # no camera frame yet
        image = np.full((720, 1280, 3), 120, np.uint8)
        sink.frame(VideoFrame(0.5, image))
        sink.frame(VideoFrame(0.53, image))  # within 0.5 s of the last snapshot: not kept
        assert read_sse(r, "frame")["n"] == 1
        status, headers, jpeg = get(sink.port, "/frame.jpg")
        assert status == 200 and headers["Content-Type"] == "image/jpeg"
        decoded = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert decoded.shape == (360, 640, 3)  # scaled down to 640 wide, overlay drawn
        assert not (decoded == 120).all()
        sink.close()  # the end of a run ends the stream
        with pytest.raises(EOFError):
            read_sse(r, "sentiment")


def test_run_beyond_loopback_prints_the_generated_token(tmp_path, capsys):
    from runtime_helpers import decode_demo, tiny_bundle, write_media

    from edge_msa.cli import main

    frames, fps, wave = decode_demo(2.7)
    clip = write_media(tmp_path / "clip.mp4", frames, fps, wave)
    argv = ["run", "--video", str(clip), "--fast", "--bundle", str(tiny_bundle()), "--console", "off",
            "--http", "0", "--http-host", "0.0.0.0"]
    assert main(argv) == 0, capsys.readouterr().err
    err = capsys.readouterr().err
    token = re.search(r"dashboard at http://0\.0\.0\.0:\d+/\?token=([\w-]+) ", err)
    assert token and f"; token {token.group(1)})" in err and len(token.group(1)) >= 20
    assert main(["run", "--video", str(clip), "--http-token", "x"]) == 2
    assert "--http-host and --http-token go with --http PORT" in capsys.readouterr().err


def test_http_help_says_events_hold_what_people_said(capsys):
    from edge_msa.cli import main

    main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "hold what people said" in text and "--http-host" in text and "--http-token" in text
