"""The README is one screen that starts with the two commands CI runs, and its links lead somewhere."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
# The two commands a new user types; .ci/run runs them byte for byte, so a change here is a change there.
INSTALL_AND_DEMO = 'PIP_CONSTRAINT=constraints.txt pip install -e ".[runtime,dev]" && edge-msa demo'
TESTS = "python -m pytest -q"
MAX_LINES = 250


def code_lines(text: str) -> list[str]:
    """The indented (4-space) code lines of a markdown text, in order, without the indent."""
    return [line[4:] for line in text.splitlines() if line.startswith("    ") and line.strip()]


def test_readme_is_one_screen():
    assert len(README.read_text().splitlines()) <= MAX_LINES


def test_readme_starts_with_the_two_commands():
    assert code_lines(README.read_text())[:2] == [INSTALL_AND_DEMO, TESTS]


def test_ci_runs_the_readme_commands():
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert INSTALL_AND_DEMO in ci_lines
    assert TESTS in ci_lines


def test_readme_links_name_files_that_exist():
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README.read_text())
    local = [link for link in links if "://" not in link]
    assert local, "the README links to no docs page"
    missing = [link for link in local if not (ROOT / link).exists()]
    assert not missing, missing
