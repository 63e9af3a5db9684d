"""Where edge-msa keeps derived data it can always recompute (extracted features), keyed by content.

`$XDG_CACHE_HOME/edge-msa`, default `~/.cache/edge-msa`. Files are written to a temporary name and
renamed, so a crash never leaves a half file that a later run would trust.
"""

from __future__ import annotations

import os
from pathlib import Path

from edge_msa.errors import UserError


def cache_dir() -> Path:
    """The cache folder (created)."""
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edge-msa"
    return _made(root, "the cache folder (set XDG_CACHE_HOME to move it)")


def usable_cache(folder: Path | None) -> Path:
    """The media-feature cache: `folder` (a `--cache` option) or `cache_dir()/media`, created, or one
    `UserError` line when it names a file or cannot be written, before any work starts."""
    return _made(folder, "--cache") if folder is not None else _made(cache_dir() / "media", "the media cache")


def _made(folder: Path, what: str) -> Path:
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{what} {folder} is a file: name a folder to keep cached features in")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"{what} {folder} cannot be created: {e.strerror or e}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"{what} {folder} is not writable")
    return folder
