"""Evaluation under missing modalities: the field's protocols, one sweep each.

- "none": the split as it is.
- "lnln": LNLN's protocol: every token/frame dropped with rate r in 0, 0.1 .. 0.9, seeds
  1111-1113; each rate is the mean over the seeds, and "mean" the mean over the rates.
- "subsets": each of the 7 non-empty subsets of {L, A, V} present, the others absent.

Every sweep returns {"protocol", "n", "rows": {row name: metrics}, ...}, so one table printer and
one Markdown writer serve all three. `model` is anything `evaluate` takes (an eager model or an
exported bundle's backend).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from rich.progress import Progress

from edge_msa.data.batch import MSAData
from edge_msa.data.missing import LNLN_RATES, LNLN_SEEDS, SUBSETS, drop_modalities, lnln_drop
from edge_msa.errors import UserError
from edge_msa.train.evaluate import evaluate

PROTOCOLS = ("none", "lnln", "subsets")
FIRST_COLUMN = {"none": "data", "lnln": "missing rate", "subsets": "present",
                "domains": "held-out domain"}  # "domains": edge_msa.train.domain_shift


def mean_metrics(runs: Iterable[dict[str, float]]) -> dict[str, float]:
    runs = list(runs)
    return {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}


def _jobs(protocol: str, data: MSAData) -> list[tuple[str, MSAData | None, float, int]]:
    """(row, data or None to build lazily, rate, seed) for each evaluation of the protocol."""
    if protocol == "none":
        return [("complete", data, 0.0, 0)]
    if protocol == "subsets":
        return [(s, None, 0.0, 0) for s in SUBSETS]
    return [(f"{r:.1f}", None, r, s) for r in LNLN_RATES for s in LNLN_SEEDS]


def sweep(model, data: MSAData, protocol: str = "none", scale: str | None = None,
          batch_size: int = 64, progress: bool = True) -> dict:
    """Metrics of `model` on `data` under one missing-modality protocol."""
    if protocol not in PROTOCOLS:
        raise UserError(f"unknown missing protocol {protocol!r}; expected one of {', '.join(PROTOCOLS)}")
    jobs = _jobs(protocol, data)
    runs: dict[str, list[dict[str, float]]] = {}
    with Progress(disable=not progress) as bar:
        for row, part, rate, seed in bar.track(jobs, description=f"eval ({protocol})"):
            if part is None:  # built one at a time: a corrupted copy of the split each
                part = drop_modalities(data, row) if protocol == "subsets" else lnln_drop(data, rate, seed)
            runs.setdefault(row, []).append(evaluate(model, part, scale, batch_size))
    rows = {row: mean_metrics(r) for row, r in runs.items()}
    result = {"protocol": protocol, "n": len(data), "scale": scale or data.scale, "rows": rows}
    if protocol == "lnln":
        rows["mean"] = mean_metrics(rows.values())
        result |= {"rates": list(LNLN_RATES), "seeds": list(LNLN_SEEDS), "per_seed": runs}
    return result


def to_markdown(result: dict, title: str = "") -> str:
    """The sweep as a Markdown table: one row per rate/subset, one column per metric."""
    rows = result["rows"]
    keys = list(next(iter(rows.values())))
    first = FIRST_COLUMN[result["protocol"]]
    lines = [f"### {title}", ""] if title else []
    lines += ["| " + " | ".join([first, *keys]) + " |", "|" + "---|" * (len(keys) + 1)]
    for name, metrics in rows.items():
        cells = [f"**{name}**" if name == "mean" else name] + [f"{metrics[k]:.4f}" for k in keys]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"{result['n']} samples, label scale {result['scale']}."]
    if result["protocol"] == "lnln":
        lines[-1] += f" Each rate: mean over seeds {', '.join(map(str, result['seeds']))}."
    return "\n".join(lines) + "\n"


def print_metrics(rows: dict[str, dict[str, float]], first: str = "", title: str = "") -> None:
    """Print metric rows as a table on stdout (`to_markdown` is the file form)."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console.width = 120  # piped or captured output: room for every column, nothing cut
    keys = list(next(iter(rows.values())))
    table = Table(title=title or None)
    table.add_column(first, no_wrap=True, min_width=max(len(first), *map(len, rows)))
    for k in keys:
        table.add_column(k, justify="right", no_wrap=True, min_width=len(k))
    for name, metrics in rows.items():
        table.add_row(name, *(f"{metrics[k]:.4f}" for k in keys))
    console.print(table)


def write_sweep(result: dict, json_path: str | Path | None = None, md_path: str | Path | None = None,
                title: str = "") -> None:
    """Write the sweep as JSON and/or Markdown (parent folders are created)."""
    outputs = {json_path: json.dumps(result, indent=2)} if json_path else {}
    if md_path:
        outputs[md_path] = to_markdown(result, title)
    for path, text in outputs.items():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text)
