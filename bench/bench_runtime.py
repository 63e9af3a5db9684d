"""Whole-pipeline figures of `edge-msa run` on the bundled demo clip (17.5 s, six utterances).

    python bench/bench_runtime.py [--bundle DIR] [--backend NAME] [--runs 3] [--realtime-runs 1]
                                  [--json OUT]

- as fast as possible (`--fast`): real-time factor = wall time / clip time for the whole pipeline
  (decode, VAD, voice features, streaming ASR, face model, fusion + per-modality evidence, JSONL);
  median over `--runs`, and per stage the median over runs of each run's p50/p95. Also the CPU
  time of the process (all threads) per second of clip: on a shared machine the wall figure moves
  with the load, the CPU figure much less.
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
import time
from pathlib import Path

import numpy as np

from edge_msa.runtime.config import RuntimeConfig
from edge_msa.runtime.launch import build_pipeline, build_sensors, demo_clip_path, open_bundle
from edge_msa.runtime.sinks.jsonl import read_jsonl


def run_once(bundle, backend: str | None, fast: bool, out: Path):
    config = RuntimeConfig().with_overrides(**{"sinks.console": "off", "sinks.jsonl": str(out),
                                               "backend": backend})
    sensors = build_sensors(config, video=demo_clip_path(), fast=fast)
    runner, spec, scale = open_bundle(bundle, config.backend, config.backend_threads)
    pipeline = build_pipeline(config, sensors, runner, spec, scale, fast=fast)
    cpu0 = time.process_time()
    summary = pipeline.run()
    return summary, read_jsonl(out), runner, time.process_time() - cpu0


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
    ap.add_argument("--json", type=Path, default=None, help="write the figures as JSON")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        rtfs, cpus, stages, names = [], [], [], None
        for i in range(args.runs):
            summary, _, runner, cpu_s = run_once(args.bundle, args.backend, True, tmp / f"fast{i}.jsonl")
            names = f"{runner.manifest.name} ({runner.name})"
            rtfs.append(summary.rtf)
            cpus.append(cpu_s / summary.media_s)
            stages.append(summary.stages)
            print(f"fast run {i + 1}: {summary.events} events, {summary.media_s:.1f} s of clip in "
                  f"{summary.wall_s:.1f} s, RTF {summary.rtf:.3f}, CPU {cpu_s:.1f} s")
        latency = []
        for i in range(args.realtime_runs):
            summary, events, _, _ = run_once(args.bundle, args.backend, False, tmp / f"paced{i}.jsonl")
            latency += [e.latency_ms["event_ms"] for e in events if e.kind == "utterance"]
            print(f"real-time run {i + 1}: {summary.events} events, wall {summary.wall_s:.1f} s")

    result = {"bundle": names, "clip": demo_clip_path().name, "rtf_median": statistics.median(rtfs),
              "rtf_runs": rtfs, "cpu_s_per_stream_s_median": statistics.median(cpus),
              "load_average_1min": os.getloadavg()[0], "stages": median_stages(stages),
              "event_latency_realtime": percentiles(latency) if latency else None,
              "vad_min_silence_s": RuntimeConfig().vad.min_silence_s}
    print(f"\nbundle {names}; clip {result['clip']}")
    print(f"real-time factor (as fast as possible, median of {args.runs}): {result['rtf_median']:.3f}; "
          f"CPU s per stream s {result['cpu_s_per_stream_s_median']:.3f}; "
          f"load average now {result['load_average_1min']:.1f} on {os.cpu_count()} CPUs")
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
