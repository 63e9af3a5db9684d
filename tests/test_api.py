"""The Python API (edge_msa.api): the example of docs/api.md as it stands, and what it promises beside it."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from shared_data import SHARED_DATA

from edge_msa.errors import UserError

API_PAGE = Path(__file__).resolve().parents[1] / "docs" / "api.md"
SPEECH = SHARED_DATA / "speech" / "librivox"


def api_page_example() -> str:
    """The ```python block of the documentation's Python API page."""
    found = re.search(r"^# Python API\n.*?^```python\n(.*?)^```", API_PAGE.read_text(), re.S | re.M)
    assert found, "docs/api.md has no python example under '# Python API'"
    return found.group(1)


def test_api_page_example_runs(tmp_path):
    out = subprocess.run([sys.executable, "-c", api_page_example()], capture_output=True, text=True,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.splitlines()
    assert lines[0].startswith("positive +")  # "What a wonderful surprise!"
    assert any(line.endswith("'}") or "'text'" in line for line in lines)  # the evidence dict
    events = [line for line in lines if line.startswith('{"index":')]
    assert [e[:11] for e in events] == ['{"index":0,', '{"index":1,']


@pytest.fixture(scope="module")
def model():
    from edge_msa import SentimentModel

    return SentimentModel("default/onnx-int8")


def test_threads_share_one_model(model):
    texts = ["a brilliant, moving and beautiful film", "this is terrible, I hate it", "it was fine"]
    alone = [model.score_text(t).score for t in texts]
    results: dict[int, float] = {}

    def score(i: int) -> None:
        results[i] = model.score_text(texts[i % 3]).score

    threads = [threading.Thread(target=score, args=(i,)) for i in range(9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [results[i] for i in range(9)] == alone * 3
    assert alone[0] > 0.5 > -0.5 > alone[1]


def test_an_event_is_the_clis_event(model):
    from edge_msa.runtime.events import SentimentEvent

    event = model.score_text("what a wonderful surprise")
    assert isinstance(event, SentimentEvent) and SentimentEvent.from_dict(event.to_dict()) == event
    assert event.modalities == {"text": True, "voice": False, "face": False}
    assert event.masked == {"voice": "no audio given", "face": "no face frames given"}
    assert event.evidence["text"].present and event.transcript == "what a wonderful surprise"


def test_stream_stops_its_run_when_the_loop_ends(model):
    before = {t.name for t in threading.enumerate()}
    events = model.stream(audio=SPEECH / "sense_and_sensibility_01_austen_64kb-0870.wav", fast=True,
                          duration_s=60)
    first = next(events)
    events.close()
    assert first.index == 0
    assert not {t.name for t in threading.enumerate() if t.is_alive()} - before  # sensors released


def test_new_person_reaches_a_running_stream(model):
    """`new_person()` while a stream runs: a later event of that stream reads the face with a fresh
    baseline (its count of face frames drops; one person's count only grows over the 17.5 s demo),
    and the stream is no longer tracked once it ends."""
    from edge_msa.features.media import demo_clip_path

    events = model.stream(video=demo_clip_path(), fast=True)
    first = next(events)
    assert len(model._live) == 1
    model.new_person()
    frames = [first.baseline["face"]["frames"]] + [e.baseline["face"]["frames"] for e in events]
    assert len(frames) >= 3 and any(b < a for a, b in zip(frames, frames[1:], strict=False)), frames
    assert not model._live


def test_bad_inputs_are_one_line_errors(model, tmp_path):
    with pytest.raises(UserError, match="no such"):
        model.stream(video=tmp_path / "missing.mp4")
    with pytest.raises(UserError, match="audio must be a non-empty"):
        model.score_audio(np.zeros((0,), np.float32), 16000)
    with pytest.raises(UserError, match="sample_rate must be a positive"):
        model.score_utterance(audio=np.zeros(1600, np.float32), sample_rate=0)
    with pytest.raises(UserError, match="nothing to score"):
        model.score_text("   ")


def test_import_edge_msa_stays_cheap():
    code = ("import sys, edge_msa; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'onnxruntime'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
