"""Time to the first event, the user's way: `edge-msa demo` and `edge-msa run --video CLIP --fast` on a
2-second clip, per bundle, for this checkout or a commit ("after") and for an older commit ("before"),
each commit checked out as a git worktree in /tmp and run from it with PYTHONPATH, in one run on one
machine.

    python bench/bench_startup.py --before 28836dd --after HEAD --runs 3 --json startup.json
    python bench/bench_startup.py --bundles default nano --cases demo     # a quick look

Each row is one (variant, case, bundle): a new process per run, the wall time from spawning it to
the first event line on its stdout, and to its exit.
- cold: the first run of that row, after asking the kernel to drop its cached pages of the
  libraries and models a run reads (torch, executorch, onnxruntime, LiteRT, PyAV, OpenCV,
  pocketsphinx, numpy, the bundles and the face models) with posix_fadvise(DONTNEED). Pages that
  another process on the machine has mapped stay cached, so this is as cold as a shared machine
  allows without dropping every cache. Bytecode: as the environment has it (with
  PYTHONDONTWRITEBYTECODE=1 edge-msa's own modules compile in every process, both variants alike).
- warm: the median of the next runs (libraries in the page cache).
Timings on a shared 2-core machine are noisy: compare rows of the same run, not across runs.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLIP = REPO.parent / "shared" / "data" / "crema-d-sample" / "1001_DFA_NEU_XX.flv"
EVENT_LINE = re.compile(r"^\s*\d+\.\d+-\s*\d+\.\d+s\s")  # the console's event line: "  0.40-  1.53s ..."
PACKAGES = ("torch", "executorch", "torchao", "onnxruntime", "ai_edge_litert", "av", "cv2", "pocketsphinx",
            "numpy", "tokenizers")
BUNDLES = ("(default)", "default/executorch-int8", "default/onnx-int8", "nano")


def evict(paths: list[Path]) -> int:
    """Ask the kernel to drop its cached pages of every file under `paths`; returns the file count."""
    count = 0
    for root in paths:
        for dirpath, _, files in os.walk(root):
            for name in files:
                try:
                    fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
                except OSError:
                    continue
                try:
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                    count += 1
                finally:
                    os.close(fd)
    return count


def cold_paths(checkout: Path) -> list[Path]:
    found = []
    for name in PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            found += [Path(p) for p in spec.submodule_search_locations]
    return found + [checkout / "edge_msa" / "assets"]


def command(case: str, bundle: str, out_dir: Path, index: int) -> list[str]:
    args = ["demo", "--jsonl", str(out_dir / f"demo-{index}.jsonl")] if case == "demo" else \
        ["run", "--video", str(CLIP), "--fast", "--console", "lines"]
    if bundle != "(default)":
        args += ["--bundle", bundle]
    return [sys.executable, "-m", "edge_msa", *args]


def timed(cmd: list[str], env: dict, cwd: Path) -> dict:
    """Seconds from spawning `cmd` to its first event line and to its exit, and the CPU seconds
    (user + system, all threads) it used: less sensitive than wall time to a busy machine."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd)
    first = None
    for line in proc.stdout:
        if first is None and EVENT_LINE.match(line):
            first = time.perf_counter() - t0
    err = proc.stderr.read()
    code = proc.wait()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return {"first_event_s": first, "exit_s": time.perf_counter() - t0, "cpu_s": cpu, "rc": code,
            "stderr_lines": len(err.splitlines()),
            "stderr_tail": err.strip().splitlines()[-1:] if code else []}


def row(variant: str, checkout: Path, case: str, bundle: str, runs: int, work: Path) -> dict:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(checkout)}
    env.pop("EDGE_MSA_VERBOSE", None)
    evict(cold_paths(checkout))
    results = [timed(command(case, bundle, work, i), env, work) for i in range(runs)]
    ok = [r for r in results if r["rc"] == 0 and r["first_event_s"] is not None]

    def med(key: str) -> float | None:
        warm = [r[key] for r in ok[1:]] if results[0] in ok else []
        return round(statistics.median(warm), 2) if warm else None

    cold = results[0]
    return {"variant": variant, "case": case, "bundle": bundle,
            "cold_first_event_s": round(cold["first_event_s"], 2) if cold in ok else None,
            "cold_exit_s": round(cold["exit_s"], 2) if cold in ok else None,
            "warm_first_event_s": med("first_event_s"), "warm_exit_s": med("exit_s"),
            "cold_cpu_s": round(cold["cpu_s"], 2), "warm_cpu_s": med("cpu_s"),
            "stderr_lines": [r["stderr_lines"] for r in results], "runs": results}


def worktree(ref: str) -> Path:
    """A worktree of `ref` in /tmp (made once; the bench never edits it)."""
    sha = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", ref], check=True,
                         capture_output=True, text=True).stdout.strip()
    path = Path(tempfile.gettempdir()) / f"edge-msa-{sha}"
    if not path.is_dir():
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(path), sha], check=True,
                       capture_output=True)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", help="git ref of the code to compare with (run from a worktree)")
    parser.add_argument("--after", help="git ref of the code to measure (default: this checkout as it is)")
    parser.add_argument("--runs", type=int, default=3, help="processes per row: 1 cold + the warm ones")
    parser.add_argument("--cases", nargs="+", default=["demo", "run"], choices=["demo", "run"])
    parser.add_argument("--bundles", nargs="+", default=list(BUNDLES))
    parser.add_argument("--json", type=Path, help="write every row (and each run) here")
    args = parser.parse_args()
    variants = [("after", worktree(args.after) if args.after else REPO)]
    if args.before:
        variants.insert(0, ("before", worktree(args.before)))
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        for case in args.cases:
            for bundle in args.bundles:
                for variant, checkout in variants:  # before and after of one row back to back
                    work = Path(tmp) / f"{variant}-{case}-{bundle.replace('/', '-')}"
                    work.mkdir()
                    r = row(variant, checkout, case, bundle, args.runs, work)
                    rows.append(r)
                    failed = [x["stderr_tail"] for x in r["runs"] if x["rc"]]
                    print(f"{variant:6} {case:4} {bundle:24} first event cold {r['cold_first_event_s']} s, "
                          f"warm {r['warm_first_event_s']} s; exit cold {r['cold_exit_s']} s, warm "
                          f"{r['warm_exit_s']} s; CPU cold {r['cold_cpu_s']} s, warm {r['warm_cpu_s']} s; "
                          f"stderr lines {r['stderr_lines']}"
                          + (f"; FAILED {failed}" if failed else ""), flush=True)
    if args.json:
        meta = {"command": " ".join(sys.argv), "clip": str(CLIP), "cpus": os.cpu_count(),
                "load_avg_at_end": os.getloadavg(), "before": args.before, "after": args.after,
                "checkouts": {name: str(path) for name, path in variants}}
        args.json.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
