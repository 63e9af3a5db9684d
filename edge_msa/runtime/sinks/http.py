"""A small local HTTP endpoint (stdlib only) with the latest events.

    GET /latest          the newest event (JSON object; null before the first)
    GET /events?since=N  the kept events with index >= N (JSON list, oldest first)
    GET /health          state of every source and perception component
Bound to 127.0.0.1 by default: the events hold what a person said.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from edge_msa.errors import UserError
from edge_msa.runtime.events import SentimentEvent


class HttpSink:
    def __init__(self, host: str = "127.0.0.1", port: int = 8765, keep: int = 100,
                 health: Callable[[], dict] | None = None) -> None:
        self._events: deque[dict] = deque(maxlen=keep)
        self._lock = threading.Lock()
        self._health = health or dict
        try:
            self._server = ThreadingHTTPServer((host, port), self._handler())
        except OSError as e:
            raise UserError(f"cannot serve events on {host}:{port}: {e.strerror}") from None
        self._server.daemon_threads = True
        self.host, self.port = self._server.server_address[:2]
        self._thread = threading.Thread(target=self._server.serve_forever, name="http-sink", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def emit(self, event: SentimentEvent) -> None:
        with self._lock:
            self._events.append(event.to_dict())

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
        return 404, {"error": f"unknown path {path}; try /latest, /events, /health"}

    def _handler(self):
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                url = urlparse(self.path)
                status, body = sink._answer(url.path, parse_qs(url.query))
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client left: nothing to tell it
                    pass

            def log_message(self, *args) -> None:  # keep the console view clean
                pass

        return Handler

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
