"""A small HTTP endpoint (stdlib only): the latest events as JSON and a live dashboard page.

    GET /                the dashboard (dashboard.html/.js/.css: package data, nothing from the internet)
    GET /stream          Server-Sent Events: `sentiment` (the kept events, then each new one),
                         `health` (when a state changes), `frame` (a new camera snapshot, <= 2 per s)
    GET /frame.jpg       the latest camera frame with the overlay drawn (404 without a video source)
    GET /latest          the newest event (JSON object; null before the first)
    GET /events?since=N  the kept events with index >= N (JSON list, oldest first)
    GET /health          state of every source and perception component

The events hold what a person said. Bound to the loopback by default, where no token is needed
(the Host header must then name the loopback, so a web page cannot rebind its own name to this
server); any other address needs a token, generated when none is given. With a token, every
request must carry it (`?token=` or `Authorization: Bearer`), else 401.
"""

from __future__ import annotations

import html
import ipaddress
import json
import math
import queue
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, quote, urlparse, urlsplit

import cv2
import numpy as np

from edge_msa.errors import UserError
from edge_msa.runtime.events import SentimentEvent
from edge_msa.runtime.sinks.overlay import draw_overlay
from edge_msa.runtime.sources.base import VideoFrame

STATIC = {"/": ("dashboard.html", "text/html; charset=utf-8"),
          "/dashboard.js": ("dashboard.js", "text/javascript; charset=utf-8"),
          "/dashboard.css": ("dashboard.css", "text/css; charset=utf-8")}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; script-src 'self'; "
                               "style-src 'self'; connect-src 'self'; frame-ancestors 'none'; "
                               "base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
FRAME_PERIOD_S = 0.5  # camera snapshots at most 2 per second
FRAME_MAX_WIDTH = 640
KEEPALIVE_S = 15.0


def is_loopback(host: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1 (a name other than localhost counts as not loopback)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def sse(kind: str, data: object, event_id: int | None = None) -> bytes:
    """One Server-Sent Event (JSON data on one line)."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data)}\n\n".encode()


class HttpSink:
    def __init__(self, host: str = "127.0.0.1", port: int = 8765, keep: int = 100,
                 health: Callable[[], dict] | None = None, token: str | None = None,
                 scale_max: float = 3.0) -> None:
        if not token and not is_loopback(host):
            token = secrets.token_urlsafe(18)
        self.token = token or None
        self.scale_max = scale_max
        self._events: deque[dict] = deque(maxlen=keep)
        self._latest: SentimentEvent | None = None
        self._lock = threading.Lock()
        self._health = health or dict
        self._subscribers: list[queue.Queue] = []
        self._frame: np.ndarray | None = None
        self._frame_n, self._frame_at = 0, -math.inf
        self._jpeg: tuple[int, bytes] = (0, b"")
        self.cpu_s = 0.0  # CPU time of the request threads (the SSE streams included)
        try:
            self._server = ThreadingHTTPServer((host, port), self._handler())
        except OSError as e:
            raise UserError(f"cannot serve events on {host}:{port}: {e.strerror}") from None
        self._server.daemon_threads = True
        self._server.block_on_close = False  # a stuck client never holds up the end of a run
        self.host, self.port = self._server.server_address[:2]
        self._thread = threading.Thread(target=self._server.serve_forever, name="http-sink", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def dashboard_url(self) -> str:
        return f"{self.url}/" + (f"?token={quote(self.token, safe='')}" if self.token else "")

    # ---- what the pipeline feeds ----
    def emit(self, event: SentimentEvent) -> None:
        data = event.to_dict()
        with self._lock:
            self._events.append(data)
            self._latest = event
        self._publish(sse("sentiment", data, event.index))

    def frame(self, frame: VideoFrame) -> None:
        """A camera frame; kept (by reference, not encoded) at most every FRAME_PERIOD_S."""
        now = time.monotonic()
        if now - self._frame_at < FRAME_PERIOD_S:
            return
        with self._lock:
            self._frame, self._frame_at = frame.image, now
            self._frame_n += 1
            n = self._frame_n
        self._publish(sse("frame", {"n": n, "t": round(frame.t, 3)}))

    def _publish(self, message: bytes | None) -> None:
        with self._lock:
            for q in list(self._subscribers):
                try:
                    q.put_nowait(message)
                except queue.Full:  # a client that does not read: drop it (its browser reconnects)
                    self._subscribers.remove(q)

    # ---- answers ----
    def jpeg(self) -> bytes | None:
        """The latest kept frame with the latest event drawn on it, as JPEG (encoded once per frame)."""
        with self._lock:
            n, image, event = self._frame_n, self._frame, self._latest
            if self._jpeg[0] == n:
                return self._jpeg[1] or None
        if image is None:
            return None
        img = draw_overlay(image, event, self.scale_max)
        if img.shape[1] > FRAME_MAX_WIDTH:
            h = round(img.shape[0] * FRAME_MAX_WIDTH / img.shape[1])
            img = cv2.resize(img, (FRAME_MAX_WIDTH, h), interpolation=cv2.INTER_AREA)
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 75])
        data = buf.tobytes() if ok else b""
        with self._lock:
            self._jpeg = (n, data)
        return data or None

    def _answer(self, path: str, query: dict) -> tuple[int, object]:
        with self._lock:
            events = list(self._events)
        if path == "/latest":
            return 200, events[-1] if events else None
        if path == "/events":
            try:
                since = int(query.get("since", ["0"])[0])
            except ValueError:
                return 400, {"error": "since must be an integer"}
            return 200, [e for e in events if e["index"] >= since]
        if path == "/health":
            return 200, self._health()
        return 404, {"error": f"unknown path {path}; try /, /stream, /frame.jpg, /latest, /events, /health"}

    def _static(self, path: str) -> bytes:
        name = STATIC[path][0]
        data = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
        if name.endswith(".html"):  # the page's own files need the token too
            q = f"?token={quote(self.token, safe='')}" if self.token else ""
            data = data.replace("{{query}}", html.escape(q))
        return data.encode()

    def _refusal(self, headers, query: dict) -> tuple[int, str] | None:
        """(status, why) when a request may not be answered; None when it may."""
        if self.token is None:
            host = urlsplit("//" + headers.get("Host", "localhost")).hostname or ""
            if not is_loopback(host):
                return 403, "this server answers only requests to a loopback name (Host header)"
            return None
        given = list(query.get("token", []))
        auth = headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            given.append(auth[len("Bearer "):].strip())
        if any(secrets.compare_digest(g.encode(), self.token.encode()) for g in given):
            return None
        return 401, "a token is needed: ?token=... or Authorization: Bearer ..."

    def _stream(self, write: Callable[[bytes], None]) -> None:
        """Send the kept events, then each new event, health change and frame, until close()."""
        q: queue.Queue = queue.Queue(maxsize=256)
        with self._lock:
            backlog, frame_n = list(self._events), self._frame_n
            self._subscribers.append(q)
        sent_health = None

        def health_change() -> bytes:
            nonlocal sent_health
            health = self._health()
            states = {k: (h.get("state"), h.get("error")) for k, h in health.items()}
            if states == sent_health:
                return b""
            sent_health = states
            return sse("health", health)

        try:
            write(b"retry: 2000\n\n" + b"".join(sse("sentiment", e, e["index"]) for e in backlog)
                  + (sse("frame", {"n": frame_n}) if frame_n else b"") + health_change())
            last = time.monotonic()
            while True:
                try:
                    message = q.get(timeout=1.0)
                except queue.Empty:
                    message = b""
                if message is None:  # closing
                    return
                message += health_change()
                if not message and time.monotonic() - last > KEEPALIVE_S:
                    message = b": keep-alive\n\n"  # also finds out that a client has left
                if message:
                    write(message)
                    last = time.monotonic()
                with self._lock:
                    if q not in self._subscribers:
                        return
        finally:
            with self._lock:
                if q in self._subscribers:
                    self._subscribers.remove(q)

    def _handler(self):
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, status: int, body: bytes | None, content_type: str,
                      extra: dict | None = None) -> None:
                self.send_response(status)
                for k, v in {**SECURITY_HEADERS, "Content-Type": content_type, **(extra or {})}.items():
                    self.send_header(k, v)
                if body is not None:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body:
                    self.wfile.write(body)

            def _get(self) -> None:
                url = urlparse(self.path)
                query = parse_qs(url.query)
                refused = sink._refusal(self.headers, query)
                if refused is not None:
                    status, why = refused
                    extra = {"WWW-Authenticate": "Bearer"} if status == 401 else None
                    self._send(status, json.dumps({"error": why}).encode(), "application/json", extra)
                elif url.path in STATIC:
                    self._send(200, sink._static(url.path), STATIC[url.path][1])
                elif url.path == "/stream":
                    self._send(200, None, "text/event-stream", {"X-Accel-Buffering": "no"})

                    def write(data: bytes) -> None:
                        self.wfile.write(data)
                        self.wfile.flush()

                    sink._stream(write)
                elif url.path == "/frame.jpg":
                    jpeg = sink.jpeg()
                    if jpeg is None:
                        self._send(404, b'{"error": "no camera frame"}', "application/json")
                    else:
                        self._send(200, jpeg, "image/jpeg")
                else:
                    status, body = sink._answer(url.path, query)
                    self._send(status, json.dumps(body).encode(), "application/json")

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                cpu0 = time.thread_time()
                try:
                    self._get()
                except (BrokenPipeError, ConnectionResetError):  # the client left: nothing to tell it
                    pass
                finally:
                    with sink._lock:
                        sink.cpu_s += time.thread_time() - cpu0

            def log_message(self, *args) -> None:  # keep the console view clean
                pass

        return Handler

    def close(self) -> None:
        with self._lock:
            subscribers, self._subscribers = self._subscribers, []
        for q in subscribers:  # ends the SSE streams (a full queue's stream ends at its next check)
            try:
                q.put_nowait(None)
            except queue.Full:
                pass
        self._server.shutdown()
        self._server.server_close()
