"""Where the real labelled data lives for the tests: ../shared/data beside the checkout (CI and every
developer checkout have it there; data/README.md in that folder describes each corpus)."""

from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
