"""The live dashboard's server (`edge-msa run --http`): its CPU cost over a real-time run of the demo
clip, and how it holds up under many connections.

    python bench/bench_dashboard.py [--part cpu|connections|all] [--bundle DIR] [--backend NAME]
                                    [--runs 2] [--json OUT]

Connections (loopback only, every loop bounded): an HttpSink with a token and a few events;
- 300 idle sockets (connected, silent) then a client with the token fetching /latest 20 times:
  the server's thread count before/after and the client's latency, beside the same client's
  latency with no idle socket open (the reference, same process);
- a burst of 200 /stream clients connecting at once: time to the first byte per client,
  p50/p99/max and how many got nothing within 12 s, beside the same burst against the same
  server with http.server's default listen backlog of 5 (what the server had before).

CPU:
The clip is played in real time (like a camera + mic) with the HTTP sink on, alternately with no
client and with one client doing what the dashboard page does: load the page, its script and
style, keep /stream open, fetch /frame.jpg on each `frame` event (at most 2 per second). The client
is a separate process: its own CPU is not counted. Per condition, the median over runs of
- the pipeline process's CPU seconds (all threads: perception, model, sinks);
- the HTTP request threads' CPU seconds (`HttpSink.cpu_s`: SSE stream, JPEG encoding, static files).
On a shared machine the whole-process figure moves with the load by more than the dashboard costs;
the request threads' figure is the dashboard's own.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from edge_msa.features.media import demo_clip_path
from edge_msa.runtime.config import RuntimeConfig
from edge_msa.runtime.events import Evidence, SentimentEvent
from edge_msa.runtime.launch import build_pipeline, build_sensors, open_bundle
from edge_msa.runtime.sinks import http as http_sink

TOKEN = "bench-token"

# What the page's script does, in a separate process (stdlib only): prints what it received.
CLIENT = r"""
import json, sys, urllib.request
url = sys.argv[1]
for path in ("/", "/dashboard.js", "/dashboard.css"):
    urllib.request.urlopen(url + path, timeout=10).read()
got = {"sentiment": 0, "health": 0, "frame": 0, "jpeg_bytes": 0}
kind = None
with urllib.request.urlopen(url + "/stream", timeout=60) as stream:
    for line in stream:
        line = line.decode()
        if line.startswith("event: "):
            kind = line[7:].strip()
        elif line.startswith("data: ") and kind in got:
            got[kind] += 1
            if kind == "frame":
                got["jpeg_bytes"] += len(urllib.request.urlopen(url + "/frame.jpg", timeout=10).read())
print(json.dumps(got))
"""


def run_once(bundle: Path | None, backend: str | None, with_client: bool) -> dict:
    config = RuntimeConfig().with_overrides(**{"sinks.console": "off", "sinks.http.enabled": True,
                                               "sinks.http.port": 0, "backend": backend})
    sensors = build_sensors(config, video=demo_clip_path())
    runner, spec, scale = open_bundle(bundle, config.backend, config.backend_threads)
    pipeline = build_pipeline(config, sensors, runner, spec, scale)
    client = None
    if with_client:
        client = subprocess.Popen([sys.executable, "-c", CLIENT, pipeline.http.url], stdout=subprocess.PIPE,
                                  text=True)
    cpu0 = time.process_time()
    summary = pipeline.run()
    cpu_s = time.process_time() - cpu0
    received = json.loads(client.communicate(timeout=60)[0]) if client is not None else None
    return {"client": with_client, "events": summary.events, "media_s": summary.media_s,
            "wall_s": summary.wall_s, "process_cpu_s": cpu_s, "http_cpu_s": pipeline.http.cpu_s,
            "received": received}


def fetch_ms(port: int, path: str) -> float:
    """Wall milliseconds for one GET over a fresh connection, to the end of the reply."""
    t0 = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    if not reply.startswith(b"HTTP/1.0 200"):
        raise RuntimeError(f"{path}: {reply[:60]!r}")
    return (time.perf_counter() - t0) * 1e3


def a_sink() -> http_sink.HttpSink:
    sink = http_sink.HttpSink("127.0.0.1", 0, keep=20, token=TOKEN,
                              health=lambda: {"audio": {"state": "ok", "error": ""}})
    for i in range(5):
        sink.emit(SentimentEvent(i, "utterance", i, i + 1.0, 0.8, "positive", 0.3, "words " * 10,
                                 {"text": True, "audio": True, "vision": False}, {"vision": "no face"},
                                 {"text": Evidence(True, 0.9, 0.2), "audio": Evidence(True, 0.4, 0.4)}))
    return sink


def idle_sockets(n: int = 300, fetches: int = 20) -> dict:
    sink = a_sink()
    path = f"/latest?token={TOKEN}"
    try:
        reference = [fetch_ms(sink.port, path) for _ in range(fetches)]
        threads0 = threading.active_count()
        idle = [socket.create_connection(("127.0.0.1", sink.port), timeout=10) for _ in range(n)]
        try:
            time.sleep(0.5)
            threads1 = threading.active_count()
            loaded = [fetch_ms(sink.port, path) for _ in range(fetches)]
        finally:
            for s in idle:
                s.close()
    finally:
        sink.close()
    return {"idle_sockets": n, "threads_before": threads0, "threads_with_idle": threads1,
            "token_client_ms": {"p50": statistics.median(loaded), "max": max(loaded)},
            "reference_no_idle_ms": {"p50": statistics.median(reference), "max": max(reference)},
            "all_within_1s": max(loaded) < 1000.0}


def stream_burst(n: int = 200, backlog: int | None = None, wait_s: float = 12.0) -> dict:
    """n /stream clients connect at once (non-blocking); ms to each one's first byte."""
    if backlog is not None:
        saved, http_sink.GatedServer.request_queue_size = http_sink.GatedServer.request_queue_size, backlog
    try:
        sink = a_sink()
    finally:
        if backlog is not None:
            http_sink.GatedServer.request_queue_size = saved
    request = f"GET /stream?token={TOKEN} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    selector, started, first = selectors.DefaultSelector(), {}, {}
    try:
        for _ in range(n):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", sink.port))
            started[s] = time.perf_counter()
            selector.register(s, selectors.EVENT_WRITE)
        deadline = time.perf_counter() + wait_s
        while len(first) < n and time.perf_counter() < deadline:
            for key, mask in selector.select(0.1):
                s = key.fileobj
                if mask & selectors.EVENT_WRITE:
                    try:
                        s.send(request)  # a few dozen bytes: one send
                    except OSError:
                        continue  # the connection is not up yet
                    selector.modify(s, selectors.EVENT_READ)
                elif s.recv(1):
                    first[s] = (time.perf_counter() - started[s]) * 1e3
                    selector.unregister(s)
    finally:
        for s in started:
            s.close()
        selector.close()
        sink.close()
    ms = sorted(first.values())

    def pct(q: float) -> float | None:
        return ms[min(len(ms) - 1, round(q * (len(ms) - 1)))] if ms else None

    return {"clients": n, "listen_backlog": backlog or http_sink.LISTEN_BACKLOG, "answered": len(ms),
            f"nothing_within_{wait_s:g}s": n - len(ms), "first_byte_ms": {"p50": pct(0.5), "p99": pct(0.99),
                                                                        "max": ms[-1] if ms else None}}


def connections() -> dict:
    idle = idle_sockets()
    got, ref = idle["token_client_ms"], idle["reference_no_idle_ms"]
    print(f"300 idle sockets: server threads {idle['threads_before']} -> {idle['threads_with_idle']}; token "
          f"client /latest p50 {got['p50']:.1f} ms, max {got['max']:.1f} ms (no idle socket: p50 "
          f"{ref['p50']:.1f} ms, max {ref['max']:.1f} ms); all within 1 s: "
          f"{idle['all_within_1s']}", flush=True)
    bursts = [stream_burst(), stream_burst(backlog=5)]
    for b in bursts:
        f = b["first_byte_ms"]
        shown = ", ".join(f"{k} {v:.0f} ms" for k, v in f.items() if v is not None)
        print(f"burst of {b['clients']} /stream clients, listen backlog {b['listen_backlog']}: first byte "
              f"{shown}; {b['answered']} answered, {b['clients'] - b['answered']} got nothing within 12 s",
              flush=True)
    return {"idle": idle, "burst": bursts[0], "burst_backlog_5": bursts[1]}


def cpu(args) -> dict:
    runs = []
    for i in range(args.runs):
        for with_client in (False, True):
            r = run_once(args.bundle, args.backend, with_client)
            runs.append(r)
            got = f"; client got {r['received']}" if r["received"] else ""
            print(f"run {i + 1} {'with' if with_client else 'without'} client: {r['events']} events, "
                  f"{r['media_s']:.1f} s of clip, process CPU {r['process_cpu_s']:.2f} s, "
                  f"HTTP threads CPU {r['http_cpu_s']:.3f} s{got}", flush=True)

    result = {"clip": demo_clip_path().name, "runs": runs}
    print(f"\nclip {result['clip']}, played in real time; median of {args.runs} runs per condition")
    for with_client in (False, True):
        rows = [r for r in runs if r["client"] == with_client]
        media = statistics.median(r["media_s"] for r in rows)
        proc = statistics.median(r["process_cpu_s"] for r in rows)
        http = statistics.median(r["http_cpu_s"] for r in rows)
        result["with_client" if with_client else "without_client"] = {
            "process_cpu_s": proc, "http_cpu_s": http, "http_cpu_ms_per_stream_s": 1e3 * http / media}
        print(f"{'with' if with_client else 'without'} a dashboard client: process CPU {proc:.2f} s, "
              f"HTTP threads CPU {http:.3f} s ({1e3 * http / media:.1f} ms per second of stream)")
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=("cpu", "connections", "all"), default="all")
    ap.add_argument("--bundle", type=Path, default=None, help="bundle folder (default: the shipped one)")
    ap.add_argument("--backend", default=None, help="backend name (default: the bundle's first)")
    ap.add_argument("--runs", type=int, default=2, help="real-time runs per condition (alternating)")
    ap.add_argument("--json", type=Path, default=None, help="write the figures as JSON")
    args = ap.parse_args()

    result = {}
    if args.part in ("connections", "all"):
        result["connections"] = connections()
    if args.part in ("cpu", "all"):
        result["cpu"] = cpu(args)
    result["load_average_1min"] = os.getloadavg()[0]
    print(f"load average now {result['load_average_1min']:.1f} on {os.cpu_count()} CPUs (a shared machine: "
          "timings move with the load)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
