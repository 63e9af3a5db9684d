"""Torch eager vs onnxruntime vs ExecuTorch (fp32 and int8) for every registered family preset.

    python bench/bench_backends.py [--models lnln_lite-tiny hme_lite-tiny] [--runs 60] [--threads 2]
                                   [--json OUT] [--keep DIR]

Each preset is built for the live spec (or, for a family that reads feature text only, the MOSI
feature spec) with UNTRAINED weights: latency does not depend on the values, so no training is
needed, but the parity/metric figures of these bundles mean nothing. Each is exported with the
real export pipeline (`export_run`) and the shipped recipes (onnx-cpu-fp32, onnx-cpu-int8,
android-xnnpack-fp32, android-xnnpack-int8-dynamic; parity on 16 synthetic rows instead of 512,
no reference program), then all five variants run in ONE process, batch 1, at the spec's full
window, in interleaved rounds (so load from other processes hits all of them alike); the figure
is the median call time. Speed-up is eager median / variant median. Never fails on timing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from edge_msa.errors import UserError
from edge_msa.export.bundle import load_bundle
from edge_msa.export.pipeline import export_run
from edge_msa.export.recipes import load_export_recipe
from edge_msa.features.spec import LIVE, MOSI_BERT
from edge_msa.models import create_model, list_models
from edge_msa.profile.devices import detect_device
from edge_msa.profile.runner import bundle_summary, profile_inputs
from edge_msa.runtime.backends import load_backend
from edge_msa.train.run import save_run

# variant -> (export recipe, backend that runs it)
VARIANTS = {
    "onnxruntime fp32": ("onnx-cpu-fp32", "onnxruntime"),
    "onnxruntime int8": ("onnx-cpu-int8", "onnxruntime"),
    "executorch fp32": ("android-xnnpack-fp32", "executorch"),
    "executorch int8": ("android-xnnpack-int8-dynamic", "executorch"),
}
EAGER = "torch eager fp32"
PARITY_SAMPLES = 16


def presets() -> list[str]:
    return [m for m in list_models() if "-" in m]


def build(name: str) -> torch.nn.Module:
    """The preset for the live spec, else for MOSI features (families that read feature text only)."""
    try:
        return create_model(name, LIVE).eval()
    except UserError:
        return create_model(name, MOSI_BERT).eval()


def export_variants(name: str, model: torch.nn.Module, root: Path) -> dict[str, Path | str]:
    """variant -> bundle folder, or the one-line reason its export failed."""
    run = save_run(root / "run", model, {"scale": "mosi", "data": {"dataset": "synthetic", "split_seed": 0},
                                         "note": "untrained weights, for latency only"})
    out: dict[str, Path | str] = {}
    for variant, (recipe_name, _) in VARIANTS.items():
        recipe = load_export_recipe(recipe_name)
        recipe = recipe.model_copy(update={
            "reference_program": False,
            "parity": recipe.parity.model_copy(update={"samples": PARITY_SAMPLES})})
        try:
            export_run(run, recipe, root / recipe_name, force=True, progress=False)
            out[variant] = root / recipe_name
        except UserError as e:
            out[variant] = f"export failed: {e}"
        except Exception as e:  # noqa: BLE001 - a bench reports an exporter crash and goes on
            out[variant] = f"export crashed: {type(e).__name__}: {str(e).splitlines()[0][:160]}"
    return out


def median_ms(calls: dict[str, Callable[[], object]], runs: int, rounds: int,
              warmup: int = 5) -> dict[str, float]:
    """Median ms per call of each callable, timed in interleaved rounds."""
    for fn in calls.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {k: [] for k in calls}
    per_round = max(runs // rounds, 1)
    for _ in range(rounds):
        for key, fn in calls.items():
            for _ in range(per_round):
                t0 = time.perf_counter()
                fn()
                times[key].append((time.perf_counter() - t0) * 1e3)
    return {k: float(np.median(v)) for k, v in times.items()}


def time_variants(model: torch.nn.Module, bundles: dict[str, Path], threads: int, runs: int,
                  rounds: int) -> dict[str, dict]:
    """variant -> median ms and speed-up vs eager, every backend loaded with `threads` threads."""
    inputs = profile_inputs(model.spec)
    tensors = tuple(torch.from_numpy(a) for a in inputs)

    def eager():
        with torch.no_grad():
            model(*tensors)

    calls = {EAGER: eager}
    for variant, folder in bundles.items():
        backend = load_backend(folder, VARIANTS[variant][1], threads=threads)
        calls[variant] = lambda b=backend: b.predict(inputs)
    torch.set_num_threads(threads)  # the ExecuTorch backend resets its own pool only
    medians = median_ms(calls, runs, rounds)
    return {v: {"p50_ms": ms, "speedup_vs_eager": medians[EAGER] / ms} for v, ms in medians.items()}


def bench_model(name: str, root: Path, runs: int, rounds: int, threads: list[int]) -> dict:
    torch.manual_seed(0)
    model = build(name)
    exported = export_variants(name, model, root)
    bundles = {v: f for v, f in exported.items() if isinstance(f, Path)}
    sizes = {EAGER: sum(t.numel() * t.element_size() for t in model.state_dict().values()) / 1e6}
    parity = {}
    for variant, folder in bundles.items():
        bundle = load_bundle(folder)
        sizes[variant] = bundle_summary(bundle)["model_size_mb"]
        parity[variant] = {k: v for k, v in (bundle.manifest.parity or {}).items()
                           if k.startswith("max_abs") or k == "passed"}
    return {"model": name, "spec": model.spec.name, "params": sum(p.numel() for p in model.parameters()),
            "size_mb": sizes, "parity_16_rows": parity,
            "errors": {v: f for v, f in exported.items() if isinstance(f, str)},
            "timings": {str(t): time_variants(model, bundles, t, runs, rounds) for t in threads}}


def print_table(results: list[dict], threads: list[int]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="batch 1, median ms per call; speed-up = eager / variant (untrained weights)")
    for col in ("model", "spec", "variant", "MB"):
        table.add_column(col, justify="right" if col == "MB" else "left")
    for t in threads:
        table.add_column(f"ms {t}t", justify="right")
        table.add_column(f"x eager {t}t", justify="right")
    for r in results:
        variants = [EAGER, *VARIANTS]
        for i, variant in enumerate(variants):
            cells = [r["model"] if i == 0 else "", r["spec"] if i == 0 else "", variant]
            if variant in r["errors"]:
                table.add_row(*cells, r["errors"][variant][:60])
                continue
            cells.append(f"{r['size_mb'][variant]:.2f}")
            for t in threads:
                v = r["timings"][str(t)][variant]
                cells += [f"{v['p50_ms']:.3f}", f"{v['speedup_vs_eager']:.2f}"]
            table.add_row(*cells)
    Console(width=160).print(table)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=None, help="presets (default: every registered preset)")
    p.add_argument("--runs", type=int, default=60, help="timed calls per variant (over all rounds)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    p.add_argument("--threads", type=int, nargs="+", default=[2], help="thread count(s) for every backend")
    p.add_argument("--json", type=Path, default=None, help="write the results here")
    p.add_argument("--keep", type=Path, default=None, help="keep the bundles under this folder")
    args = p.parse_args(argv)
    names = args.models or presets()
    unknown = [n for n in names if n not in list_models()]
    if unknown:
        raise SystemExit(f"unknown model(s) {unknown}; registered: {presets()}")
    load_before = os.getloadavg()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-backends-") as tmp:
        for name in names:
            root = (args.keep or Path(tmp)) / name
            print(f"{name}: exporting {len(VARIANTS)} bundles, then timing", flush=True)
            results.append(bench_model(name, root, args.runs, args.rounds, args.threads))
    load_after = os.getloadavg()
    print_table(results, args.threads)
    print(f"load average (1/5/15 min) before {load_before}, after {load_after}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "command": "python bench/bench_backends.py " + " ".join(argv or sys.argv[1:]),
            "device": detect_device().to_dict(), "threads": args.threads, "runs": args.runs,
            "rounds": args.rounds, "load_average": {"before": load_before, "after": load_after},
            "weights": "untrained (latency only)", "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
