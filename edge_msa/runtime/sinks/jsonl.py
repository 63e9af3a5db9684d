"""Events as JSON lines: one `SentimentEvent.to_json()` per line, flushed as they come."""

from __future__ import annotations

from pathlib import Path

from edge_msa.runtime.events import SentimentEvent


class JsonlSink:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("w", encoding="utf-8")

    def emit(self, event: SentimentEvent) -> None:
        self._file.write(event.to_json() + "\n")
        self._file.flush()  # a reader (tail -f) sees each event at once

    def close(self) -> None:
        self._file.close()


def read_jsonl(path: str | Path) -> list[SentimentEvent]:
    import json

    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [SentimentEvent.from_dict(json.loads(line)) for line in lines if line.strip()]
