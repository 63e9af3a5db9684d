"""The shipped model tiers, selectable by name wherever a bundle is asked for (`run`, `demo`, `eval`,
`profile`): `default` (best quality, int8 bundle <= 30 MB) and `nano` (<= 10 MB per bundle).

`--bundle default` on the command line is the tier's fastest bundle on this device (its profile's
`fastest_formats` in devices/, e.g. ONNX int8 on an x86 CPU); otherwise the tier's ExecuTorch int8
bundle, or its ONNX int8 bundle (the same model) where the executorch runtime is not installed (the
lean install); `--bundle default/onnx-int8` names one of its bundles. A path that exists always wins
over a tier name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from edge_msa.errors import UserError

ASSETS = Path(__file__).resolve().parents[1] / "assets"
TIERS = ("default", "nano")
DEFAULT_FORMAT = "executorch-int8"
LEAN_FORMAT = "onnx-int8"  # runs with onnxruntime, a core requirement


# Who knows the device's fastest formats (edge_msa.profile.devices, a layer above this one) installs
# them here: the CLI does for the length of a command, the Python API for the process.
_format_order: list[Callable[[], Sequence[str]]] = []


def set_format_order(order: Callable[[], Sequence[str]] | None) -> None:
    """Rank a tier's bundle formats with `order()` (called when a bare tier name is resolved), fastest
    first; None: the fixed rule (ExecuTorch int8 first)."""
    _format_order[:] = [order] if order is not None else []


def format_order_set() -> bool:
    """Whether a caller (the CLI, the Python API) installed the device's format order."""
    return bool(_format_order)


def default_format(tier: str) -> str:
    """The bundle a bare tier name means: the first of the device's formats (`set_format_order`) that
    the tier ships and this install runs; else ExecuTorch int8, else the tier's ONNX int8 when no
    ExecuTorch runtime is installed and the tier has one."""
    from edge_msa.runtime.backends import backend_class, runs_here

    for fmt in _format_order[0]() if _format_order else ():
        if runs_here(ASSETS / tier / fmt):
            return fmt
    executorch = backend_class("executorch").unavailable() is None
    if executorch or not (ASSETS / tier / LEAN_FORMAT / "manifest.json").is_file():
        return DEFAULT_FORMAT
    return LEAN_FORMAT


def tier_bundles(tier: str) -> list[str]:
    """The bundle folders a shipped tier holds (executorch-int8, onnx-int8, ...)."""
    return sorted(p.name for p in (ASSETS / tier).iterdir() if (p / "manifest.json").is_file())


def resolve_bundle(value: str | Path) -> Path:
    """A bundle folder: `value` itself when it exists, else a shipped tier (`nano`, `default/onnx-int8`)."""
    path = Path(value)
    if path.exists():
        return path
    tier, _, fmt = str(value).partition("/")
    if tier not in TIERS:
        return path  # the caller reports the missing folder in its own words
    bundle = ASSETS / tier / (fmt or default_format(tier))
    if not (bundle / "manifest.json").is_file():
        have = ", ".join(tier_bundles(tier))
        raise UserError(f"shipped tier {tier!r} has no bundle {fmt!r}; it has: {have}")
    return bundle
