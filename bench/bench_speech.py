"""Speech perception figures on the five LibriVox clips (tests/data/librivox): medians of repeats.

    python bench/bench_speech.py [--repeats 5]       # featurizer, VAD, ASR speed + WER
    python bench/bench_speech.py --stats [--data ../shared/data]
        # raw log-mel / log-energy statistics over EmoDB's training speakers + LibriVox, to set
        # the fixed normalisation constants in edge_msa/features/audio.py

Single process, whatever else runs on the machine: compare figures from the same run.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from edge_msa.data.datasets import DEFAULT_DATA
from edge_msa.data.emodb import FILE_NAME, SPLITS, find_wav_folder
from edge_msa.features import audio as A
from edge_msa.features.media import read_audio
from edge_msa.profile.latency import median_ms
from edge_msa.runtime.perception.asr import (
    PocketsphinxASR,
    read_sphinx_transcription,
    transcribe,
    word_error_rate,
)
from edge_msa.runtime.perception.vad import WINDOW, VoiceActivity

CLIPS = Path(__file__).resolve().parents[1] / "tests" / "data" / "librivox"


def bench(repeats: int) -> None:
    refs = read_sphinx_transcription(CLIPS / "transcription")
    waves = {name: read_audio(CLIPS / f"{name}.wav") for name in refs}
    total_s = sum(len(w) for w in waves.values()) / A.SAMPLE_RATE
    print(f"clips: {len(waves)}, {total_s:.1f} s of audio")

    feat = A.AudioFeaturizer()
    offline_ms = median_ms(lambda: [feat.offline(w) for w in waves.values()], repeats)
    print(f"featurizer offline: {offline_ms / total_s:.2f} ms per audio second")

    def stream_features() -> None:
        for w in waves.values():
            feat.reset()
            for i in range(0, len(w), WINDOW):
                feat.push(w[i : i + WINDOW])

    push_ms = median_ms(stream_features, repeats)
    n_chunks = sum(-(-len(w) // WINDOW) for w in waves.values())
    print(f"featurizer streaming: {push_ms / n_chunks:.3f} ms per 32 ms chunk "
          f"({push_ms / total_s:.2f} ms per audio second)")

    vad = VoiceActivity()

    def run_vad() -> None:
        for w in waves.values():
            vad.reset()
            for i in range(0, len(w), WINDOW):
                vad.push(w[i : i + WINDOW])

    vad_ms = median_ms(run_vad, repeats)
    print(f"silero VAD (onnxruntime, 1 thread): {vad_ms / n_chunks:.3f} ms per 32 ms chunk")

    t0 = time.perf_counter()
    engine = PocketsphinxASR()
    print(f"pocketsphinx decoder start: {time.perf_counter() - t0:.2f} s")
    rtfs, errors, words = [], 0.0, 0
    for name, w in waves.items():
        times, hyp = [], ""
        for _ in range(max(1, repeats // 2)):  # decoding is the slow part: fewer repeats
            t0 = time.perf_counter()
            hyp = transcribe(w, engine=engine)
            times.append(time.perf_counter() - t0)
        wer = word_error_rate(refs[name], hyp)
        n_words = len(refs[name].split())
        errors, words = errors + wer * n_words, words + n_words
        rtfs.append(np.median(times) / (len(w) / A.SAMPLE_RATE))
        print(f"  {name}: WER {wer:.2f}  RTF {rtfs[-1]:.3f}  hyp: {hyp!r}")
    print(f"pocketsphinx: median RTF {np.median(rtfs):.3f}, WER {errors / words:.3f} "
          f"({round(errors)} errors / {words} reference words)")


def stats(data: str) -> None:
    """Raw (un-normalised) feature statistics, to choose MEL_MEAN/STD and ENERGY_MEAN/STD."""
    folder = find_wav_folder(data)
    files = [p for p in sorted(folder.glob("*.wav"))
             if FILE_NAME.match(p.name) and FILE_NAME.match(p.name)[1] in SPLITS["train"]]
    files += sorted(CLIPS.glob("*.wav"))
    feat = A.AudioFeaturizer()
    frames = np.concatenate([feat.offline(read_audio(f)) for f in files])
    mel = frames[:, : A.N_MELS] * A.MEL_STD + A.MEL_MEAN
    energy = frames[:, A.N_MELS + 1] * A.ENERGY_STD + A.ENERGY_MEAN
    voiced = frames[:, A.N_MELS] > 0
    print(f"{len(files)} files, {len(frames)} frames, voiced {voiced.mean():.2f}")
    print(f"log-mel: mean {mel.mean():.2f} std {mel.std():.2f}")
    print(f"log-energy: mean {energy.mean():.2f} std {energy.std():.2f}")
    print(f"pitch ln(F0/50) when voiced: mean {frames[voiced, A.N_MELS].mean():.2f} "
          f"std {frames[voiced, A.N_MELS].std():.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats (median reported)")
    parser.add_argument("--stats", action="store_true", help="print raw feature statistics instead")
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="data folder holding emodb/wav")
    args = parser.parse_args()
    stats(args.data) if args.stats else bench(args.repeats)


if __name__ == "__main__":
    main()
