"""Voice on a held-out recording: the default through `edge-msa run --audio FILE --fast` vs the baseline.

    python bench/bench_voice_heldout.py --audio talk.wav --labels talk.csv --json heldout.json
    python bench/bench_voice_heldout.py --demo          # the bundled CREMA-D clip (6 utterances)

The recording is one long file of many utterances separated by pauses (any format `edge-msa run`
reads). `--labels` is a CSV with a header and the columns `start_s,end_s,valence` (valence -1..1,
e.g. -1/0/+1 from an acted emotion; extra columns are ignored), or a clips.json like the demo's
(`segments` with `start_s`, `end_s` and `valence`: positive/neutral/negative).

Default: the exact user path, `edge-msa run --audio FILE --fast --jsonl ...` as a subprocess with
the shipped bundle (or `--bundle`); each labelled segment takes the utterance event that overlaps
it most (none: counted as missed, scored 0). Both the fused score (text from speech recognition +
voice) and the voice evidence alone are reported.
Baseline: `bench_voice_baseline.py`'s log-mel statistics + logistic regression trained on the EmoDB
training speakers, applied to each labelled segment's audio (decoded by the same `runtime.media`).
Metrics: ROC AUC of positive vs negative segments and Pearson r with valence. Few segments make
wide error bars: the script prints n.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from bench_voice_baseline import fit_baseline, valence_metrics

from edge_msa.data.datasets import DEFAULT_DATA
from edge_msa.data.emodb import load_emodb
from edge_msa.features.audio import SAMPLE_RATE, AudioFeaturizer
from edge_msa.features.media import demo_clip_path, read_audio
from edge_msa.features.spec import LIVE

VALENCE_WORDS = {"positive": 1.0, "neutral": 0.0, "negative": -1.0}


def read_labels(path: Path) -> list[dict]:
    """[{start_s, end_s, valence}] from a CSV or a clips.json."""
    if path.suffix == ".json":
        segments = json.loads(path.read_text())["segments"]
        return [{"start_s": float(s["start_s"]), "end_s": float(s["end_s"]),
                 "valence": VALENCE_WORDS[s["valence"]], "name": s.get("emotion", "")} for s in segments]
    with path.open(newline="") as f:
        return [{"start_s": float(r["start_s"]), "end_s": float(r["end_s"]), "valence": float(r["valence"]),
                 "name": r.get("name", "")} for r in csv.DictReader(f)]


def run_events(audio: Path, bundle: Path | str | None, source: str = "--audio") -> list[dict]:
    """Utterance events of `edge-msa run --audio FILE --fast` (or `--video`), as the CLI writes them."""
    with tempfile.TemporaryDirectory() as tmp:
        jsonl = Path(tmp) / "events.jsonl"
        cmd = ["edge-msa", "run", source, str(audio), "--fast",
               "--console", "off", "--jsonl", str(jsonl)] + (["--bundle", str(bundle)] if bundle else [])
        if subprocess.run(cmd, stdout=subprocess.DEVNULL).returncode != 0:  # edge-msa said why on stderr
            raise SystemExit(2)
        events = [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]
    return [e for e in events if e["kind"] == "utterance"]


def overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def best_event(segment: dict, events: list[dict]) -> dict | None:
    """The event overlapping the segment most (None when no event touches it)."""
    shared = [overlap(segment["start_s"], segment["end_s"], e["start"], e["end"]) for e in events]
    best = int(np.argmax(shared)) if shared else -1
    return events[best] if best >= 0 and shared[best] > 0 else None


def segment_frames(audio: Path, segments: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Padded live audio frames of every segment: [N, T, 42] and mask [N, T]."""
    wave, sr = read_audio(audio, SAMPLE_RATE), SAMPLE_RATE
    frames = [AudioFeaturizer().offline(wave[int(s["start_s"] * sr) : int(s["end_s"] * sr)])
              for s in segments]
    t = max(len(f) for f in frames)
    x = np.zeros((len(frames), t, frames[0].shape[1]), np.float32)
    mask = np.zeros((len(frames), t), np.float32)
    for i, f in enumerate(frames):
        x[i, : len(f)], mask[i, : len(f)] = f, 1.0
    return x, mask


def voice_score(event: dict | None) -> float:
    ev = (event or {}).get("evidence", {}).get("audio") or {}
    return float(ev["score"]) if ev.get("present") and ev.get("score") is not None else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--audio", type=Path, help="the long recording (any format edge-msa run reads)")
    parser.add_argument("--labels", type=Path, help="CSV start_s,end_s,valence (or a clips.json)")
    parser.add_argument("--demo", action="store_true", help="use the bundled CREMA-D clip and its clips.json")
    parser.add_argument("--bundle", type=Path, default=None, help="bundle folder (default: the shipped one)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="corpora folder (EmoDB)")
    parser.add_argument("--json", type=Path, default=None, help="write the table as JSON here")
    args = parser.parse_args()
    if args.demo:
        args.audio, args.labels = demo_clip_path(), demo_clip_path().with_name("clips.json")
    if args.audio is None or args.labels is None:
        parser.error("give --audio and --labels, or --demo")
    for p in (args.audio, args.labels):
        if not p.is_file():
            parser.error(f"{p} is not a file")

    try:
        segments = read_labels(args.labels)
    except (KeyError, ValueError) as e:  # JSONDecodeError is a ValueError
        parser.error(f"{args.labels}: not a labels file ({type(e).__name__}: {e}); see --help")
    if not segments:
        parser.error(f"{args.labels} has no labelled segments")
    valence = np.array([s["valence"] for s in segments])
    run = run_events(args.audio, args.bundle)
    events = [best_event(s, run) for s in segments]
    baseline = fit_baseline(load_emodb(args.data, LIVE)["train"])
    scores = {
        "log-mel stats + LR (EmoDB train)": baseline(*segment_frames(args.audio, segments)),
        "default, fused event score": np.array([e["score"] if e else 0.0 for e in events]),
        "default, voice evidence": np.array([voice_score(e) for e in events]),
    }
    missed = sum(e is None for e in events)
    print(f"{args.audio.name}: {len(segments)} labelled segments, {missed} without an event "
          f"({sum(valence > 0)} positive, {sum(valence < 0)} negative)")
    print("| model | ROC AUC pos vs neg | Pearson r with valence |")
    print("|---|---|---|")
    rows = {}
    for name, score in scores.items():
        rows[name] = valence_metrics(score, valence)
        print(f"| {name} | {rows[name]['auc_pos_vs_neg']:.3f} | {rows[name]['pearson_r']:.3f} |")
    print("\n| segment | valence | baseline | fused | voice | transcript |")
    print("|---|---|---|---|---|---|")
    for i, s in enumerate(segments):
        text = (events[i] or {}).get("transcript", "(no event)")
        print(f"| {s['name'] or i} {s['start_s']:.1f}-{s['end_s']:.1f} s | {s['valence']:+.0f} | "
              + " | ".join(f"{scores[k][i]:+.2f}" for k in scores) + f" | {text} |")
    if args.json is not None:
        summary = {"audio": str(args.audio), "labels": str(args.labels), "n": len(segments), "missed": missed,
                   "rows": rows}
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
