"""Where each family's ExecuTorch program spends its time: `edge-msa profile --operators` per preset.

    python bench/bench_operators.py [--models mmslf_student-tiny lnln_lite-tiny ...]
        [--recipes android-xnnpack-fp32 android-xnnpack-int8] [--threads 1] [--runs 20]
        [--keep DIR [--reuse]] [--out devices/results/amd-epyc-2c/operators]

Each preset is exported UNTRAINED with the shipped recipes (`bench_export.export_all`, parity gates
off: operator times do not depend on the weights), then its `.pte` runs with ETDump on
(`edge_msa.profile.operators.executorch_operators`, batch 1, the profiler's inputs: a real
sentence, audio and face present at full window). Per preset and recipe it writes
`<preset>-<recipe>-<threads>t.json` (the whole breakdown, the command, the load average) and
prints the summary; at the end one table: ms per run, the share on portable kernels, the largest
portable op and the largest delegated op kind, and the manifest's delegation counts. Per preset it
also counts the multiply-adds of every `nn.Linear` in one eager call (forward hooks, the same
inputs) and the share inside the text encoder: what the GEMMs that dominate the delegate compute.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import torch
from bench_export import export_all, untrained_run

from edge_msa.data.datasets import DEFAULT_DATA
from edge_msa.models import list_models
from edge_msa.profile.operators import executorch_operators
from edge_msa.profile.runner import profile_inputs
from edge_msa.train.run import load_run

DEFAULT_RECIPES = ("android-xnnpack-fp32", "android-xnnpack-int8")


def default_presets() -> list[str]:
    skip = ("mean_pool", "mmslf_teacher")  # a baseline without frames, and the teacher that is never shipped
    return [m for m in list_models() if m.endswith("-tiny") and not m.startswith(skip)]


def linear_macs(model: torch.nn.Module) -> dict:
    """Multiply-adds of every nn.Linear in one batch-1 call on the profiler's inputs, and the share
    inside the text encoder."""
    encoder = getattr(model, "text_encoder", None)  # None: a features-only text input
    text = {id(m) for m in (encoder.modules() if encoder is not None else ())}
    counts = {"total": 0, "text_encoder": 0}

    def hook(mod, inp, _out):
        n = inp[0].numel() * mod.out_features  # rows x in_features x out_features
        counts["total"] += n
        counts["text_encoder"] += n if id(mod) in text else 0

    hooks = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, torch.nn.Linear)]
    with torch.inference_mode():
        model(*(torch.from_numpy(a) for a in profile_inputs(model.spec)))
    for h in hooks:
        h.remove()
    return {"linear_macs": counts["total"], "text_encoder_share": counts["text_encoder"] / counts["total"]}


def table_row(model: str, recipe: str, r: dict) -> str:
    portable = [o for o in r["operators"] if o["kind"] == "portable"]
    top_p = f"{portable[0]['name']} {portable[0]['total_ms']:.2f}" if portable else "-"
    top_d = (f"{r['delegated_ops'][0]['name']} {r['delegated_ops'][0]['share']:.0%}"
             if r["delegated_ops"] else "-")
    d = r.get("delegation") or {}
    counts = f"{d.get('delegated_ops', '?')}/{d.get('non_delegated_ops', '?')}"
    share = r["portable_ms"] / r["execute_ms"] if r["execute_ms"] else 0.0
    return (f"| {model} | {recipe} | {r['execute_ms']:.2f} | {r['portable_ms']:.2f} ({share:.0%}) | "
            f"{top_p} | {top_d} | {counts} |")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=None, help="presets (default: every family's -tiny)")
    p.add_argument("--recipes", nargs="+", default=list(DEFAULT_RECIPES), help="ExecuTorch export recipes")
    p.add_argument("--data", default=str(DEFAULT_DATA), help="real data for the untrained runs' rows")
    p.add_argument("--threads", type=int, default=1, help="ExecuTorch threads")
    p.add_argument("--runs", type=int, default=20, help="traced runs after 2 warm-up runs")
    p.add_argument("--keep", type=Path, default=None, help="keep the bundles under this folder")
    p.add_argument("--reuse", action="store_true", help="with --keep: profile bundles already there")
    p.add_argument("--out", type=Path, default=None, help="write one JSON per preset and recipe here")
    args = p.parse_args(argv)
    names = args.models or default_presets()
    unknown = [n for n in names if n not in list_models()]
    if unknown:
        raise SystemExit(f"unknown model(s) {unknown}")
    command = "python bench/bench_operators.py " + " ".join(argv or sys.argv[1:])
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-operators-") as tmp:
        for name in names:
            root = (args.keep or Path(tmp)) / name
            reused = args.reuse and (root / "run").is_dir()
            run = root / "run" if reused else untrained_run(name, root, args.data)
            macs = linear_macs(load_run(run)[0])
            print(f"{name}: {macs['linear_macs'] / 1e6:.0f}M Linear multiply-adds per call, "
                  f"{macs['text_encoder_share']:.0%} in the text encoder", flush=True)
            bundles = export_all(run, root, trained=False, reuse=args.reuse, recipes=tuple(args.recipes))
            for recipe, folder in bundles.items():
                if isinstance(folder, str):
                    rows.append(f"| {name} | {recipe} | {folder[:80]} | | | | |")
                    continue
                load = os.getloadavg()
                r = executorch_operators(folder, threads=args.threads, runs=args.runs)
                print(f"\n== {name} {recipe} (load average {load[0]:.1f})\n{r['summary']}", flush=True)
                rows.append(table_row(name, recipe, r))
                if args.out:
                    args.out.mkdir(parents=True, exist_ok=True)
                    body = {"command": command, "model": name, "recipe": recipe, "weights": "untrained",
                            **macs,
                            "load_average_1min": load[0], **{k: v for k, v in r.items() if k != "summary"}}
                    path = args.out / f"{name}-{recipe}-{args.threads}t.json"
                    path.write_text(json.dumps(body, indent=2) + "\n")
    print(f"\n{command}\n| preset | recipe | ms/run | portable ms | largest portable op (ms) | "
          "largest delegated op kind | ops delegated/not |\n|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
