"""Profile results: the JSON schema, and `compare` (a Markdown table and a PNG plot)."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from edge_msa.errors import UserError

SCHEMA = "edge-msa/profile/1"


class BackendResult(BaseModel):
    model_config = ConfigDict(extra="allow")
    backend: str
    status: str  # "ok" or "unavailable"
    reason: str = ""
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    mean_ms: float | None = None
    first_call_ms: float | None = None
    throughput_per_s: float | None = None
    peak_rss_mb: float | None = None
    load_ms: float | None = None


class ProfileResult(BaseModel):
    model_config = ConfigDict(extra="allow")
    schema_: str
    created: str
    command: str
    device: dict
    device_profile: str | None = None
    bundle: dict  # name, path, family, precision, model_size_mb, files
    settings: dict  # threads, runs, warmup
    results: list[BackendResult]
    operators: dict | None = None
    stages: dict | None = None

    def dump(self) -> dict:
        d = self.model_dump()
        d["schema"] = d.pop("schema_")
        return d


def load_result(path: str | Path) -> ProfileResult:
    p = Path(path)
    if not p.is_file():
        raise UserError(f"profile result {p} does not exist")
    try:
        d = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{p} is not valid JSON: {e}") from None
    if not isinstance(d, dict) or d.get("schema") != SCHEMA:
        raise UserError(f"{p} is not an edge-msa profile result (expected schema {SCHEMA!r})")
    d["schema_"] = d.pop("schema")
    try:
        return ProfileResult(**d)
    except ValidationError as e:
        raise UserError(f"{p}: malformed profile result: {str(e).splitlines()[1:3]}") from None


def _bundle_label(bundle: dict) -> str:
    """Bundles are named by their recipe: add the model so two models' bundles stay apart."""
    name = bundle.get("name", "?")
    return f"{name} ({bundle['model']})" if bundle.get("model") else name


def comparison_rows(results: list[ProfileResult]) -> list[dict]:
    """One row per (device, bundle, backend) that ran."""
    rows = []
    for r in results:
        for b in r.results:
            if b.status != "ok":
                continue
            rows.append({
                "device": r.device_profile or r.device.get("device_id", "?"),
                "bundle": _bundle_label(r.bundle),
                "precision": r.bundle.get("precision", "?"),
                "backend": b.backend,
                "threads": r.settings.get("threads"),
                "p50_ms": b.p50_ms, "p90_ms": b.p90_ms, "p99_ms": b.p99_ms,
                "throughput_per_s": b.throughput_per_s,
                "size_mb": r.bundle.get("model_size_mb"),
                "peak_rss_mb": b.peak_rss_mb,
            })
    if not rows:
        raise UserError("no successful backend measurements in the given results")
    return rows


def markdown_table(rows: list[dict]) -> str:
    head = ("| device | bundle | precision | backend | threads | p50 ms | p90 ms | p99 ms | "
            "runs/s | model MB | peak RSS MB |")
    lines = [head, "|" + "---|" * 11]
    for r in rows:
        lines.append(
            f"| {r['device']} | {r['bundle']} | {r['precision']} | {r['backend']} | {r['threads']} "
            f"| {r['p50_ms']:.3f} | {r['p90_ms']:.3f} | {r['p99_ms']:.3f} "
            f"| {r['throughput_per_s']:.0f} | {r['size_mb']:.2f} | {r['peak_rss_mb']:.0f} |")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], out: str | Path) -> None:
    """Horizontal bars, one line per device/bundle/backend: p50 latency (p90 whisker), model size.

    Horizontal, so long bundle names stay readable however many rows a comparison has."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r['bundle']} | {r['backend']} {r['threads']}t | {r['device']}" for r in rows]
    y = list(range(len(rows)))
    p50 = [r["p50_ms"] for r in rows]
    err = [max(r["p90_ms"] - r["p50_ms"], 0.0) for r in rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 1.6 + 0.38 * len(rows)), sharey=True,
                                   gridspec_kw={"width_ratios": [3, 1]})
    ax1.barh(y, p50, xerr=[[0] * len(rows), err], capsize=3, color="tab:blue")
    for yi, v in zip(y, p50, strict=True):
        ax1.annotate(f"{v:.2f}", (v, yi), xytext=(3, -9), textcoords="offset points", fontsize=7)
    ax1.set_yticks(y, labels, fontsize=8)
    ax1.invert_yaxis()
    ax1.set_xlabel("latency ms (bar p50, whisker p90), batch 1")
    ax1.set_title("Latency per bundle / backend / device")
    ax2.barh(y, [r["size_mb"] for r in rows], color="tab:orange")
    ax2.set_xlabel("model file MB")
    ax2.set_title("Size")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
