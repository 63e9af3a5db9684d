"""Whole-pipeline figures of `edge-msa run` on the bundled demo clip (17.5 s, six utterances).

    python bench/bench_runtime.py [--bundle DIR] [--backend NAME] [--runs 3] [--realtime-runs 1]
                                  [--set face.still_diff=0 ...] [--json OUT]
    taskset -c 0 python bench/bench_runtime.py ...   # the whole pipeline on ONE core

- as fast as possible (`--fast`): real-time factor = wall time / clip time for the whole pipeline
  (decode, VAD, voice features, streaming ASR, face model, fusion + per-modality evidence, JSONL);
  median over `--runs`, and per stage the median over runs of each run's p50/p95. Also the CPU
  time of the process (all threads) per second of clip: on a shared machine the wall figure moves
  with the load, the CPU figure much less. That CPU time is also split per thread (audio
  perception = voice features + VAD + ASR, vision perception = face, the file sources' decoding,
  fusion = model calls, main), sampled from /proc every 0.1 s (the last 0.1 s of a thread that
  ends early can be missed).
- in real time (the clip paced like a camera + mic): event latency, from the moment the VAD has
  decided an utterance ended (after its `min_silence_s` pause) to the event being ready; p50/p95
  over the utterance events. In fast mode that figure also holds the wait for the video side,
  which is an artefact of racing through a file, so latency is measured paced.
Single process; the machine may be shared: compare figures from the same run only.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from edge_msa.features.media import demo_clip_path
from edge_msa.runtime.config import RuntimeConfig
from edge_msa.runtime.launch import build_pipeline, build_sensors, open_bundle
from edge_msa.runtime.sinks.jsonl import read_jsonl

CLOCK_TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")


class ThreadCPU(threading.Thread):
    """CPU seconds per Python thread name, read from /proc/self/task/<tid>/stat while a run lasts."""

    def __init__(self, every_s: float = 0.1) -> None:
        super().__init__(name="bench-cpu-sampler", daemon=True)
        self.every_s, self.done = every_s, threading.Event()
        self.seconds: dict[int, tuple[str, float]] = {}
        self.before: dict[int, float] = {}  # threads that exist when the run starts (main): their CPU so far

    def start(self) -> None:
        self.sample()
        self.before = {tid: s for tid, (_, s) in self.seconds.items()}
        super().start()

    def sample(self) -> None:
        names = {t.native_id: t.name for t in threading.enumerate()}
        for tid, name in names.items():
            try:
                fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # the thread ended between enumerate() and the read
                continue
            self.seconds[tid] = (name, (int(fields[11]) + int(fields[12])) * CLOCK_TICK_S)  # utime+stime

    def run(self) -> None:
        while not self.done.wait(self.every_s):
            self.sample()

    def by_name(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for tid, (name, s) in self.seconds.items():
            if name != self.name:
                out[name] = out.get(name, 0.0) + s - self.before.get(tid, 0.0)
        return out


def run_once(bundle, backend: str | None, fast: bool, out: Path, overrides: dict):
    config = RuntimeConfig().with_overrides(**{"sinks.console": "off", "sinks.jsonl": str(out),
                                               "backend": backend, **overrides})
    sensors = build_sensors(config, video=demo_clip_path(), fast=fast)
    runner, spec, scale = open_bundle(bundle, config.backend, config.backend_threads)
    pipeline = build_pipeline(config, sensors, runner, spec, scale, fast=fast)
    sampler = ThreadCPU()
    cpu0 = time.process_time()
    sampler.start()
    summary = pipeline.run()
    sampler.done.set()
    sampler.join()
    sampler.sample()
    return summary, read_jsonl(out), runner, time.process_time() - cpu0, sampler.by_name()


def parse_sets(items: list[str]) -> dict:
    """`face.still_diff=0` -> {"face.still_diff": 0.0}: numbers as numbers, the rest as text."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set needs key=value, got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def percentiles(values: list[float]) -> dict[str, float]:
    v = np.asarray(values, float)
    return {"n": int(len(v)), "p50_ms": float(np.percentile(v, 50)), "p95_ms": float(np.percentile(v, 95))}


def median_stages(runs: list[dict]) -> dict[str, dict[str, float]]:
    """Per stage: samples per run, and the median over runs of p50 and p95."""
    out = {}
    for stage in runs[0]:
        rows = [r[stage] for r in runs if stage in r]
        out[stage] = {"n": int(statistics.median(r["count"] for r in rows)),
                      "p50_ms": statistics.median(r["p50_ms"] for r in rows),
                      "p95_ms": statistics.median(r["p95_ms"] for r in rows)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", type=Path, default=None, help="bundle folder (default: the shipped one)")
    ap.add_argument("--backend", default=None, help="backend name (default: the bundle's first)")
    ap.add_argument("--runs", type=int, default=3, help="as-fast-as-possible runs (median RTF)")
    ap.add_argument("--realtime-runs", type=int, default=1, help="paced runs for event latency")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="runtime config overrides, e.g. face.still_diff=0")
    ap.add_argument("--json", type=Path, default=None, help="write the figures as JSON")
    args = ap.parse_args()
    overrides = parse_sets(args.set)
    affinity = sorted(os.sched_getaffinity(0))

    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        rtfs, cpus, stages, names, per_thread = [], [], [], None, []
        for i in range(args.runs):
            summary, _, runner, cpu_s, threads = run_once(args.bundle, args.backend, True,
                                                          tmp / f"fast{i}.jsonl", overrides)
            names = f"{runner.manifest.name} ({runner.name})"
            rtfs.append(summary.rtf)
            cpus.append(cpu_s / summary.media_s)
            stages.append(summary.stages)
            per_thread.append({k: v / summary.media_s for k, v in threads.items()})
            print(f"fast run {i + 1}: {summary.events} events, {summary.media_s:.1f} s of clip in "
                  f"{summary.wall_s:.1f} s, RTF {summary.rtf:.3f}, CPU {cpu_s:.1f} s")
        latency = []
        for i in range(args.realtime_runs):
            summary, events, _, _, _ = run_once(args.bundle, args.backend, False, tmp / f"paced{i}.jsonl",
                                                overrides)
            latency += [e.latency_ms["event_ms"] for e in events if e.kind == "utterance"]
            print(f"real-time run {i + 1}: {summary.events} events, wall {summary.wall_s:.1f} s")

    thread_names = sorted({k for r in per_thread for k in r})
    cpu_threads = {k: statistics.median(r.get(k, 0.0) for r in per_thread) for k in thread_names}
    result = {"bundle": names, "clip": demo_clip_path().name, "overrides": overrides, "cpus": affinity,
              "rtf_median": statistics.median(rtfs),
              "rtf_runs": rtfs, "cpu_s_per_stream_s_median": statistics.median(cpus),
              "cpu_s_per_stream_s_by_thread": cpu_threads,
              "load_average_1min": os.getloadavg()[0], "stages": median_stages(stages),
              "event_latency_realtime": percentiles(latency) if latency else None,
              "vad_min_silence_s": RuntimeConfig().vad.min_silence_s}
    print(f"\nbundle {names}; clip {result['clip']}")
    print(f"real-time factor (as fast as possible, median of {args.runs}): {result['rtf_median']:.3f}; "
          f"CPU s per stream s {result['cpu_s_per_stream_s_median']:.3f}; "
          f"load average now {result['load_average_1min']:.1f}; ran on CPU(s) {affinity}"
          + (f"; overrides {overrides}" if overrides else ""))
    print("CPU s per stream s by thread: " + ", ".join(
        f"{k} {v:.3f}" for k, v in sorted(cpu_threads.items(), key=lambda kv: -kv[1]) if v >= 0.0005))
    print(f"{'stage':<34}{'n':>6}{'p50 ms':>10}{'p95 ms':>10}")
    for stage, s in result["stages"].items():
        print(f"{stage:<34}{s['n']:>6}{s['p50_ms']:>10.2f}{s['p95_ms']:>10.2f}")
    if latency:
        lat = result["event_latency_realtime"]
        print(f"event latency, paced (VAD end decision -> event; the VAD first waits "
              f"{result['vad_min_silence_s']} s of silence): p50 {lat['p50_ms']:.1f} ms, "
              f"p95 {lat['p95_ms']:.1f} ms over {lat['n']} utterances")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
