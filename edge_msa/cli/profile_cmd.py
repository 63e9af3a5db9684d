"""`edge-msa profile BUNDLE ...` and `edge-msa profile compare A.json B.json ...`."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.core import TyperGroup

from edge_msa.errors import UserError
from edge_msa.outputs import check_outputs

FORCE_HELP = "Replace output files that exist."


class _BundleFirstGroup(TyperGroup):
    """`profile BUNDLE` runs the default command; `profile compare ...` the sub-command."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["bundle", *args]
        return super().parse_args(ctx, args)


profile_app = typer.Typer(cls=_BundleFirstGroup, no_args_is_help=True,
                          help="Measure latency of a bundle per backend; compare devices.")


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")


@profile_app.command("bundle", help="Profile BUNDLE (the default: `edge-msa profile BUNDLE`).")
def profile_bundle_cmd(
    bundle: Path = typer.Argument(..., help="Bundle folder (has manifest.json) or shipped tier: default, "
                                            "nano, default/onnx-int8, ..."),
    backend: list[str] = typer.Option(None, "--backend", "-b",
                                      help="Backend(s) to measure; default: every backend the bundle names."),
    threads: int = typer.Option(2, help="CPU threads for torch / onnxruntime / ExecuTorch."),
    runs: int = typer.Option(100, help="Timed runs after warm-up (statistics are over these)."),
    warmup: int = typer.Option(10, help="Untimed calls first (the first one is reported apart)."),
    devices: Path = typer.Option(None, help="Device profile folder (default: ./devices, else the profiles "
                                                    "edge-msa carries)."),
    text_tokens: int = typer.Option(None, "--text-tokens",
                                    help="Kept text tokens of the timed input (default: a 17-token sentence; "
                                         "the bundle's max_len: the worst case)."),
    operators: bool = typer.Option(False, help="ExecuTorch bundles: per-operator breakdown via ETDump."),
    stages: Path = typer.Option(None, help="Also profile the whole runtime per stage on this media file."),
    json_out: Path = typer.Option(None, "--json", help="Write the result (JSON) here."),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
) -> None:
    from rich.console import Console
    from rich.table import Table

    from edge_msa.profile.devices import default_devices_dir
    from edge_msa.profile.runner import profile_bundle
    from edge_msa.runtime.tiers import resolve_bundle

    bundle = resolve_bundle(bundle)
    profiles = sorted(Path(devices or default_devices_dir()).glob("*.yaml"))  # what it reads of --devices
    check_outputs({"--json": json_out}, force=force,
                  inputs={"BUNDLE": bundle, "--devices": profiles, "--stages": stages})
    result = profile_bundle(bundle, backend or None, threads, runs, warmup, devices, text_tokens)
    if operators:
        from edge_msa.profile.operators import executorch_operators

        result.operators = executorch_operators(bundle, threads=threads, runs=min(runs, 20),
                                                text_tokens=text_tokens)
    if stages is not None:
        from edge_msa.profile.stages import profile_stages

        result.stages = profile_stages(stages, bundle)
    table = Table(title=f"{result.bundle['name']} on {result.device_profile or result.device['device_id']}")
    for col in ("backend", "status", "p50 ms", "p90 ms", "p99 ms", "runs/s", "peak RSS MB"):
        table.add_column(col)
    for r in result.results:
        if r.status == "ok":
            table.add_row(r.backend, "ok", f"{r.p50_ms:.3f}", f"{r.p90_ms:.3f}", f"{r.p99_ms:.3f}",
                          f"{r.throughput_per_s:.0f}", f"{r.peak_rss_mb:.0f}")
        else:
            table.add_row(r.backend, f"unavailable: {r.reason}", "", "", "", "", "")
    console = Console()
    console.print(table)
    text = (f"text cut to its {result.settings['text_tokens']} tokens" if result.settings["text_cut"]
            else "text padded to the bundle's static length")
    console.print(f"model file {result.bundle['model_size_mb']:.2f} MB, {threads} threads, "
                  f"{runs} runs after {warmup} warm-up calls; {text}")
    if result.operators:
        console.print(result.operators.get("summary", ""))
    if result.stages:
        console.print(result.stages.get("summary", ""))
    if json_out:
        _write_json(json_out, result.dump())


@profile_app.command("compare", help="Table (Markdown) and plot (PNG) across profile results.")
def compare_cmd(
    results: list[Path] = typer.Argument(..., help="Profile result JSON files (edge-msa profile --json)."),
    markdown: Path = typer.Option(None, help="Write the comparison table here (Markdown)."),
    plot: Path = typer.Option(None, help="Write the comparison plot here (PNG)."),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
) -> None:
    from edge_msa.profile.report import comparison_rows, load_result, markdown_table
    from edge_msa.profile.report import plot as plot_rows

    if plot is not None and plot.suffix.lower() != ".png":
        raise UserError(f"--plot must name a .png file, got {plot}")
    check_outputs({"--markdown": markdown, "--plot": plot}, force=force, inputs={"RESULTS": results})
    rows = comparison_rows([load_result(p) for p in results])
    table = markdown_table(rows)
    print(table, end="")
    if markdown:
        markdown.write_text(table)
    if plot:
        plot_rows(rows, plot)


def register(app: typer.Typer) -> None:
    app.add_typer(profile_app, name="profile")
