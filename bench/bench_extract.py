"""Throughput of `edge-msa data extract`: clips/s and CPU s per media s, workers 1 and 2 and Ray local.

    python bench/bench_extract.py [--data ../shared/data] [--emodb 200] [--repeats 3] [--json OUT]

Each run is the whole command as a user runs it (`edge-msa data extract MANIFEST --out DIR
--no-asr` in a subprocess, imports and model loading included) on the same manifest: the first
`--emodb` EmoDB wavs (audio only) and the six CREMA-D clips (face video + speech), with an empty
feature cache each time. CPU s = user + system time of the command and of every process under it
(worker processes, Ray's raylet and workers), read from /proc every 0.1 s: a process that ends
between two readings loses at most its last 0.1 s. Figures
are medians of `--repeats` runs, variants interleaved so machine load hits each alike; the load
average is printed with them (other jobs share the machine).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from edge_msa.data.datasets import DEFAULT_DATA
from edge_msa.data.media_dataset import read_meta

VARIANTS = {"workers 1": ["--workers", "1"], "workers 2": ["--workers", "2"],
            "ray local, 2 CPUs": ["--engine", "ray", "--workers", "2"]}


def manifest(data: Path, n_emodb: int, path: Path) -> Path:
    wavs = sorted((data / "emodb" / "wav").glob("*.wav"))[:n_emodb]
    clips = sorted((data / "crema-d-sample").glob("*.flv"))
    rows = [f"{w.resolve()},0,,{w.name[5]},,{w.name[:2]}," for w in wavs]
    rows += [f"{c.resolve()},0,,{c.stem.split('_')[2]},don't forget a jacket,1001," for c in clips]
    path.write_text("path,start_s,end_s,label,text,speaker,split\n" + "\n".join(rows) + "\n")
    return path


TICK = os.sysconf("SC_CLK_TCK")


def _tree_cpu(root: int) -> dict[int, float]:
    """{pid: user + system CPU s} of `root` and every process under it, now."""
    parent, cpu = {}, {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended while we looked
        pid = int(stat.parent.name)
        parent[pid], cpu[pid] = int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, ppid in parent.items() if ppid in tree} - tree
        tree |= more
        grew = bool(more)
    return {pid: cpu[pid] for pid in tree if pid in cpu}


def one_run(manifest_path: Path, options: list[str], root: Path) -> dict:
    out, cache = Path(tempfile.mkdtemp(dir=root)) / "ds", Path(tempfile.mkdtemp(dir=root))
    t0 = time.perf_counter()
    command = ["edge-msa", "data", "extract", str(manifest_path), "--out", str(out), "--no-asr",
               "--cache", str(cache), *options]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen: dict[int, float] = {}
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.1):
            seen.update(_tree_cpu(proc.pid))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - t0
    done.set()
    watcher.join()
    if proc.returncode:
        raise SystemExit(f"extract failed: {err.decode()[-2000:]}")
    meta = read_meta(out)
    return {"wall_s": wall, "cpu_s": sum(seen.values()), "files": meta["files"], "media_s": meta["media_s"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--emodb", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    variants = dict(VARIANTS)
    try:
        import ray  # noqa: F401
    except ImportError:
        variants.pop("ray local, 2 CPUs")
        print("ray is not installed (pip install 'edge-msa[distributed]'): Ray Data left out")
    runs: dict[str, list[dict]] = {name: [] for name in variants}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = manifest(args.data, args.emodb, root / "manifest.csv")
        for _ in range(args.repeats):
            for name, options in variants.items():
                runs[name].append(one_run(path, options, root))
    load = os.getloadavg()
    result = {"load_average_1_5_15": [round(x, 2) for x in load], "repeats": args.repeats, "variants": {}}
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1/5/15 min) on {os.cpu_count()} CPUs")
    print(f"{'variant':20} {'files':>5} {'media s':>8} {'wall s':>7} {'clips/s':>8} {'CPU s/media s':>14}")
    for name, rs in runs.items():
        wall = statistics.median(r["wall_s"] for r in rs)
        cpu = statistics.median(r["cpu_s"] for r in rs)
        files, media_s = rs[0]["files"], rs[0]["media_s"]
        result["variants"][name] = {
            "files": files, "media_s": media_s, "wall_s": round(wall, 2),
            "clips_per_s": round(files / wall, 3), "cpu_s_per_media_s": round(cpu / media_s, 3), "runs": rs}
        print(f"{name:20} {files:5d} {media_s:8.1f} {wall:7.1f} {files / wall:8.2f} {cpu / media_s:14.2f}")
    base = result["variants"]["workers 1"]["wall_s"]
    for name, v in result["variants"].items():
        print(f"speed-up of {name} over workers 1: {base / v['wall_s']:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
