"""Every CSV edge-msa writes goes through `write_csv`, so no cell can run as a spreadsheet formula.

A cell that a user controls (a manifest's label, a transcript, a file name) is copied into results
and reports; opened in Excel or LibreOffice, `=HYPERLINK(...)` or `=cmd|' /C calc'!A0` would run.
As the OWASP guidance on CSV injection says, a text cell starting with `=`, `+`, `-`, `@`, a tab
or a carriage return gets a single quote in front. Numbers stay numbers: a float or int cell is
written as it is, and so is a text cell that is a plain decimal number ("-0.5", "+3", "1e-3"),
which a spreadsheet reads as that number, never as a formula.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def safe_cell(value: object) -> object:
    """`value`, with a quote in front when it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence | dict]) -> None:
    """Header and rows (sequences, or dicts keyed by the header) as UTF-8 CSV, written to a temporary
    name and renamed, so a crash never leaves half a file."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([safe_cell(h) for h in header])
    for row in rows:
        cells = [row.get(h) for h in header] if isinstance(row, dict) else row
        writer.writerow([safe_cell(c) for c in cells])
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(buffer.getvalue(), encoding="utf-8")
    os.replace(tmp, path)
