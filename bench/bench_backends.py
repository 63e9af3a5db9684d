"""Torch eager vs onnxruntime vs ExecuTorch (fp32, int8) for every registered preset, per thread count.

    python bench/bench_backends.py [--models lnln_lite-tiny hme_lite-tiny] [--threads 1 2]
                                   [--calls 60] [--rounds 3] [--json OUT] [--keep DIR [--reuse]]

A sweep over `bench_export.py`'s pieces (no second copy): the same exports (the shipped recipes
through `export_run`, UNTRAINED weights with the parity gates off, so the figures are latency and
size only) and the same interleaved-median timing. What it adds: every preset with a '-' (all of
them take the live spec), several thread counts (the ExecuTorch/onnxruntime pools and torch's are
re-made for each), and one table of median ms and speed-up vs torch eager for all of them. Inputs
are the profiler's (`profile_inputs`: a real 17-token sentence, or `--text-tokens N` kept tokens;
audio and face present at full window). Every variant computes the same tokens: the bundles cut the
text after its last kept token (their text axis varies), so eager gets the cut inputs too.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import torch
from bench_export import EAGER, RECIPES, export_all, untrained_run

from edge_msa.data.datasets import DEFAULT_DATA
from edge_msa.export.bundle import load_bundle
from edge_msa.features.spec import trim_text, used_text_len
from edge_msa.models import list_models
from edge_msa.profile.devices import detect_device
from edge_msa.profile.latency import interleaved_medians
from edge_msa.profile.runner import bundle_summary, profile_inputs
from edge_msa.runtime.backends import load_backend
from edge_msa.train.run import load_run


def presets() -> list[str]:
    return [m for m in list_models() if "-" in m]


def time_variants(model: torch.nn.Module, bundles: dict[str, Path], threads: int, calls: int,
                  rounds: int, text_tokens: int | None = None) -> dict[str, dict]:
    """name -> median ms and speed-up vs eager, every backend made with `threads` threads."""
    inputs = profile_inputs(model.spec, text_tokens=text_tokens)
    tensors = tuple(torch.from_numpy(a) for a in trim_text(inputs))

    def eager():
        with torch.inference_mode():
            model(*tensors)

    fns = {EAGER: eager}
    for name, folder in bundles.items():
        backend = load_backend(folder, threads=threads)
        fns[name] = lambda b=backend: b.predict(inputs)
    torch.set_num_threads(threads)  # the ExecuTorch backend resets only its own pool
    medians = interleaved_medians(fns, calls, rounds)
    return {k: {"p50_ms": ms, "speedup_vs_eager": medians[EAGER] / ms} for k, ms in medians.items()}


def bench_model(name: str, root: Path, data: str, threads: list[int], calls: int, rounds: int,
                reuse: bool, recipes: tuple[str, ...] = RECIPES, text_tokens: int | None = None) -> dict:
    run = untrained_run(name, root, data)
    model, _ = load_run(run)
    exported = export_all(run, root, trained=False, reuse=reuse, recipes=recipes)
    bundles = {k: v for k, v in exported.items() if isinstance(v, Path)}
    variants = {EAGER: {"backend": "torch", "precision": "fp32",
                        "mb": sum(t.numel() * t.element_size() for t in model.state_dict().values()) / 1e6}}
    for recipe, folder in bundles.items():
        bundle = load_bundle(folder)
        m = bundle.manifest
        variants[recipe] = {"backend": m.backends[0], "precision": m.precision,
                            "scheme": m.quantization and m.quantization.get("scheme"),
                            "mb": bundle_summary(bundle)["model_size_mb"]}
    return {"model": name, "spec": model.spec.name, "variants": variants,
            "errors": {k: v for k, v in exported.items() if isinstance(v, str)},
            "text_tokens": text_tokens or used_text_len(profile_inputs(model.spec)[1]),
            "timings": {str(t): time_variants(model, bundles, t, calls, rounds, text_tokens)
                        for t in threads}}


def print_table(results: list[dict], threads: list[int]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="batch 1, median ms per call; x = torch eager / variant (untrained weights)")
    for col in ("model", "variant", "backend", "MB"):
        table.add_column(col, justify="right" if col == "MB" else "left")
    for t in threads:
        table.add_column(f"ms {t}t", justify="right")
        table.add_column(f"x {t}t", justify="right")
    table.add_column("note")
    for r in results:
        if "crashed" in r:
            table.add_row(r["model"], *["-"] * (3 + 2 * len(threads)), r["crashed"][:90])
            continue
        for i, (name, v) in enumerate({**r["variants"], **r["errors"]}.items()):
            cells = [r["model"] if i == 0 else "", name]
            if isinstance(v, str):
                table.add_row(*cells, *["-"] * (2 + 2 * len(threads)), v[:90])
                continue
            cells += [f"{v['backend']} {v['precision']}", f"{v['mb']:.2f}"]
            for t in threads:
                s = r["timings"][str(t)][name]
                cells += [f"{s['p50_ms']:.3f}", f"{s['speedup_vs_eager']:.2f}"]
            table.add_row(*cells)
    Console(width=170).print(table)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=None, help="presets (default: every registered preset)")
    p.add_argument("--data", default=str(DEFAULT_DATA), help="real data for the untrained runs' rows")
    p.add_argument("--threads", type=int, nargs="+", default=[2], help="thread count(s) of every backend")
    p.add_argument("--recipes", nargs="+", default=list(RECIPES), help="export recipes (default: all five)")
    p.add_argument("--text-tokens", type=int, default=None,
                   help="kept text tokens of the timed input (default: the profiler's 17-token sentence)")
    p.add_argument("--calls", type=int, default=60, help="timed calls per variant (all rounds)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    p.add_argument("--json", type=Path, default=None, help="write the results here")
    p.add_argument("--keep", type=Path, default=None, help="keep the bundles under this folder")
    p.add_argument("--reuse", action="store_true", help="with --keep: time bundles already there, export "
                                                         "only the missing ones")
    args = p.parse_args(argv)
    names = args.models or presets()
    unknown = [n for n in names if n not in list_models()]
    if unknown:
        raise SystemExit(f"unknown model(s) {unknown}; registered presets: {presets()}")
    load_before = os.getloadavg()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-backends-") as tmp:
        for name in names:
            print(f"{name}: exporting, then timing at {args.threads} threads", flush=True)
            root = (args.keep or Path(tmp)) / name
            try:
                results.append(bench_model(name, root, args.data, args.threads, args.calls, args.rounds,
                                           args.reuse, tuple(args.recipes), args.text_tokens))
            except Exception as e:  # noqa: BLE001 - one exporter crash must not end the sweep
                print(f"{name}: crashed: {type(e).__name__}: {str(e).splitlines()[0][:160]}", flush=True)
                results.append({"model": name, "crashed": f"{type(e).__name__}: {str(e)[:300]}"})
    load_after = os.getloadavg()
    print_table(results, args.threads)
    print(f"load average (1/5/15 min) before {load_before}, after {load_after}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "command": "python bench/bench_backends.py " + " ".join(argv or sys.argv[1:]),
            "device": detect_device().to_dict(), "threads": args.threads, "calls": args.calls,
            "rounds": args.rounds, "load_average": {"before": load_before, "after": load_after},
            "weights": "untrained (latency and size only)", "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
