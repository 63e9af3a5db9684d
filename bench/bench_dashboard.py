"""CPU cost of the live dashboard's server (`edge-msa run --http`) over a real-time run of the demo clip.

    python bench/bench_dashboard.py [--bundle DIR] [--backend NAME] [--runs 2] [--json OUT]

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
import statistics
import subprocess
import sys
import time
from pathlib import Path

from edge_msa.features.media import demo_clip_path
from edge_msa.runtime.config import RuntimeConfig
from edge_msa.runtime.launch import build_pipeline, build_sensors, open_bundle

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", type=Path, default=None, help="bundle folder (default: the shipped one)")
    ap.add_argument("--backend", default=None, help="backend name (default: the bundle's first)")
    ap.add_argument("--runs", type=int, default=2, help="real-time runs per condition (alternating)")
    ap.add_argument("--json", type=Path, default=None, help="write the figures as JSON")
    args = ap.parse_args()

    runs = []
    for i in range(args.runs):
        for with_client in (False, True):
            r = run_once(args.bundle, args.backend, with_client)
            runs.append(r)
            got = f"; client got {r['received']}" if r["received"] else ""
            print(f"run {i + 1} {'with' if with_client else 'without'} client: {r['events']} events, "
                  f"{r['media_s']:.1f} s of clip, process CPU {r['process_cpu_s']:.2f} s, "
                  f"HTTP threads CPU {r['http_cpu_s']:.3f} s{got}", flush=True)

    result = {"clip": demo_clip_path().name, "runs": runs, "load_average_1min": os.getloadavg()[0]}
    print(f"\nclip {result['clip']}, played in real time; median of {args.runs} runs per condition; "
          f"load average now {result['load_average_1min']:.1f} on {os.cpu_count()} CPUs")
    for with_client in (False, True):
        rows = [r for r in runs if r["client"] == with_client]
        media = statistics.median(r["media_s"] for r in rows)
        proc = statistics.median(r["process_cpu_s"] for r in rows)
        http = statistics.median(r["http_cpu_s"] for r in rows)
        result["with_client" if with_client else "without_client"] = {
            "process_cpu_s": proc, "http_cpu_s": http, "http_cpu_ms_per_stream_s": 1e3 * http / media}
        print(f"{'with' if with_client else 'without'} a dashboard client: process CPU {proc:.2f} s, "
              f"HTTP threads CPU {http:.3f} s ({1e3 * http / media:.1f} ms per second of stream)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
