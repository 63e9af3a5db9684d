"""A small HTTP endpoint (stdlib only): the latest events as JSON and a live dashboard page.

    GET /                the dashboard (dashboard.html/.js/.css: package data, nothing from the internet);
                         the page carries the kept events, so it shows the state as soon as it loads
    GET /stream          Server-Sent Events: `sentiment` (the kept events, then each new one),
                         `health` (when a state changes), `frame` (a new camera snapshot, <= 2 per s),
                         `ended` (the run is over; the stream then ends)
    GET /frame.jpg       the latest camera frame with the overlay drawn (404 without a video source)
    GET /latest          the newest event (JSON object; null before the first)
    GET /events?since=N  the kept events with index >= N (JSON list, oldest first)
    GET /health          state of every source and perception component
    HEAD                 the same headers, no body
    POST /person/new     someone else is in front of the camera: the run forgets the person's
                         baselines from its next event on (the page's "new person" button); needs
                         the header `X-Requested-With: edge-msa`, which a page from another site
                         cannot send without a CORS preflight this server never grants

The events hold what a person said. Bound to the loopback by default, where no token is needed
(the Host header must then name the loopback, so a web page cannot rebind its own name to this
server); any other address needs a token, generated when none is given. With a token, every
request must carry it (`?token=` or `Authorization: Bearer`), else 401.

Connections are bounded: a connection that has not sent its request waits without a thread (one
gate thread watches them all), and the request line and headers must arrive within
HEADER_TIMEOUT_S of the connection, else it is closed; at most `max_connections` are open (the
oldest silent one makes room for a new one) and at most MAX_STREAMS event streams (503 beyond).
Hundreds of silent sockets thus cost file descriptors, not threads, and a client that sends its
request is answered at once (docs/reliability.md: Dashboard server).
"""

from __future__ import annotations

import html
import json
import math
import queue
import resource
import secrets
import selectors
import socket
import socketserver
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from importlib import resources
from urllib.parse import parse_qs, quote, urlparse

import cv2
import numpy as np

from edge_msa.errors import UserError
from edge_msa.runtime.events import NEUTRAL_BAND, SCALE_MAX, SentimentEvent
from edge_msa.runtime.sinks.addresses import bind_address, host_of, is_loopback
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
HEADER_TIMEOUT_S = 5.0  # from accept to the end of the headers (a browser sends them at once)
WRITE_TIMEOUT_S = 10.0  # a client that stops reading its stream for this long is dropped
MAX_STREAMS = 256
LISTEN_BACKLOG = 256  # http.server's default of 5 made a burst of 200 clients wait seconds
POST_HEADER = ("X-Requested-With", "edge-msa")  # a cross-site form cannot send it (CSRF)
MAX_POST_BODY = 1024  # POST /person/new takes no body; a small one is read and ignored


def max_connections() -> int:
    """Open connections allowed: half of the file descriptors left after the run's own (models,
    media, libraries: 128 kept aside), at most 512."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return max(8, min(512, (soft - 128) // 2))


def sse(kind: str, data: object, event_id: int | None = None) -> bytes:
    """One Server-Sent Event (JSON data on one line)."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data)}\n\n".encode()


class GatedServer(HTTPServer):
    """An HTTP server whose connections get a thread only once their request arrives (see the
    module's docstring); `reading` sockets are cut when their headers are late."""

    allow_reuse_address = True
    request_queue_size = LISTEN_BACKLOG

    def __init__(self, family: socket.AddressFamily, address: tuple, handler) -> None:
        self.address_family = family
        self.max_connections = max_connections()
        self.streams = 0
        self._lock = threading.Lock()
        self._selector = selectors.DefaultSelector()
        self._waiting: dict[socket.socket, tuple[object, float]] = {}  # accept order = deadline order
        self._reading: dict[socket.socket, float] = {}  # handed to a thread, headers not read yet
        self._active = 0
        self._closing = threading.Event()
        super().__init__(address, handler)
        self._gate = threading.Thread(target=self._watch, name="http-gate", daemon=True)
        self._gate.start()

    def server_bind(self) -> None:
        """Bind without http.server's reverse-DNS lookup of the address (socket.getfqdn)."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    def process_request(self, request: socket.socket, client_address) -> None:
        """A new connection: wait (no thread) for its request; the oldest silent one makes room."""
        with self._lock:
            if len(self._waiting) + self._active >= self.max_connections:
                if not self._waiting:
                    self.shutdown_request(request)
                    return
                self._drop(next(iter(self._waiting)))
            self._waiting[request] = (client_address, time.monotonic() + HEADER_TIMEOUT_S)
            self._selector.register(request, selectors.EVENT_READ)

    def _drop(self, sock: socket.socket) -> None:
        self._selector.unregister(sock)
        del self._waiting[sock]
        self.shutdown_request(sock)

    def _watch(self) -> None:
        """Hand each connection whose request arrived to a thread; close the late ones."""
        while not self._closing.is_set():
            ready = self._selector.select(0.25)
            now = time.monotonic()
            with self._lock:
                handed = []
                for key, _ in ready:
                    sock = key.fileobj
                    if sock in self._waiting:
                        self._selector.unregister(sock)
                        address, deadline = self._waiting.pop(sock)
                        self._reading[sock] = deadline
                        self._active += 1
                        handed.append((sock, address))
                for sock, (_, deadline) in list(self._waiting.items()):
                    if deadline > now:
                        break
                    self._drop(sock)
                for sock, deadline in list(self._reading.items()):
                    if deadline <= now:  # headers dribbled in too slowly: the reader sees EOF
                        del self._reading[sock]
                        try:
                            sock.shutdown(socket.SHUT_RDWR)
                        except OSError:
                            pass
            for sock, address in handed:
                threading.Thread(target=self._serve, args=(sock, address), daemon=True).start()

    def _serve(self, sock: socket.socket, address) -> None:
        try:
            self.finish_request(sock, address)
        except Exception:  # noqa: BLE001 - one line instead of socketserver's traceback
            self.handle_error(sock, address)
        finally:
            self.headers_read(sock)
            with self._lock:
                self._active -= 1
            self.shutdown_request(sock)

    def headers_read(self, sock: socket.socket) -> None:
        with self._lock:
            self._reading.pop(sock, None)

    def handle_error(self, request, client_address) -> None:
        error = sys.exc_info()[1]
        print(f"dashboard: error answering {client_address[0]}: {type(error).__name__}: {error}",
              file=sys.stderr)

    def server_close(self) -> None:
        self._closing.set()
        self._gate.join(2.0)
        with self._lock:
            for sock in list(self._waiting):
                self._drop(sock)
        self._selector.close()
        super().server_close()


class HttpSink:
    def __init__(self, host: str = "127.0.0.1", port: int = 8765, keep: int = 100,
                 health: Callable[[], dict] | None = None, token: str | None = None,
                 scale: str = "mosi", on_new_person: Callable[[], None] | None = None) -> None:
        if not token and not is_loopback(host):
            token = secrets.token_urlsafe(18)
        self.token = token or None
        self.scale = scale
        self._events: deque[dict] = deque(maxlen=keep)
        self._latest: SentimentEvent | None = None
        self._lock = threading.Lock()
        self._health = health or dict
        self._on_new_person = on_new_person  # the run's "someone else sat down" (None: not offered)
        self._subscribers: list[queue.Queue] = []
        self._frame: np.ndarray | None = None
        self._frame_n, self._frame_at = 0, -math.inf
        self._jpeg: tuple[int, bytes] = (0, b"")
        self.ended = False  # the run is over (the page then shows its final state)
        self.cpu_s = 0.0  # CPU time of the request threads (the SSE streams included)
        family, address = bind_address(host, port)
        try:
            self._server = GatedServer(family, address, self._handler())
        except OSError as e:
            raise UserError(f"cannot serve events on {host}:{port}: {e.strerror}") from None
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

    def finish(self) -> None:
        """The run is over: every stream gets `ended` and ends; the server goes on answering (the
        final state, the last frame) until close()."""
        with self._lock:
            if self.ended:
                return
            self.ended = True
        self._publish(sse("ended", {"events": len(self._events)}))
        self._publish(None)

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
        img = draw_overlay(image, event, self.scale)
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

    def _act(self, path: str) -> tuple[int, object]:
        """A POST: what the page (or a script holding the token) asks the run to do."""
        if path != "/person/new":
            return 404, {"error": f"unknown path {path}; POST takes /person/new"}
        if self._on_new_person is None:
            return 404, {"error": "this server has no run to tell about a new person"}
        if self.ended:
            return 409, {"error": "the run is over"}
        self._on_new_person()
        return 200, {"new_person": True}

    def page_state(self) -> dict:
        """What the page draws before its stream opens: the kept events, health, the latest frame's
        number, whether the run is over, and the label scale (range, neutral band)."""
        with self._lock:
            events, frame_n, ended = list(self._events), self._frame_n, self.ended
        return {"events": events, "health": self._health(), "frame": frame_n, "ended": ended,
                "scale_max": SCALE_MAX.get(self.scale, 3.0),
                "neutral_band": NEUTRAL_BAND.get(self.scale, NEUTRAL_BAND["mosi"])}

    def _static(self, path: str) -> bytes:
        name = STATIC[path][0]
        data = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
        if name.endswith(".html"):  # the page's own files need the token too
            q = f"?token={quote(self.token, safe='')}" if self.token else ""
            state = json.dumps(self.page_state(), separators=(",", ":"))
            data = data.replace("{{query}}", html.escape(q)).replace("{{state}}", html.escape(state))
        return data.encode()

    def _refusal(self, headers, query: dict) -> tuple[int, str] | None:
        """(status, why) when a request may not be answered; None when it may."""
        host = host_of(headers.get("Host", "localhost"))
        if host is None:
            return 400, "malformed Host header"
        if self.token is None:
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
            backlog, frame_n, ended = list(self._events), self._frame_n, self.ended
            if not ended:
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
                  + (sse("frame", {"n": frame_n}) if frame_n else b"") + health_change()
                  + (sse("ended", {"events": len(backlog)}) if ended else b""))
            if ended:
                return
            last = time.monotonic()
            while True:
                try:
                    message = q.get(timeout=1.0)
                except queue.Empty:
                    message = b""
                if message is None:  # closing
                    return
                message = health_change() + message  # before `ended`, after which a page stops reading
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
            timeout = HEADER_TIMEOUT_S  # per read; the gate cuts the whole request line + headers

            def parse_request(self) -> bool:
                """The request line and headers are in: from now on only writes are timed."""
                parsed = super().parse_request()
                self.server.headers_read(self.connection)
                self.connection.settimeout(WRITE_TIMEOUT_S)
                if parsed and self.request_version == "HTTP/0.9":  # a reply without any headers
                    self.send_error(505, "HTTP/0.9 is not served")
                    return False
                return parsed

            def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
                """http.server's own refusals (400, 414, 431, 501) with the same headers as every reply."""
                self.close_connection = True
                if self.request_version == "HTTP/0.9":  # an unparsed or unknown version: reply as 1.0,
                    self.request_version = "HTTP/1.0"  # with a status line and headers
                why = message or HTTPStatus(code).phrase
                body = json.dumps({"error": why}).encode() if code >= 200 and code not in (204, 304) else None
                self._send(code, body, "application/json", {"Connection": "close"})

            def _send(self, status: int, body: bytes | None, content_type: str,
                      extra: dict | None = None) -> None:
                self.send_response(status)
                for k, v in {**SECURITY_HEADERS, "Content-Type": content_type, **(extra or {})}.items():
                    self.send_header(k, v)
                if body is not None:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body and self.command != "HEAD":
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
                    self._stream()
                elif url.path == "/frame.jpg":
                    jpeg = sink.jpeg()
                    if jpeg is None:
                        self._send(404, b'{"error": "no camera frame"}', "application/json")
                    else:
                        self._send(200, jpeg, "image/jpeg")
                else:
                    status, body = sink._answer(url.path, query)
                    self._send(status, json.dumps(body).encode(), "application/json")

            def _post(self) -> None:
                url = urlparse(self.path)
                refused = sink._refusal(self.headers, parse_qs(url.query))
                try:
                    length = int(self.headers.get("Content-Length", "0"))
                except ValueError:
                    length = -1
                if refused is None and self.headers.get(POST_HEADER[0]) != POST_HEADER[1]:
                    refused = 403, f"a POST needs the header {POST_HEADER[0]}: {POST_HEADER[1]}"
                if refused is None and not 0 <= length <= MAX_POST_BODY:
                    refused = 413, f"a POST here takes no body (at most {MAX_POST_BODY} bytes)"
                if refused is not None:
                    self.close_connection = True  # an unread body must not be taken for a request
                    status, why = refused
                    extra = {"WWW-Authenticate": "Bearer"} if status == 401 else None
                    self._send(status, json.dumps({"error": why}).encode(), "application/json", extra)
                    return
                self.rfile.read(length)
                status, body = sink._act(url.path)
                self._send(status, json.dumps(body).encode(), "application/json")

            def _stream(self) -> None:
                with self.server._lock:
                    full = self.server.streams >= MAX_STREAMS
                    self.server.streams += 0 if full or self.command == "HEAD" else 1
                if full:
                    self._send(503, b'{"error": "too many event streams open"}', "application/json",
                               {"Retry-After": "5"})
                    return
                self._send(200, None, "text/event-stream", {"X-Accel-Buffering": "no"})
                if self.command == "HEAD":
                    return

                def write(data: bytes) -> None:
                    self.wfile.write(data)
                    self.wfile.flush()

                try:
                    sink._stream(write)
                finally:
                    with self.server._lock:
                        self.server.streams -= 1

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                cpu0 = time.thread_time()
                try:
                    self._get()
                except (BrokenPipeError, ConnectionResetError, TimeoutError):  # the client left or
                    pass  # stopped reading: nothing to tell it
                finally:
                    with sink._lock:
                        sink.cpu_s += time.thread_time() - cpu0

            do_HEAD = do_GET  # noqa: N815 - _send leaves the body out

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                try:
                    self._post()
                except (BrokenPipeError, ConnectionResetError, TimeoutError):
                    pass

            def log_message(self, *args) -> None:  # keep the console view clean
                pass

        return Handler

    def close(self) -> None:
        """End the streams (after `ended`) and stop serving."""
        self.finish()
        with self._lock:
            subscribers, self._subscribers = self._subscribers, []
        for q in subscribers:  # a full queue's stream ends at its next check
            try:
                q.put_nowait(None)
            except queue.Full:
                pass
        self._server.shutdown()
        self._server.server_close()
