"""One model-zoo table: the six seed-method families (-tiny presets) on the same real data and protocols.

    nice -n 5 python bench/bench_model_zoo.py --data ../shared/data \\
        --markdown devices/results/amd-epyc-2c/model_zoo.md --json devices/results/amd-epyc-2c/model_zoo.json

Per family, with the same seeds, rows and short training for all (the options below):
- text: trained on the VADER corpora (movie + amazon, labels = mean rating x 0.75, MOSI scale),
  `--max-train` rows, checkpoint by validation MAE on `--max-rows` validation rows; scored on
  `--max-rows` rows of the hashed test split: clean, LNLN drop rates 0-0.9 x 3 seeds (mean), and
  the 7 modality subsets (mean of the 7: on a text-only corpus 4 of them hold the text and equal
  clean, 3 hold nothing, so this column shows how the family falls back when its input vanishes);
- speech: trained on EmoDB's training speakers (valence -1..1, SIMS scale), selected on the
  validation speakers, scored on the test speakers the same three ways (the same row caps);
- leave one domain out (`edge_msa.train.domain_shift`): text (movie / amazon / MELD held out in
  turn) and speakers (five man+woman pairs held out in turn), the same training options;
- deployment: parameters; the speech run exported with the shipped `android-xnnpack-int8` recipe
  (parity checked on its whole validation split by the recipe's gates), .pte size, and batch-1
  latency at one thread next to torch eager in the same process (`bench_backends.time_variants`:
  interleaved medians on the profiler's inputs: every modality present, voice and face at full
  window, the 17-token sentence that the bundle and eager both compute cut to its tokens).
The references (`edge_msa.train.probe`: the training-label mean, and a ridge probe on VADER's
compound score for text / on per-channel frame mean+std for speech) are fitted on the same
training rows and scored on the same test rows in the same run.
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
from bench_backends import time_variants
from bench_export import EAGER, export_all

from edge_msa.data.batch import MSAData
from edge_msa.data.datasets import DEFAULT_DATA, load_dataset
from edge_msa.data.domains import domain_folds, seeded_subset
from edge_msa.features.spec import get_spec
from edge_msa.models import create_model
from edge_msa.train.domain_shift import leave_one_domain_out
from edge_msa.train.probe import reference_metrics
from edge_msa.train.sweep import sweep
from edge_msa.train.trainer import train

FAMILIES = ("lnln_lite-tiny", "hme_lite-tiny", "mmslf_student-tiny", "cyin_lite-tiny", "dashfusion_lite-tiny",
            "midg_lite-tiny")
INT8 = "android-xnnpack-int8"
SEED = 0


def cap(data: MSAData, n: int | None) -> MSAData:
    return seeded_subset(data, n, SEED)


def corpus(name: str, path: str, args) -> dict[str, MSAData]:
    splits = load_dataset(name, path, None, seed=SEED)
    return {"train": cap(splits["train"], args.max_train), "valid": cap(splits["valid"], args.max_rows),
            "test": cap(splits["test"], args.max_rows)}


def protocols(model, test: MSAData) -> dict[str, dict[str, float]]:
    """Clean, LNLN mean and the mean over the 7 subsets, on the same test rows."""
    lnln = sweep(model, test, "lnln", progress=False)["rows"]["mean"]
    subsets = sweep(model, test, "subsets", progress=False)["rows"]
    mean7 = {k: float(np.mean([r[k] for r in subsets.values()])) for k in lnln}
    return {"clean": sweep(model, test, "none", progress=False)["rows"]["complete"], "lnln_mean": lnln,
            "subsets_mean": mean7}


def bench_family(name: str, data: dict[str, dict[str, MSAData]], folds: dict, root: Path, args, out: dict,
                 save: Callable[[], None]) -> None:
    """Fill `out` phase by phase, calling `save` after each (a long sweep keeps what it finished)."""
    opts = {"epochs": args.epochs, "batch_size": 32, "lr": 1e-3, "text_lr": 5e-5, "select": "mae",
            "progress": False}
    t0 = time.perf_counter()
    for kind, splits in data.items():
        if args.deploy_only and kind != "speech":
            continue
        torch.manual_seed(SEED)
        model = create_model(name)
        out["params"] = sum(p.numel() for p in model.parameters())
        info = {"dataset": args.datasets[kind], "path": args.data, "split_seed": SEED}
        train(model, splits, root / kind, seed=SEED, data_info=info, **opts)
        out[kind] = protocols(model, splits["test"])
        print(f"  {name} {kind}: clean MAE {out[kind]['clean']['mae']:.3f}, corr "
              f"{out[kind]['clean']['corr']:.3f} ({time.perf_counter() - t0:.0f} s)", flush=True)
        save()
    for kind, fold_list in ({} if args.deploy_only else folds).items():
        result = leave_one_domain_out(lambda: create_model(name), fold_list, root / f"domains-{kind}",
                                      domains=kind, seed=SEED, **opts)
        out[f"domains_{kind}"] = result["rows"]
        print(f"  {name} domains {kind}: mean MAE {result['rows']['mean']['mae']:.3f}, corr "
              f"{result['rows']['mean']['corr']:.3f} ({time.perf_counter() - t0:.0f} s)", flush=True)
        save()
    out["train_s"] = time.perf_counter() - t0
    if args.skip_deploy:
        return
    try:
        out["deploy"] = deploy(root / "speech", root / "bundles", args)
    except Exception as e:  # noqa: BLE001 - an exporter crash must not lose the quality figures
        out["deploy"] = {"error": f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"}
    save()


def deploy(run: Path, root: Path, args) -> dict:
    """ExecuTorch int8 export of a trained run (the recipe's parity gates) and batch-1 latency vs eager."""
    from edge_msa.train.run import load_run

    exported = export_all(run, root, trained=True, reuse=False, recipes=(INT8,))
    if isinstance(exported[INT8], str):
        return {"error": exported[INT8]}
    from edge_msa.export.bundle import load_bundle

    bundle = load_bundle(exported[INT8])
    m = bundle.manifest
    model, _ = load_run(run)
    timing = time_variants(model, {INT8: exported[INT8]}, threads=1, calls=args.calls, rounds=3)
    return {"pte_mb": m.files[m.file_with_role("model")].bytes / 1e6, "int8_ms": timing[INT8]["p50_ms"],
            "eager_ms": timing[EAGER]["p50_ms"],
            "parity": {k: v for k, v in m.parity.items()
                       if k in ("samples", "max_abs_diff_score", "mae_delta", "passed")}}


def references(data: dict[str, dict[str, MSAData]], folds: dict) -> dict:
    out = {kind: reference_metrics(s["train"], s["test"], s["test"].scale) for kind, s in data.items()}
    for kind, fold_list in folds.items():
        per_fold = [reference_metrics(f.train, f.test, f.test.scale) for f in fold_list]
        out[f"domains_{kind}"] = {name: {k: float(np.mean([p[name][k] for p in per_fold]))
                                         for k in per_fold[0][name]} for name in per_fold[0]}
    return out


def fmt(x: float | None, digits: int = 3) -> str:
    return "-" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def to_markdown(results: list[dict], refs: dict, meta: dict) -> str:
    head = ("| family (preset) | params | text clean MAE / r | text LNLN mean MAE / r | text subsets MAE "
            "| speech clean MAE / r | speech LNLN mean MAE / r | speech subsets MAE "
            "| LODO text MAE / r | LODO speakers MAE / r |")
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]

    def pair(m: dict | None) -> str:
        return "-" if m is None else f"{fmt(m['mae'])} / {fmt(m['corr'])}"

    def get(r: dict, *keys: str) -> dict | None:  # None where the sweep has not got that far
        for k in keys:
            r = r.get(k) if r is not None else None
        return r

    for r in results:
        if "crashed" in r:
            lines.append(f"| {r['model']} | crashed: {r['crashed'][:120]} |" + " |" * 8)
            continue
        lines.append(" | ".join([
            f"| {r['model']}", f"{r['params'] / 1e6:.2f} M" if "params" in r else "-",
            pair(get(r, "text", "clean")), pair(get(r, "text", "lnln_mean")),
            fmt((get(r, "text", "subsets_mean") or {}).get("mae")), pair(get(r, "speech", "clean")),
            pair(get(r, "speech", "lnln_mean")), fmt((get(r, "speech", "subsets_mean") or {}).get("mae")),
            pair(get(r, "domains_text", "mean")), pair(get(r, "domains_speakers", "mean"))]) + " |")
    for name in refs["text"]:
        cells = [f"| reference: {name}", "0", pair(refs["text"].get(name)), "-", "-",
                 pair(refs["speech"].get(name)), "-", "-", pair(refs["domains_text"].get(name)),
                 pair(refs["domains_speakers"].get(name))]
        lines.append(" | ".join(cells) + " |")
    deployed = [r for r in results if "deploy" in r]
    if deployed:
        lines += ["", "Latency: batch 1, one thread, the profiler's input (a 17-token sentence, which the "
                  "bundle cuts its text to and eager gets cut too; 6 s of voice and of face frames).", "",
                  "| family (preset) | ExecuTorch int8 .pte MB | int8 ms (1 thread) | eager ms "
                  "(1 thread) | int8 parity on EmoDB valid (max abs diff, MAE change) |",
                  "|---|---|---|---|---|"]
    for r in deployed:
        d = r["deploy"]
        if "error" in d:
            lines.append(f"| {r['model']} | export failed: {d['error'][:120]} | - | - | - |")
            continue
        p = d["parity"]
        lines.append(f"| {r['model']} | {d['pte_mb']:.2f} | {d['int8_ms']:.2f} | {d['eager_ms']:.2f} | "
                     f"{fmt(p.get('max_abs_diff_score'), 4)}, {fmt(p.get('mae_delta'), 4)} "
                     f"({'passed' if p.get('passed') else 'FAILED'}) |")
    lines += ["", f"Command: `{meta['command']}`. Rows: text {meta['sizes']['text']}, speech "
              f"{meta['sizes']['speech']}; leave-one-domain-out held-out rows per fold: "
              f"{meta['sizes']['folds']}. "
              f"Load average (1/5/15 min) before {meta['load_before']}, after {meta['load_after']}; "
              f"{meta['minutes']:.0f} min in all."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=list(FAMILIES))
    p.add_argument("--data", default=str(DEFAULT_DATA))
    p.add_argument("--epochs", type=int, default=2, help="training epochs of every run")
    p.add_argument("--max-train", type=int, default=512, help="training rows of every run (a seeded subset)")
    p.add_argument("--max-rows", type=int, default=256, help="validation/test rows of the text corpora and "
                                                              "held-out rows per leave-one-domain-out fold")
    p.add_argument("--calls", type=int, default=30, help="timed batch-1 calls per variant")
    p.add_argument("--skip-deploy", action="store_true", help="quality columns only (no export, no timing)")
    p.add_argument("--deploy-only", action="store_true",
                   help="train the speech run only, then the deployment columns (--merge adds them to the "
                        "family's row of a full run)")
    p.add_argument("--merge", type=Path, nargs="+", default=None,
                   help="only merge the --json files of earlier runs (families run in parallel)")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--markdown", type=Path, default=None)
    args = p.parse_args(argv)
    for path in (args.json, args.markdown):
        if path is not None and path.exists():
            raise SystemExit(f"{path} exists: remove it first (results are never overwritten silently)")
    if args.merge:
        return merge(args.merge, args)
    if args.deploy_only and args.skip_deploy:
        raise SystemExit("--deploy-only and --skip-deploy exclude each other")
    args.datasets = {"text": "vader", "speech": "emodb"}
    load_before, t0 = os.getloadavg(), time.perf_counter()
    data = {kind: corpus(name, args.data, args) for kind, name in args.datasets.items()}
    spec = get_spec(None)  # every preset here takes the live spec
    folds = {kind: domain_folds(kind, args.data, spec, seed=SEED, max_test=args.max_rows)
             for kind in ("text", "speakers")}
    for fold in folds["text"]:  # the same training and selection budget as the clean text runs
        fold.train, fold.valid = cap(fold.train, args.max_train), cap(fold.valid, args.max_rows)
    refs = references(data, folds)
    results = []
    with tempfile.TemporaryDirectory(prefix="model-zoo-") as tmp:
        for name in args.models:
            print(f"{name}:", flush=True)
            results.append({"model": name})

            def save() -> None:
                write(results, refs, data, folds, load_before, t0, args, argv)

            try:
                bench_family(name, data, folds, Path(tmp) / name, args, results[-1], save)
            except Exception as e:  # noqa: BLE001 - one family's crash must not end the table
                print(f"{name}: crashed: {type(e).__name__}: {str(e).splitlines()[0][:160]}", flush=True)
                results[-1]["crashed"] = f"{type(e).__name__}: {str(e)[:300]}"
                save()
    print(to_markdown(results, refs, summary(data, folds, load_before, t0, argv, args.deploy_only)))


def merge(paths: list[Path], args) -> None:
    """One table from several runs' JSON; they must share the rows (same options), so the references match."""
    runs = [json.loads(p.read_text()) for p in paths]
    if any(r["sizes"] != runs[0]["sizes"] or r["references"] != runs[0]["references"] for r in runs):
        raise SystemExit("these runs did not score the same rows: they cannot share one table")
    meta = {**runs[0], "command": "; ".join(r["command"] for r in runs),
            "load_before": [r["load_before"] for r in runs], "load_after": [r["load_after"] for r in runs],
            "minutes": max(r["minutes"] for r in runs), "deploy_only": False}
    full = [x for r in runs if not r.get("deploy_only") for x in r["results"]]
    rows = {x["model"]: x for x in full}
    for x in (x for r in runs if r.get("deploy_only") for x in r["results"]):
        if x["model"] not in rows:
            raise SystemExit(f"{x['model']}: a --deploy-only run needs that family's full run in --merge")
        rows[x["model"]]["deploy"] = x.get("deploy", {"error": x.get("crashed", "not reached")})
    results = list(rows.values())
    table = to_markdown(results, runs[0]["references"], meta)
    print(table)
    if args.markdown:
        args.markdown.write_text(table)
    if args.json:
        args.json.write_text(json.dumps({**meta, "references": runs[0]["references"], "results": results,
                                         "merged": [str(p) for p in paths]}, indent=2) + "\n")


def summary(data: dict, folds: dict, load_before: tuple, t0: float, argv: list[str] | None,
            deploy_only: bool) -> dict:
    return {"command": "python bench/bench_model_zoo.py " + " ".join(argv or sys.argv[1:]),
            "deploy_only": deploy_only,
            "load_before": [round(x, 1) for x in load_before],
            "load_after": [round(x, 1) for x in os.getloadavg()],
            "minutes": (time.perf_counter() - t0) / 60,
            "sizes": {kind: {s: len(d) for s, d in splits.items()} for kind, splits in data.items()}
            | {"folds": {kind: {f.held_out: len(f.test) for f in fl} for kind, fl in folds.items()}}}


def write(results: list[dict], refs: dict, data: dict, folds: dict, load_before: tuple, t0: float, args,
          argv: list[str] | None) -> None:
    meta = summary(data, folds, load_before, t0, argv, args.deploy_only)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(to_markdown(results, refs, meta))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({**meta, "references": refs, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
