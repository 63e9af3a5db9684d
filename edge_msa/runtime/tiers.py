"""The shipped model tiers, selectable by name wherever a bundle is asked for (`run`, `demo`, `eval`,
`profile`): `default` (best quality, int8 bundle <= 30 MB) and `nano` (<= 10 MB per bundle).

`--bundle default` is the tier's ExecuTorch int8 bundle, or its ONNX int8 bundle (the same model) where
the executorch runtime is not installed (the lean install); `--bundle nano/onnx-int8` names one of its
other bundles. A path that exists always wins over a tier name.
"""

from __future__ import annotations

from pathlib import Path

from edge_msa.errors import UserError

ASSETS = Path(__file__).resolve().parents[1] / "assets"
TIERS = ("default", "nano")
DEFAULT_FORMAT = "executorch-int8"
LEAN_FORMAT = "onnx-int8"  # runs with onnxruntime, a core requirement


def default_format(tier: str) -> str:
    """The bundle a bare tier name means: ExecuTorch int8, else the tier's ONNX int8 when no
    ExecuTorch runtime is installed and the tier has one."""
    from edge_msa.runtime.backends import backend_class

    executorch = backend_class("executorch").unavailable() is None
    if executorch or not (ASSETS / tier / LEAN_FORMAT / "manifest.json").is_file():
        return DEFAULT_FORMAT
    return LEAN_FORMAT


def tier_bundles(tier: str) -> list[str]:
    """The bundle folders a shipped tier holds (executorch-int8, onnx-int8, ...)."""
    return sorted(p.name for p in (ASSETS / tier).iterdir() if (p / "manifest.json").is_file())


def resolve_bundle(value: str | Path) -> Path:
    """A bundle folder: `value` itself when it exists, else a shipped tier (`nano`, `nano/onnx-int8`)."""
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
