"""The console view: one line per event (`lines`), or a live rich view (`live`).

Both show, per event, the fused score and what each modality alone says (evidence), so a person
sees which signal moved it; the live view also shows the health of every source.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from edge_msa.runtime.events import EVENT_MODALITIES, SentimentEvent

LABEL_STYLE = {"positive": "green", "neutral": "yellow", "negative": "red"}
STATE_STYLE = {"ok": "green", "starting": "yellow", "ended": "dim"}


def score_bar(score: float, scale_max: float, width: int = 21) -> str:
    """A text gauge from -scale_max to +scale_max with the centre marked."""
    pos = round((min(max(score, -scale_max), scale_max) + scale_max) / (2 * scale_max) * (width - 1))
    cells = ["-"] * width
    cells[width // 2] = "|"
    cells[pos] = "#"
    return "".join(cells)


class ConsoleSink:
    def __init__(self, mode: str = "lines", scale_max: float = 3.0,
                 health: Callable[[], dict] | None = None, console: Console | None = None,
                 keep: int = 8) -> None:
        self.mode, self.scale_max = mode, scale_max
        self._health = health or dict
        self.console = console or Console(file=sys.stdout)
        self._recent: deque[SentimentEvent] = deque(maxlen=keep)
        self._live = None
        if mode == "live":
            self._live = Live(get_renderable=self.render, console=self.console,
                              refresh_per_second=4, transient=False)

    def start(self) -> None:
        """Show the live view (the run starts)."""
        if self._live is not None:
            self._live.start()

    def emit(self, event: SentimentEvent) -> None:
        self._recent.append(event)
        if self._live is None:
            self.console.print(event.summary_line(), markup=False, highlight=False, soft_wrap=True)

    def note(self, message: str) -> None:
        """A one-off message (a sensor went away or came back)."""
        if self._live is None:
            self.console.print(f"[dim]{message}[/dim]", highlight=False)

    def render(self):
        """The live view: health of every source, then the recent events with their evidence."""
        health = Table.grid(padding=(0, 2))
        row = []
        for name, h in self._health().items():
            style = STATE_STYLE.get(h["state"], "red")
            row.append(Text(f"{name}: {h['state']}", style=style))
        if row:
            health.add_row(*row)
        table = Table(expand=True, show_lines=False)
        for col in ("time s", "label", "score", "gauge", *EVENT_MODALITIES,
                    "transcript"):
            table.add_column(col, overflow="fold" if col == "transcript" else "ellipsis",
                             no_wrap=col != "transcript")
        for e in self._recent:
            evidence = []
            for m in EVENT_MODALITIES:
                ev = e.evidence.get(m)
                evidence.append(Text(f"{ev.score:+.2f}", style="bold") if ev and ev.present
                                and ev.score is not None else Text("-", style="dim"))
            table.add_row(f"{e.start:.1f}-{e.end:.1f}", Text(e.label, style=LABEL_STYLE.get(e.label, "")),
                          f"{e.score:+.2f}", score_bar(e.score, self.scale_max), *evidence, e.transcript)
        return Group(health, table)

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
