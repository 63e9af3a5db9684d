"""The shipped model tiers, selectable by name wherever a bundle is asked for (`run`, `demo`, `eval`,
`profile`): `default` (best quality, int8 bundle <= 30 MB) and `nano` (<= 10 MB per bundle).

`--bundle default` is the tier's ExecuTorch int8 bundle; `--bundle nano/onnx-int8` names one of its
other bundles. A path that exists always wins over a tier name.
"""

from __future__ import annotations

from pathlib import Path

from edge_msa.errors import UserError

ASSETS = Path(__file__).resolve().parent / "assets"
TIERS = ("default", "nano")
DEFAULT_FORMAT = "executorch-int8"


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
    bundle = ASSETS / tier / (fmt or DEFAULT_FORMAT)
    if not (bundle / "manifest.json").is_file():
        have = ", ".join(tier_bundles(tier))
        raise UserError(f"shipped tier {tier!r} has no bundle {fmt!r}; it has: {have}")
    return bundle
