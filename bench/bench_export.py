"""Export targets of the -small presets: .pte sizes, latency and int8 metric deltas, one process.

    python bench/bench_export.py --runs runs/lnln-small runs/hme-small   # trained runs
    python bench/bench_export.py --models lnln_lite-small                  # untrained: size/latency only
        [--threads 1] [--calls 60] [--rounds 3] [--json OUT] [--keep DIR [--reuse]]

Each model is exported with the shipped recipes through the real pipeline (`export_run`):
android-xnnpack-fp32, android-xnnpack-int8 (static), android-xnnpack-int8-dynamic, onnx-cpu-fp32,
onnx-cpu-int8. For a trained run, parity runs on its WHOLE validation split, so the manifest's
metric change is the int8 delta on that split. Then torch eager and the five bundles run batch 1
on one real validation row, interleaved in rounds (load from other processes hits all alike);
figures are medians. Targets: int8 .pte <= 35% of fp32 .pte; ET int8 faster than ET
fp32 and than eager; |MAE change| <= 0.03, Acc-2 drop <= 1 point. Printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

from edge_msa.data.datasets import DEFAULT_DATA
from edge_msa.data.samples import held_out_slice, run_data_source, spec_arrays
from edge_msa.errors import UserError
from edge_msa.export.recipes import load_export_recipe
from edge_msa.models import create_model, list_models
from edge_msa.profile.latency import interleaved_medians
from edge_msa.runtime.backends import load_backend
from edge_msa.train.run import load_run, save_run
from edge_msa.workflows.export_run import export_run

RECIPES = ("android-xnnpack-fp32", "android-xnnpack-int8", "android-xnnpack-int8-dynamic", "onnx-cpu-fp32",
           "onnx-cpu-int8")
EAGER = "torch eager"
WHOLE_SPLIT = 1_000_000  # parity samples: every validation row


def untrained_run(name: str, root: Path, data: str) -> Path:
    torch.manual_seed(0)
    return save_run(root / "run", create_model(name), {
        "scale": "mosi", "data": {"dataset": "vader-movie", "path": data, "split_seed": 0},
        "note": "untrained weights: sizes and latency only"})


def export_all(run: Path, root: Path, trained: bool, reuse: bool,
               recipes: tuple[str, ...] = RECIPES) -> dict[str, Path | str]:
    """recipe -> bundle folder, or why its export failed."""
    out: dict[str, Path | str] = {}
    for name in recipes:
        if reuse and (root / name / "manifest.json").is_file():
            out[name] = root / name
            continue
        recipe = load_export_recipe(name)
        parity = {"samples": WHOLE_SPLIT} if trained else {  # untrained: nothing to judge
            "samples": 64, **{k: 1e9 for k in ("max_abs_diff", "mae_delta", "acc2_drop")
                              if getattr(recipe.parity, k) is not None}}
        recipe = recipe.model_copy(update={"reference_program": False,
                                           "parity": recipe.parity.model_copy(update=parity)})
        t0 = time.perf_counter()
        try:
            manifest = export_run(run, recipe, root / name, force=True, progress=False)
            out[name] = root / name
            took = time.perf_counter() - t0
            print(f"  {name}: {took:.0f} s, parity {manifest.parity['passed']}", flush=True)
        except UserError as e:
            out[name] = f"export failed: {e}"
            print(f"  {name}: {out[name]}", flush=True)
    return out


def bench(run: Path, root: Path, trained: bool, threads: int, calls: int, rounds: int, reuse: bool) -> dict:
    model, config = load_run(run)
    bundles = export_all(run, root, trained, reuse)
    valid = run_data_source(config).split("valid", model.spec)
    row = spec_arrays(held_out_slice(valid, 1, seed=3), model.spec)
    tensors = tuple(torch.from_numpy(a) for a in row)
    torch.set_num_threads(threads)

    def eager():
        with torch.inference_mode():
            model(*tensors)

    weights_mb = sum(t.numel() * t.element_size() for t in model.state_dict().values()) / 1e6
    fns = {EAGER: eager}
    result = {"run": str(run), "model": config["model"], "trained": trained,
              "variants": {EAGER: {"mb": weights_mb}}}
    for name, folder in bundles.items():
        if isinstance(folder, str):
            result["variants"][name] = {"error": folder}
            continue
        backend = load_backend(folder, threads=threads)
        m = backend.manifest
        fns[name] = lambda b=backend: b.predict(row)
        result["variants"][name] = {
            "backend": backend.name, "mb": m.files[m.file_with_role("model")].bytes / 1e6,
            "parity": {k: v for k, v in m.parity.items() if k in (
                "samples", "max_abs_diff_score", "mae_delta", "acc2_drop_points", "passed")},
            "delegation": m.delegation and {k: m.delegation[k]
                                            for k in ("delegated_ops", "non_delegated_ops")}}
    torch.set_num_threads(threads)  # the ExecuTorch backend resets only its own pool
    for name, ms in interleaved_medians(fns, calls, rounds).items():
        result["variants"][name]["p50_ms"] = ms
    return result


def targets(r: dict) -> list[str]:
    v = r["variants"]
    lines = []
    fp32 = v["android-xnnpack-fp32"]
    for name in ("android-xnnpack-int8", "android-xnnpack-int8-dynamic"):
        q = v[name]
        if "error" in q or "error" in fp32:
            continue
        size = q["mb"] / fp32["mb"]
        verdict = "met" if size <= 0.35 else "MISSED"
        lines.append(f"{name}: .pte {100 * size:.0f}% of fp32 (target <= 35%: {verdict}); "
                     f"{fp32['p50_ms'] / q['p50_ms']:.2f}x ET fp32, "
                     f"{v[EAGER]['p50_ms'] / q['p50_ms']:.2f}x eager")
        if r["trained"]:
            p = q["parity"]
            ok = abs(p["mae_delta"]) <= 0.03 and p["acc2_drop_points"] <= 1.0
            lines.append(f"  valid split ({p['samples']} rows): MAE change {p['mae_delta']:+.4f}, Acc-2 drop "
                         f"{p['acc2_drop_points']:.2f} points ({'met' if ok else 'MISSED'})")
    return lines


def print_result(r: dict) -> None:
    print(f"\n{r['model']} ({'trained: ' + r['run'] if r['trained'] else 'untrained: size/latency only'})")
    eager = r["variants"][EAGER].get("p50_ms")
    print(f"  {'variant':<30} {'MB':>8} {'p50 ms':>8} {'x eager':>8}  parity")
    for name, v in r["variants"].items():
        if "error" in v:
            print(f"  {name:<30} {v['error'][:100]}")
            continue
        p = v.get("parity", {})
        parity = (f"MAE {p['mae_delta']:+.4f}, Acc-2 drop {p['acc2_drop_points']:+.2f}pt"
                  if "mae_delta" in p else f"max|d| {p['max_abs_diff_score']:.2g}" if p else "")
        print(f"  {name:<30} {v['mb']:>8.2f} {v['p50_ms']:>8.3f} {eager / v['p50_ms']:>8.2f}  {parity}")
    for line in targets(r):
        print("  " + line)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", nargs="*", type=Path, default=[], help="trained run folders")
    p.add_argument("--models", nargs="*", default=None, help="presets exported untrained (default: every "
                                                             "-small preset when no --runs)")
    p.add_argument("--data", default=str(DEFAULT_DATA), help="real data for untrained presets' inputs")
    p.add_argument("--threads", type=int, default=1, help="threads of every backend (on a shared, "
                                                          "loaded machine more threads oversubscribe)")
    p.add_argument("--calls", type=int, default=60, help="timed calls per variant (all rounds)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    p.add_argument("--json", type=Path, default=None, help="write the results here")
    p.add_argument("--keep", type=Path, default=None, help="keep the bundles under this folder")
    p.add_argument("--reuse", action="store_true", help="time the bundles already under --keep, "
                                                         "export only the missing ones")
    args = p.parse_args(argv)
    models = args.models if args.models is not None else ([] if args.runs else
                                                          [m for m in list_models() if m.endswith("-small")])
    load_before = os.getloadavg()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        root = args.keep or Path(tmp)
        jobs = [(run, True, root / run.name) for run in args.runs]
        jobs += [(untrained_run(m, root / m, args.data), False, root / m) for m in models]
        for run, trained, where in jobs:
            print(f"{run}: exporting {len(RECIPES)} bundles", flush=True)
            results.append(bench(run, where, trained, args.threads, args.calls, args.rounds, args.reuse))
            print_result(results[-1])
    load_after = os.getloadavg()
    print(f"\nload average before {load_before}, after {load_after} (2-core machine shared with other jobs)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        command = "python bench/bench_export.py " + " ".join(argv or sys.argv[1:])
        args.json.write_text(json.dumps({"command": command, "threads": args.threads,
                                         "load_average": [load_before, load_after], "results": results},
                                        indent=2) + "\n")


if __name__ == "__main__":
    main()
