"""The voice front-end of a bundle (frontend.onnx, frontend.pte) beside the Python extractor: size,
milliseconds per second of audio (whole clips and 32 ms streaming chunks) and parity on real speech.

    python bench/bench_frontend.py [--bundle default/executorch-int8] [--rounds 5] [--parity]

Latency: the five LibriVox clips (tests/data/librivox, 24.7 s), one thread; the variants run interleaved
in rounds in one process (medians), so load from elsewhere on the machine hits each alike. --parity
also runs `measure_parity` on every speech file there is (demo clip, LibriVox, all of EmoDB).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from edge_msa.export import frontend as F
from edge_msa.export.bundle import load_bundle
from edge_msa.features import audio as A
from edge_msa.features.media import read_audio
from edge_msa.profile.latency import interleaved_medians
from edge_msa.runtime.perception.vad import WINDOW
from edge_msa.runtime.tiers import resolve_bundle

CLIPS = Path(__file__).resolve().parents[1] / "tests" / "data" / "librivox"


def _stream(featurizer, waves: list[np.ndarray]) -> None:
    for w in waves:
        featurizer.reset()
        for i in range(0, len(w), WINDOW):
            featurizer.push(w[i : i + WINDOW])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default="default/executorch-int8")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--parity", action="store_true")
    args = parser.parse_args()

    bundle = load_bundle(resolve_bundle(args.bundle))
    files = [f for f in (F.ONNX, F.PTE) if f in bundle.manifest.files]
    sizes = ", ".join(f"{f} {bundle.manifest.files[f].bytes / 1e3:.0f} KB" for f in files)
    print(f"bundle {bundle.root}: {sizes}")
    runs = {"python": None, "onnxruntime": F.OnnxFrontend(bundle.root / F.ONNX)}
    if F.PTE in files:
        # the runtime's pool defaults to the core count; one thread like onnxruntime's session
        from executorch.extension.pybindings.portable_lib import _unsafe_reset_threadpool

        _unsafe_reset_threadpool(1)
        runs["executorch"] = F.PteFrontend(bundle.root / F.PTE)

    waves = [read_audio(p, A.SAMPLE_RATE) for p in sorted(CLIPS.glob("*.wav"))]
    seconds = sum(len(w) for w in waves) / A.SAMPLE_RATE
    featurizers = {name: A.AudioFeaturizer() if run is None else F.FrontendFeaturizer(run)
                   for name, run in runs.items()}
    offline = {name: (lambda f=f: [f.offline(w) for w in waves]) for name, f in featurizers.items()}
    stream = {name: (lambda f=f: _stream(f, waves)) for name, f in featurizers.items()}
    print(f"{len(waves)} LibriVox clips, {seconds:.1f} s of audio; ms per second of audio, medians of "
          f"{args.rounds} interleaved rounds, one thread")
    whole = interleaved_medians(offline, total=args.rounds, rounds=args.rounds, warmup=1)
    chunked = interleaved_medians(stream, total=args.rounds, rounds=args.rounds, warmup=1)
    print(f"{'':12} {'whole clip':>11} {'32 ms chunks':>13}")
    for name in runs:
        print(f"{name:12} {whole[name] / seconds:11.3f} {chunked[name] / seconds:13.3f}")

    if args.parity:
        speech = F.speech_files(limit_per_folder=10**6)
        for name, run in runs.items():
            if run is not None:
                p = F.measure_parity(run, speech)
                print(f"parity {name}: {p['files']} files, {p['frames']} frames: max abs diff log-mel + "
                      f"energy {p['max_abs_diff_logmel_energy']:.1e}, pitch {p['max_abs_diff_pitch']:.1e}, "
                      f"pitch frames differing {p['pitch_frames_differing']} (tolerance {p['tolerance']:g})")


if __name__ == "__main__":
    main()
