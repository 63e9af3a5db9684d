"""The dashboard in a real browser: headless Chromium (Debian's `chromium`) opens the page while
`edge-msa run` plays the demo clip in real time, and the test reads what the page's own script
drew. Skipped when no chromium binary is installed (.ci/run installs it)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest
from browser_helpers import Chromium, find_chromium
from runtime_helpers import tiny_bundle

from edge_msa.features.media import demo_clip_path
from edge_msa.runtime.sinks.jsonl import read_jsonl

TOKEN = "browser-test-token"
TEXT = "document.querySelector('{}').textContent"


def start_run(tmp_path) -> tuple[subprocess.Popen, str, list[str]]:
    """`edge-msa run --video` of the demo clip, paced like a camera, with the dashboard on a free
    port; returns the process, the dashboard URL it printed, and its stderr lines so far."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge_msa", "run", "--video", str(demo_clip_path()), "--bundle",
         str(tiny_bundle()), "--http", "0", "--http-token", TOKEN, "--console", "off", "--jsonl",
         str(tmp_path / "events.jsonl")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    printed = threading.Event()

    def read() -> None:
        for line in proc.stderr:
            lines.append(line)
            if "dashboard at " in line:
                printed.set()
        printed.set()

    threading.Thread(target=read, daemon=True).start()
    printed.wait(120)
    url = next((m.group(1) for line in lines if (m := re.search(r"dashboard at (\S+)", line))), None)
    if url is None:
        proc.kill()
        pytest.fail("edge-msa run printed no dashboard URL:\n" + "".join(lines[-20:]))
    return proc, url, lines


def test_dashboard_shows_a_live_run_in_headless_chromium(tmp_path):
    binary = find_chromium()
    if binary is None:
        pytest.skip("no chromium binary on PATH (Debian: apt-get install chromium)")
    proc, url, lines = start_run(tmp_path)
    assert url.endswith(f"/?token={TOKEN}")
    browser = Chromium(binary, tmp_path / "profile", height=880)
    try:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url.split("?")[0] + "latest", timeout=5)
        assert refused.value.code == 401
        browser.open(url)
        # the page's script got the token from its own URL and opened /stream with it
        browser.wait_for(f"{TEXT.format('#status')} === 'live'", 30)
        browser.wait_for("document.querySelectorAll('#transcript li').length >= 4", 60)
        browser.wait_for("document.getElementById('frame').naturalWidth > 0", 10)
        time.sleep(1.0)  # let a frame snapshot and the health list settle for the screenshot
        browser.screenshot(tmp_path / "dashboard.png")
        page = browser.evaluate("JSON.stringify({"
                                "score: " + TEXT.format("#score") + ","
                                "transcript: [...document.querySelectorAll('#transcript q')]"
                                ".map(q => q.textContent),"
                                "fused: document.querySelectorAll('#timeline polyline.fused').length,"
                                "lines: [...document.querySelectorAll('#timeline polyline')]"
                                ".map(p => p.getAttribute('class')),"
                                "badges: [...document.querySelectorAll('.badge')].map(b => b.className),"
                                "latency: " + TEXT.format("#latency") + ","
                                "health: " + TEXT.format("#health") + ","
                                "frame: document.getElementById('frame').naturalWidth})")
        page = json.loads(page)
    finally:
        browser.close()
        try:
            proc.wait(120)
        finally:
            proc.kill()
    assert proc.returncode == 0, "".join(lines[-20:])
    events = read_jsonl(tmp_path / "events.jsonl")
    assert len(events) == 6  # the run went on to the end with the browser attached
    shown = {f"{e.label} {e.score:+.2f}" for e in events}
    assert any(page["score"].startswith(s) for s in shown), page["score"]
    said = {e.transcript or "(no words)" for e in events}
    assert len(page["transcript"]) >= 2 and set(page["transcript"]) <= said, page["transcript"]
    assert page["fused"] >= 1 and {"text", "audio", "vision"} & set(page["lines"])
    assert len(page["badges"]) == 3 and all(b in ("badge on", "badge off") for b in page["badges"])
    assert "backend" in page["latency"] and "video: ok" in page["health"]
    assert page["frame"] == 480  # the demo clip's frame, as /frame.jpg
    png = (tmp_path / "dashboard.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 20_000
