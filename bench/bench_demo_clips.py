"""The six CREMA-D sample clips, each run alone the user's way: `edge-msa run --video CLIP --fast`.

    python bench/bench_demo_clips.py --bundle default --data ../shared/data --json clips.json
    python bench/bench_demo_clips.py --bundle nano

One actor says "Don't forget a jacket" as neutral, happy, sad, angry, fearful and disgusted. Per
clip: the mean fused score over its utterance events and the mean evidence of text, voice and face
(the same model with one modality present), on the -3..3 scale. What a user should see: happy
above neutral, and neutral above anger, disgust and fear. These clips are for reporting only:
nothing is fitted, chosen or tuned on them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from bench_voice_heldout import run_events

from edge_msa.data.datasets import DEFAULT_DATA

EMOTIONS = ("NEU", "HAP", "SAD", "ANG", "FEA", "DIS")
MODALITIES = ("text", "audio", "vision")
EVENT_KEYS = {"text": ("text",), "audio": ("voice", "audio"), "vision": ("face", "vision")}  # new, old


def evidence_of(event: dict, modality: str) -> dict:
    """The event's evidence of one modality, under the event vocabulary's new or old key."""
    return next((event["evidence"][k] for k in EVENT_KEYS[modality] if k in event["evidence"]), {})


def clip_row(events: list[dict]) -> dict:
    row = {"events": len(events), "score": float(np.mean([e["score"] for e in events])) if events else None}
    for m in MODALITIES:
        ev = [evidence_of(e, m)["score"] for e in events if evidence_of(e, m).get("present")]
        row[m] = float(np.mean(ev)) if ev else None
    row["transcript"] = " | ".join(e.get("transcript") or "" for e in events)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", default=None, help="bundle folder or shipped tier (default: the default)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="holds crema-d-sample/")
    parser.add_argument("--json", type=Path, default=None, help="write the rows as JSON here")
    args = parser.parse_args()
    rows = {}
    for emotion in EMOTIONS:
        clip = args.data / "crema-d-sample" / f"1001_DFA_{emotion}_XX.flv"
        rows[emotion] = clip_row(run_events(clip, args.bundle, "--video"))
    fmt = lambda v: "-" if v is None else f"{v:+.2f}"  # noqa: E731
    print("| clip | events | fused | text | voice | face | transcript |\n|---|---|---|---|---|---|---|")
    for emotion, r in rows.items():
        print(f"| {emotion} | {r['events']} | {fmt(r['score'])} | {fmt(r['text'])} | {fmt(r['audio'])} | "
              f"{fmt(r['vision'])} | {r['transcript']} |")
    s = {e: r["score"] if r["score"] is not None else 0.0 for e, r in rows.items()}
    order = s["HAP"] > s["NEU"] and all(s["NEU"] > s[e] for e in ("ANG", "DIS", "FEA"))
    print(f"HAP > NEU > ANG, DIS, FEA each: {'yes' if order else 'no'}")
    if args.json is not None:
        args.json.write_text(json.dumps({"bundle": args.bundle, "rows": rows, "order_ok": order}, indent=2))


if __name__ == "__main__":
    main()
