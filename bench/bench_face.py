"""Face features on the six CREMA-D sample clips: detection rate, expression means, speed.

    python bench/bench_face.py [--data ../shared/data] [--threads 1 2] [--json OUT]

For each clip: frames with a face, mean mouthSmile (left/right) and browDown (left/right), the
median ms per frame of `FaceFeaturizer.process` (tracking on, as live), then the median ms of
each stage on one frame. Single process, whatever else runs on the machine: compare figures from
the same run.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from edge_msa.data.datasets import DEFAULT_DATA
from edge_msa.features.face import FEATURE_NAMES, FaceFeaturizer
from edge_msa.features.media import iter_video_frames
from edge_msa.profile.latency import median_ms
from edge_msa.runtime.demo_clip import ORDER, SOURCE

SMILE = [FEATURE_NAMES.index(n) for n in ("mouthSmileLeft", "mouthSmileRight")]
BROW = [FEATURE_NAMES.index(n) for n in ("browDownLeft", "browDownRight")]


def per_clip(clips: dict[str, list], threads: int) -> dict[str, dict]:
    results = {}
    for code, frames in clips.items():
        face = FaceFeaturizer(num_threads=threads)
        feats, times = [], []
        for t, bgr in frames:
            t0 = time.perf_counter()
            out = face.process(bgr, t)
            times.append(time.perf_counter() - t0)
            if out is not None:
                feats.append(out)
        f = np.stack(feats)
        results[code] = {"frames": len(frames), "with_face": len(feats),
                         "detector_calls": face.detector_calls,
                         "smile": float(f[:, SMILE].mean()), "brow_down": float(f[:, BROW].mean()),
                         "ms_per_frame": 1000.0 * float(np.median(times))}
    return results


def per_stage(bgr: np.ndarray, threads: int) -> dict[str, float]:
    face = FaceFeaturizer(num_threads=threads)
    found = face.detector(bgr)
    landmarks, _ = face.mesh(bgr, found.roi())
    return {"detector": median_ms(lambda: face.detector(bgr), 50),
            "mesh": median_ms(lambda: face.mesh(bgr, found.roi()), 50),
            "blendshapes": median_ms(lambda: face.blendshapes(landmarks), 50),
            "head_pose": median_ms(lambda: face.pose(landmarks), 50)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="shared data folder")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="LiteRT threads to try")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    sample = args.data / "crema-d-sample"
    clips = {code: list(iter_video_frames(sample / SOURCE.format(code))) for code in ORDER}
    report = {}
    for threads in args.threads:
        clip_res = per_clip(clips, threads)
        stages = per_stage(clips["HAP"][len(clips["HAP"]) // 2][1], threads)
        report[f"threads={threads}"] = {"clips": clip_res, "stages_ms": stages}
        print(f"== LiteRT threads={threads}")
        print(f"{'clip':5} {'frames':>6} {'face':>5} {'det':>4} {'smile':>6} {'browDn':>6} {'ms/frame':>8}")
        for code, r in clip_res.items():
            print(f"{code:5} {r['frames']:6d} {r['with_face']:5d} {r['detector_calls']:4d} "
                  f"{r['smile']:6.2f} {r['brow_down']:6.2f} {r['ms_per_frame']:8.2f}")
        every = [r["ms_per_frame"] for r in clip_res.values()]
        print(f"median over clips: {np.median(every):.2f} ms/frame; stages (ms): "
              + ", ".join(f"{k} {v:.2f}" for k, v in stages.items()))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
