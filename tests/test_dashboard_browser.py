"""The dashboard in a real browser: headless Chromium (Debian's `chromium`) opens the page while
`edge-msa run` plays the demo clip in real time with the shipped default model, follows it live,
and after the file ends checks the final state the run keeps serving (--linger, the default with
--http on a file): score, transcript, evidence badges coloured by sign and strength, the camera
frame; a one-shot `chromium --screenshot` taken at page load shows the camera too. Then Ctrl-C.

.ci/run installs chromium and sets EDGE_MSA_NEED_CHROMIUM=1: there a missing browser fails the
test; elsewhere it is skipped. EDGE_MSA_REFRESH_SCREENSHOT=1 copies the screenshot to
docs/dashboard.png.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
from browser_helpers import Chromium, find_chromium

from edge_msa.features.media import demo_clip_path
from edge_msa.runtime.events import EVENT_MODALITIES, tone
from edge_msa.runtime.sinks.jsonl import read_jsonl

TOKEN = "browser-test-token"
TEXT = "document.querySelector('{}').textContent"
DOCS_PNG = Path(__file__).resolve().parents[1] / "docs" / "dashboard.png"
PAGE = ("JSON.stringify({"
        "status: " + TEXT.format("#status") + ","
        "score: " + TEXT.format("#score") + ","
        "transcript: [...document.querySelectorAll('#transcript q')].map(q => q.textContent),"
        "lines: [...document.querySelectorAll('#timeline polyline')].map(p => p.getAttribute('class')),"
        "badges: Object.fromEntries([...document.querySelectorAll('.badge')].map(b => [b.dataset.m, "
        "[b.className, getComputedStyle(b).backgroundColor]])),"
        "latency: " + TEXT.format("#latency") + ","
        "health: " + TEXT.format("#health") + ","
        "baseline: " + TEXT.format("#baseline") + ","
        "frame: document.getElementById('frame').naturalWidth,"
        "newPersonHidden: document.getElementById('new-person').hidden,"
        "frameShown: !document.getElementById('frame').hidden && "
        "document.getElementById('no-frame').hidden,"
        "frameBox: (r => [r.x, r.y, r.width, r.height])(document.getElementById('frame')"
        ".getBoundingClientRect())})")


class Run:
    """`edge-msa run --video` of the demo clip, paced like a camera, with the dashboard on a free
    port; collects its stderr lines."""

    def __init__(self, tmp_path: Path) -> None:
        self.jsonl = tmp_path / "events.jsonl"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edge_msa", "run", "--video", str(demo_clip_path()), "--bundle",
             "default/onnx-int8", "--http", "0", "--http-token", TOKEN, "--console", "off", "--jsonl",
             str(self.jsonl)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._said = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            with self._said:
                self.lines.append(line)
                self._said.notify_all()
        with self._said:
            self.lines.append("")  # the end
            self._said.notify_all()

    def wait_for(self, pattern: str, timeout_s: float) -> re.Match:
        with self._said:
            self._said.wait_for(lambda: any(re.search(pattern, x) for x in self.lines)
                                or "" in self.lines, timeout_s)
            found = next((m for x in self.lines if (m := re.search(pattern, x))), None)
        if found is None:
            pytest.fail(f"edge-msa run never printed {pattern!r}:\n" + "".join(self.lines[-20:]))
        return found


def test_dashboard_follows_a_run_and_keeps_its_final_state_in_headless_chromium(tmp_path):
    binary = find_chromium()
    if binary is None:
        if os.environ.get("EDGE_MSA_NEED_CHROMIUM"):
            pytest.fail("no chromium binary on PATH, and this run needs it (.ci/run installs it)")
        pytest.skip("no chromium binary on PATH (Debian: apt-get install chromium)")
    run = Run(tmp_path)
    browser = None
    try:
        url = run.wait_for(r"dashboard at (\S+)", 120).group(1)
        assert url.endswith(f"/?token={TOKEN}")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url.split("?")[0] + "latest", timeout=5)
        assert refused.value.code == 401
        browser = Chromium(binary, tmp_path / "profile", height=880)
        browser.open(url)
        # live: the page's script got the token from its own URL and opened /stream with it
        browser.wait_for(f"{TEXT.format('#status')} === 'live'", 30)
        browser.wait_for("document.querySelectorAll('#transcript li').length >= 2", 60)
        # someone else sits down: the page's button tells the run, which says it took it
        shown = int(browser.evaluate("document.querySelectorAll('#transcript li').length"))
        browser.evaluate("document.getElementById('new-person').click()")
        browser.wait_for(f"{TEXT.format('#new-person-said')} === 'the next event starts a new baseline'", 10)
        # the file ends; the run keeps serving its final state, and the page says so
        run.wait_for(r"the run is over; the dashboard shows its final state", 60)
        browser.wait_for(f"{TEXT.format('#status')} === 'run ended'", 10)
        browser.screenshot(tmp_path / "dashboard.png")
        page = json.loads(browser.evaluate(PAGE))
        oneshot = tmp_path / "oneshot.png"  # what a user's `chromium --screenshot URL` captures
        subprocess.run([binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                        f"--user-data-dir={tmp_path / 'profile2'}", "--window-size=1400,880",
                        f"--screenshot={oneshot}", url], capture_output=True, timeout=60, check=False)
        assert urllib.request.urlopen(url, timeout=5).status == 200  # still serving after the end
    finally:
        if browser is not None:
            browser.close()
        run.proc.send_signal(signal.SIGINT)  # Ctrl-C ends the lingering
        try:
            run.proc.wait(30)
        finally:
            run.proc.kill()
    assert run.proc.returncode == 0, "".join(run.lines[-20:])

    events = read_jsonl(run.jsonl)
    assert len(events) >= 4  # the run went on to the end with the browser attached
    # after the click the face baseline started again: its frame count dropped once (one person's
    # count only grows over the 17.5 s clip), at an event after those the page showed before it
    frames = [e.baseline["face"]["frames"] for e in events]
    drops = [i for i in range(1, len(frames)) if frames[i] < frames[i - 1]]
    assert len(drops) == 1 and drops[0] >= shown, (shown, frames)
    last = events[-1]
    assert page["newPersonHidden"]  # the run is over: nothing to tell it
    assert page["status"] == "run ended" and page["score"].startswith(f"{last.label} {last.score:+.2f}")
    said = [e.transcript or "(no words)" for e in reversed(events)][:30]
    assert page["transcript"] == said, page["transcript"]
    assert "fused" in page["lines"] and set(EVENT_MODALITIES) & set(page["lines"])
    for m in EVENT_MODALITIES:  # each badge: the sign and strength of what the modality alone said
        ev = last.evidence[m]
        if last.modalities[m] and ev.present:
            sign, strength = tone(ev.score)
            assert page["badges"][m][0] == f"badge on {sign} s{strength}", (m, ev, page["badges"])
            r, g, _ = map(int, re.findall(r"\d+", page["badges"][m][1])[:3])
            assert sign == "neutral" or (r > g) == (sign == "negative"), (m, page["badges"][m])
        else:
            assert page["badges"][m][0] == "badge off", (m, page["badges"])
    assert "backend" in page["latency"] and "video: ended" in page["health"]
    face_frames = last.baseline["face"]["frames"]  # the person's baseline, as the event carries it
    assert f"from {face_frames} frames" in page["baseline"], page["baseline"]
    assert page["frame"] == 480 and page["frameShown"]  # the demo clip's frame, as /frame.jpg
    x, y, w, h = (round(v) for v in page["frameBox"])
    assert w > 100 and h > 50
    for png in (tmp_path / "dashboard.png", oneshot):
        shot = cv2.imdecode(np.frombuffer(png.read_bytes(), np.uint8), cv2.IMREAD_COLOR)
        camera = shot[y : y + h, x : x + w]
        assert camera.std() > 20, f"{png.name}: the camera panel is blank"  # a frame, not the panel
    if os.environ.get("EDGE_MSA_REFRESH_SCREENSHOT"):
        shutil.copyfile(tmp_path / "dashboard.png", DOCS_PNG)
