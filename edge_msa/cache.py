"""Where edge-msa keeps derived data it can always recompute (extracted features), keyed by content.

`$XDG_CACHE_HOME/edge-msa`, default `~/.cache/edge-msa`. Files are written to a temporary name and
renamed, so a crash never leaves a half file that a later run would trust.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """The cache folder (created)."""
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edge-msa"
    root.mkdir(parents=True, exist_ok=True)
    return root
