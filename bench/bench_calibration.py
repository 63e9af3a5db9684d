"""Does a first run tell the truth? The shipped default, run the user's way (`edge-msa run --fast`),
before and after calibration, with each speech recogniser, in one process:

    python bench/bench_calibration.py --data ../shared/data --json calibration.json

Rows: the six CREMA-D sample clips each run alone (one actor, "Don't forget a jacket" in six
emotions), the demo clip (the same six in one file: one person, so the running baselines learn),
and the five LibriVox narration clips (calm read English: should read neutral). Columns: mean fused
score and the text, voice and face evidence (-3..3). Variants (pipeline config fields):
    graph + pocketsphinx       the bundle's own fused output and recogniser (with the summed graphs
                               shipped before `fusion: bounded`: the reference, before)
    graph + whisper            the bundle's own fused output: what an app that runs the graph itself
                               reads (the bounded graph is the calibrated rule with no history)
    calibrated + pocketsphinx  per-expert evidence, person baselines, bounded fusion; log-mel voice
    calibrated + whisper       the same with Whisper's transcript and confidence (the shipped default)
    ... Whisper voice expert   and the voice scored by the Whisper encoder expert (calibration.voice)
These clips are for reporting only: nothing is fitted, chosen or tuned on them.
Targets (issue 27): clips alone and the demo: neutral within +-0.75, happy >= +0.5, the four negative
emotions <= -0.5 and below neutral; narration: mean fused and voice within +-0.5.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import yaml
from bench_demo_clips import EMOTIONS, evidence_of

from edge_msa.data.datasets import DEFAULT_DATA
from edge_msa.features.media import demo_clip_path

VARIANTS = {
    "graph + pocketsphinx": {"calibration": {"fusion": "graph"}, "asr": {"engine": "pocketsphinx"}},
    "graph + whisper": {"calibration": {"fusion": "graph"}, "asr": {"engine": "whisper"}},
    "calibrated + pocketsphinx": {"asr": {"engine": "pocketsphinx"}},
    "calibrated + whisper": {"asr": {"engine": "whisper"}},
    "calibrated + whisper, Whisper voice expert": {"asr": {"engine": "whisper"},
                                                   "calibration": {"voice": "whisper"}},
}
NEGATIVE = ("SAD", "ANG", "FEA", "DIS")
DEMO_ORDER = ("NEU", "HAP", "SAD", "ANG", "FEA", "DIS")  # the demo clip's order (assets/demo/clips.json)


def events_of(source: str, path: Path, config: Path) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        jsonl = Path(tmp) / "events.jsonl"
        cmd = ["edge-msa", "run", source, str(path), "--fast", "--console", "off", "--jsonl", str(jsonl),
               "--config", str(config)]
        if subprocess.run(cmd, stdout=subprocess.DEVNULL).returncode != 0:
            raise SystemExit(2)
        events = [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]
    return [e for e in events if e["kind"] == "utterance"]


def row(events: list[dict]) -> dict:
    out = {"events": len(events), "fused": float(np.mean([e["score"] for e in events])) if events else None}
    for m in ("text", "audio", "vision"):
        ev = [evidence_of(e, m)["score"] for e in events if evidence_of(e, m).get("present")]
        out[m] = float(np.mean(ev)) if ev else None
    out["transcript"] = " | ".join(e.get("transcript") or "" for e in events)
    return out


def targets_met(scores: dict[str, float]) -> dict[str, bool]:
    neu = scores["NEU"]
    return {"neutral within +-0.75": abs(neu) <= 0.75, "happy >= +0.5": scores["HAP"] >= 0.5,
            **{f"{e} <= -0.5 and below neutral": scores[e] <= -0.5 and scores[e] < neu for e in NEGATIVE}}


def fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:+.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS),
                    help="run only these variants (default: all)")
    args = ap.parse_args()
    librivox = sorted((args.data / "speech" / "librivox").glob("*.wav"))
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, fields in ((n, VARIANTS[n]) for n in args.variants):
            config = Path(tmp) / f"{len(results)}.yaml"
            config.write_text(yaml.safe_dump(fields))
            crema = args.data / "crema-d-sample"
            clips = {e: row(events_of("--video", crema / f"1001_DFA_{e}_XX.flv", config)) for e in EMOTIONS}
            demo_events = events_of("--video", demo_clip_path(), config)
            demo = {e: row([ev]) for e, ev in zip(DEMO_ORDER, demo_events, strict=False)}
            narration = [row(events_of("--audio", wav, config)) for wav in librivox]
            narr = {k: float(np.mean([r[k] for r in narration if r[k] is not None]))
                    for k in ("fused", "audio")}
            results[name] = {"clips": clips, "demo": demo, "narration": narr,
                             "clips_targets": targets_met({e: clips[e]["fused"] or 0.0 for e in EMOTIONS}),
                             "demo_targets": targets_met({e: demo[e]["fused"] if e in demo else 0.0
                                                          for e in DEMO_ORDER})}
    for name, r in results.items():
        print(f"\n### {name}\n\n| clip | alone: fused | text | voice | face | in the demo: fused "
              "| transcript (alone) |")
        print("|---|---|---|---|---|---|---|")
        for e in EMOTIONS:
            c, d = r["clips"][e], r["demo"].get(e, {})
            print(f"| {e} | {fmt(c['fused'])} | {fmt(c['text'])} | {fmt(c['audio'])} | {fmt(c['vision'])} | "
                  f"{fmt(d.get('fused'))} | {c['transcript']} |")
        print(f"\nLibriVox narration (5 clips): mean fused {fmt(r['narration']['fused'])}, "
              f"voice {fmt(r['narration']['audio'])}")
        for where in ("clips", "demo"):
            met = r[f"{where}_targets"]
            print(f"targets, {where}: {sum(met.values())}/{len(met)} met; missed: "
                  f"{', '.join(k for k, ok in met.items() if not ok) or 'none'}")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
