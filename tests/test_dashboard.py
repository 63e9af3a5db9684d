"""The live dashboard's server (`edge-msa run --http`): token rules, security headers, Server-Sent
Events, camera snapshots. The page itself in a real browser: tests/test_dashboard_browser.py."""

from __future__ import annotations

import html
import json
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from importlib import resources

import cv2
import numpy as np
import pytest
from test_runtime_units import make_event

import edge_msa.runtime.sinks.http as http_sink
from edge_msa.errors import UserError
from edge_msa.features.media import demo_clip_path
from edge_msa.runtime.events import Evidence, SentimentEvent, tone
from edge_msa.runtime.sinks.addresses import is_loopback
from edge_msa.runtime.sinks.http import HttpSink
from edge_msa.runtime.sinks.overlay import TONE_BGR, draw_overlay
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
        assert event["evidence"]["text"]["score"] == 1.5 and event["masked"] == {"face": "no face in view"}
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
    from runtime_helpers import decode_demo, write_media

    from edge_msa.cli import main

    frames, fps, wave = decode_demo(2.7)
    clip = write_media(tmp_path / "clip.mp4", frames, fps, wave)
    argv = ["run", "--video", str(clip), "--fast", "--bundle", "default/onnx-int8", "--console", "off",
            "--http", "0", "--http-host", "0.0.0.0", "--no-linger"]
    assert main(argv) == 0, capsys.readouterr().err
    err = capsys.readouterr().err
    token = re.search(r"dashboard at http://0\.0\.0\.0:\d+/\?token=([\w-]+) ", err)
    assert token and f"; token {token.group(1)})" in err and len(token.group(1)) >= 20
    assert main(["run", "--video", str(clip), "--http-token", "x"]) == 2
    assert "--http-host, --http-token and --linger go with --http PORT" in capsys.readouterr().err


def test_http_help_says_events_hold_what_people_said(capsys):
    from edge_msa.cli import main

    main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.replace("│", " ").split())  # rich's help box, unwrapped
    assert "hold what people said" in text and "--http-host" in text and "--http-token" in text
    assert "--linger" in text and "--no-linger" in text


# ---- issue 29: hostile input to the server; issue 28: vocabulary, final state, badge colours ----

def raw_request(port: int, data: bytes, host: str = "127.0.0.1", timeout_s: float = 5.0) -> bytes:
    """Send bytes as they are, return every byte of the reply (until the server closes)."""
    with socket.create_connection((host, port), timeout=timeout_s) as s:
        s.sendall(data)
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    return reply


def reply_headers(reply: bytes) -> dict[str, str]:
    lines = reply.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")[1:]
    return {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}


def test_idle_sockets_hold_no_threads_and_a_token_client_is_answered(sink_on, monkeypatch):
    """Defect 3: 300 silent connections raised the server's threads 16 -> 316."""
    monkeypatch.setattr(http_sink, "HEADER_TIMEOUT_S", 1.0)
    sink = sink_on("127.0.0.1", token="t0ken")
    sink.emit(make_event(0))
    threads = threading.active_count()
    idle = [socket.create_connection(("127.0.0.1", sink.port), timeout=5) for _ in range(300)]
    try:
        time.sleep(0.3)  # the server has accepted them
        assert threading.active_count() - threads <= 3  # waiting sockets hold no thread
        status, _, body = get(sink.port, "/latest?token=t0ken")
        assert status == 200 and json.loads(body)["index"] == 0
        for s in idle[:5]:  # a silent socket is closed once its headers are late
            assert s.recv(10) == b""
    finally:
        for s in idle:
            s.close()


def test_headers_dribbled_slowly_are_cut_and_connections_are_bounded(sink_on, monkeypatch):
    monkeypatch.setattr(http_sink, "HEADER_TIMEOUT_S", 1.0)
    sink = sink_on("127.0.0.1", token="t0ken")
    with socket.create_connection(("127.0.0.1", sink.port), timeout=5) as slow:
        slow.sendall(b"GET /latest?token=t0ken HTTP/1.1\r\nX-A: 1\r\n")  # ... and never the end
        t0 = time.monotonic()
        assert slow.recv(10) == b"" and time.monotonic() - t0 < 4.0  # cut at the deadline, no answer
    sink._server.max_connections = 20
    idle = [socket.create_connection(("127.0.0.1", sink.port), timeout=5) for _ in range(30)]
    try:
        time.sleep(0.3)
        assert idle[0].recv(10) == b""  # the oldest silent connections made room for the new ones
        assert get(sink.port, "/latest?token=t0ken")[0] == 200  # and for a client with a request
    finally:
        for s in idle:
            s.close()


def test_a_burst_of_200_stream_clients_is_accepted_at_once(sink_on):
    """Defect 3: a listen backlog of 5 left 22 of 200 SSE clients with nothing within 12 s."""
    sink = sink_on()
    sink.emit(make_event(0))
    clients = []
    try:
        for _ in range(200):
            s = socket.create_connection(("127.0.0.1", sink.port), timeout=10)
            s.sendall(b"GET /stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            clients.append(s)
        for s in clients:
            assert s.recv(15).startswith(b"HTTP/1.0 200 OK")
    finally:
        for s in clients:
            s.close()


@pytest.mark.parametrize("host", ["[::1", "[evil.com]", "localhost:http"])
def test_malformed_host_header_answers_400(sink_on, capfd, host):
    """Defect 8: `Host: [::1` printed a traceback on the run's stderr and the client got nothing."""
    sink = sink_on()
    reply = raw_request(sink.port, f"GET /latest HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    assert reply.startswith(b"HTTP/1.0 400 ")
    assert b"malformed Host header" in reply and reply_headers(reply)["x-frame-options"] == "DENY"
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize("request_bytes, status", [
    (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\nX-Big: " + b"b" * 70000 + b"\r\n\r\n", 431),
    (b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(120)) + b"\r\n", 431),
    (b"BREW / HTTP/1.1\r\nHost: localhost\r\n\r\n", 501),
    (b"GET / HTTP/9.9\r\n\r\n", 505),
    (b"GET /\r\n\r\n", 505),  # HTTP/0.9: a reply without headers
])
def test_error_replies_carry_the_security_headers(sink_on, request_bytes, status):
    reply = raw_request(sink_on().port, request_bytes)
    assert reply.startswith(f"HTTP/1.0 {status} ".encode()), reply[:80]
    headers = reply_headers(reply)
    assert headers["content-security-policy"] == http_sink.SECURITY_HEADERS["Content-Security-Policy"]
    assert headers["x-content-type-options"] == "nosniff" and headers["x-frame-options"] == "DENY"
    assert headers["content-type"] == "application/json"


def test_head_is_answered_without_a_body(sink_on):
    sink = sink_on()
    for path, kind in [("/", "text/html"), ("/latest", "application/json"), ("/stream", "text/event-stream")]:
        reply = raw_request(sink.port, f"HEAD {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        head, body = reply.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.0 200 ") and body == b"", path
        assert reply_headers(reply)["content-type"].startswith(kind), path
    page = get(sink.port, "/")[2]
    reply = raw_request(sink.port, b"HEAD / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert int(reply_headers(reply)["content-length"]) == len(page)


def test_ipv6_loopback_bind(sink_on):
    """`--http-host ::1` failed: the server was IPv4 only."""
    try:
        socket.socket(socket.AF_INET6).close()
        sink = sink_on("::1")
    except (OSError, UserError) as e:
        pytest.skip(f"no IPv6 on this machine: {e}")
    assert sink.token is None and sink.url == f"http://[::1]:{sink.port}"
    reply = raw_request(sink.port, f"GET /latest HTTP/1.1\r\nHost: [::1]:{sink.port}\r\n\r\n".encode(),
                        host="::1")
    assert reply.startswith(b"HTTP/1.0 200 ")


@pytest.mark.parametrize("args, says", [
    (["--http-host", "no such host!"], "--http-host 'no such host!' is not an address"),
    (["--http-host", "[::1"], "is not an address"),
    (["--http", "70000"], "65535"),
])
def test_a_bad_http_host_is_refused_before_the_model_loads(tmp_path, capsys, monkeypatch, args, says):
    import edge_msa.runtime.launch as launch
    from edge_msa.cli import main

    def no_model(*a, **k):
        raise AssertionError("the model loaded before the address was checked")

    monkeypatch.setattr(launch, "open_bundle", no_model)
    argv = ["run", "--video", str(demo_clip_path()), "--http", "0", *args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("edge-msa: error: ") and says in err and err.count("\n") == 1, err


def test_a_port_in_use_is_refused_before_the_model_loads(capsys, monkeypatch):
    import edge_msa.runtime.launch as launch
    from edge_msa.cli import main

    monkeypatch.setattr(launch, "open_bundle", lambda *a, **k: pytest.fail("model loaded"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["run", "--video", str(demo_clip_path()), "--http", str(port)]) == 2
    assert f"cannot serve the dashboard on 127.0.0.1:{port}" in capsys.readouterr().err


def page_state(port: int, query: str = "") -> dict:
    page = get(port, "/" + query)[2].decode()
    return json.loads(html.unescape(re.search(r'<body data-state="([^"]*)">', page).group(1)))


def test_the_page_carries_the_state_and_the_server_serves_it_after_the_run(sink_on):
    """Issue 28: after a file run the page flipped to "disconnected" with a broken camera image."""
    sink = sink_on()
    said = make_event(0)
    said.transcript = 'a "quote" </body><script>alert(1)</script> & more'
    sink.emit(said)
    sink.frame(VideoFrame(0.5, np.full((480, 640, 3), 90, np.uint8)))
    page = get(sink.port, "/")[2].decode()
    assert "<script>alert" not in page  # the transcript is in an attribute, escaped
    state = page_state(sink.port)
    assert state["events"][0]["transcript"] == said.transcript and state["frame"] == 1
    assert state["ended"] is False and state["scale_max"] == 3.0 and state["neutral_band"] == 0.5
    with urllib.request.urlopen(f"{sink.url}/stream", timeout=5) as r:
        read_sse(r, "sentiment")
        sink.finish()  # the file ended; the run lingers
        assert read_sse(r, "ended") == {"events": 1}
        with pytest.raises(EOFError):
            read_sse(r, "sentiment")  # the stream ends: nothing more will come
    assert page_state(sink.port)["ended"] is True  # a page opened now shows the final state
    assert get(sink.port, "/frame.jpg")[0] == 200 and get(sink.port, "/latest")[0] == 200
    with urllib.request.urlopen(f"{sink.url}/stream", timeout=5) as r:  # a late stream: backlog, ended
        assert read_sse(r, "sentiment")["index"] == 0 and read_sse(r, "ended") == {"events": 1}


def post(port: int, path: str, headers: dict | None = None, body: bytes = b"",
         method: str = "POST") -> tuple[int, dict, dict]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, headers=headers or {},
                                 method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, dict(r.headers), json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read() or b"null")


def test_new_person_is_a_post_with_the_pages_header_and_token():
    """POST /person/new tells the run someone else sat down: only with the header a cross-site form
    cannot send, with the token where one is set, without a body, while the run is live."""
    told = []
    sink = HttpSink("127.0.0.1", port=0, keep=10, on_new_person=lambda: told.append(1))
    guarded = HttpSink("127.0.0.1", port=0, keep=10, token="t0k", on_new_person=lambda: told.append(2))
    bare = HttpSink("127.0.0.1", port=0, keep=10)
    page = {"X-Requested-With": "edge-msa"}
    try:
        status, headers, body = post(sink.port, "/person/new", page)
        assert (status, body, told) == (200, {"new_person": True}, [1])
        assert headers["X-Frame-Options"] == "DENY"
        assert post(sink.port, "/person/new")[0] == 403  # a cross-site form: no such header
        assert post(sink.port, "/person/new", {"X-Requested-With": "XMLHttpRequest"})[0] == 403
        assert post(sink.port, "/person/new", page, b"x" * 5000)[0] == 413
        assert post(sink.port, "/person/other", page)[0] == 404
        assert post(sink.port, "/person/new", {**page, "Host": "evil.example"})[0] == 403
        preflight = post(sink.port, "/person/new", {"Origin": "http://evil.example"}, method="OPTIONS")
        assert preflight[0] == 501 and "Access-Control-Allow-Origin" not in preflight[1]
        assert post(guarded.port, "/person/new", page)[0] == 401
        assert post(guarded.port, "/person/new", {**page, "Authorization": "Bearer t0k"})[0] == 200
        assert post(bare.port, "/person/new", page)[0] == 404  # no run to tell
        sink.finish()
        assert post(sink.port, "/person/new", page)[0] == 409  # the run is over
        assert told == [1, 2]
        assert get(sink.port, "/health")[0] == 200  # still serving after the refusals
    finally:
        for s in (sink, guarded, bare):
            s.close()


def test_events_name_modalities_text_voice_face_and_read_the_old_keys():
    """Issue 28: the API's keys (audio, vision) were not the words of the CLI and page."""
    e = make_event()  # built with the model contract's names, as fusion does
    data = json.loads(e.to_json())
    assert data["modalities"] == {"text": True, "voice": True, "face": False}
    assert set(data["evidence"]) == {"text", "voice", "face"}
    assert data["masked"] == {"face": "no face in view"}
    old = dict(data, modalities={"text": True, "audio": True, "vision": False},
               masked={"vision": "no face in view"},
               evidence={"text": data["evidence"]["text"], "audio": data["evidence"]["voice"],
                         "vision": data["evidence"]["face"]})
    back = SentimentEvent.from_dict(old)  # a JSON line of the previous release
    assert back == e and list(back.evidence) == ["text", "voice", "face"]
    with pytest.warns(DeprecationWarning, match="'audio' is now 'voice'"):
        assert back.evidence["audio"].score == 0.4
    with pytest.warns(DeprecationWarning, match="'vision' is now 'face'"):
        assert "vision" in back.masked and back.masked.get("vision") == "no face in view"
    with pytest.raises(KeyError):
        back.evidence["smell"]


def test_badges_are_coloured_by_sign_and_strength():
    """Issue 28: badges were green whatever their sign."""
    assert [tone(s) for s in (0.3, -0.3, 0.7, 1.2, 2.5, 9.0, -0.7, -1.2, -2.5)] == [
        ("neutral", 1), ("neutral", 1), ("positive", 1), ("positive", 2), ("positive", 3), ("positive", 3),
        ("negative", 1), ("negative", 2), ("negative", 3)]
    assert tone(0.05, "sims") == ("neutral", 1) and tone(-0.8, "sims") == ("negative", 3)
    css = resources.files("edge_msa.runtime.sinks").joinpath("dashboard.css").read_text()
    for sign in ("positive", "negative"):
        for strength in (1, 2, 3):
            rule = re.search(rf"\.badge\.on\.{sign}\.s{strength} {{ background: #(\w+);", css)
            b, g, r = TONE_BGR[sign, strength]  # the overlay draws the page's colours
            assert rule and rule.group(1) == f"{r:02x}{g:02x}{b:02x}", (sign, strength)
    event = make_event()
    event.evidence["voice"] = Evidence(True, -2.6, 0.2)
    drawn = draw_overlay(np.zeros((480, 640, 3), np.uint8), event)
    red = np.all(drawn == TONE_BGR["negative", 3], axis=-1).sum()
    green = np.all(drawn == TONE_BGR["positive", 3], axis=-1).sum()  # text alone +1.5: strength 2
    assert red > 200 and green == 0 and np.all(drawn == TONE_BGR["positive", 2], axis=-1).sum() > 200
