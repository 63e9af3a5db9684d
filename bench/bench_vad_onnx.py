"""The shipped silero VAD (edge_msa/assets/vad, onnxruntime) against silero-vad's own torch model.

    python bench/bench_vad_onnx.py [--repeats 5]      # needs the silero-vad package (and torch)

On the real speech files (../shared/data/speech/librivox): per 32 ms window the largest
difference of speech probability, and whether the utterances the segmenter cuts are identical;
then the time per window of both models in this process (medians of repeats).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from edge_msa.data.datasets import DEFAULT_DATA
from edge_msa.features.media import read_audio
from edge_msa.runtime.perception.vad import SAMPLE_RATE, WINDOW, SileroVAD, VoiceActivity

SPEECH = DEFAULT_DATA / "speech" / "librivox"


class TorchSilero:
    """silero-vad's TorchScript model behind SileroVAD's interface (it keeps its own context)."""

    def __init__(self) -> None:
        import torch
        from silero_vad import load_silero_vad  # imports torch and sets its threads to 1

        self._torch, self._model = torch, load_silero_vad()

    def reset(self) -> None:
        self._model.reset_states()

    def __call__(self, window: np.ndarray) -> float:
        return float(self._model(self._torch.from_numpy(window), SAMPLE_RATE).item())


def _probs_and_segments(model, wave: np.ndarray) -> tuple[np.ndarray, list[tuple[float, float]]]:
    model.reset()
    n = len(wave) // WINDOW
    probs = np.array([model(wave[i * WINDOW : (i + 1) * WINDOW]) for i in range(n)])
    vad = VoiceActivity(model=model)
    return probs, [(s.start_s, s.end_s) for s in vad.push(wave) + vad.flush()]


def _median_ms_per_window(model, waves: list[np.ndarray], repeats: int) -> float:
    windows = [w[i * WINDOW : (i + 1) * WINDOW] for w in waves for i in range(len(w) // WINDOW)]
    times = []
    for _ in range(repeats):
        model.reset()
        t0 = time.perf_counter()
        for x in windows:
            model(x)
        times.append(time.perf_counter() - t0)
    return 1000.0 * float(np.median(times)) / len(windows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    shipped, reference = SileroVAD(), TorchSilero()
    files = sorted(SPEECH.glob("*.wav"))
    waves = [read_audio(f) for f in files]
    same, worst = 0, 0.0
    for f, wave in zip(files, waves, strict=True):
        p_ship, s_ship = _probs_and_segments(shipped, wave)
        p_ref, s_ref = _probs_and_segments(reference, wave)
        diff = float(np.abs(p_ship - p_ref).max())
        worst, same = max(worst, diff), same + (s_ship == s_ref)
        print(f"{f.name}: {len(wave) / SAMPLE_RATE:.1f} s, max |dp| {diff:.2e}, segments "
              f"{'identical' if s_ship == s_ref else f'differ: {s_ship} vs torch {s_ref}'}")
    print(f"{len(files)} files: identical segments on {same}; largest probability difference {worst:.2e}")
    ship_ms = _median_ms_per_window(shipped, waves, args.repeats)
    ref_ms = _median_ms_per_window(reference, waves, args.repeats)
    print(f"per 32 ms window: shipped ONNX {ship_ms:.3f} ms, silero-vad torch {ref_ms:.3f} ms "
          f"(ratio {ship_ms / ref_ms:.2f})")


if __name__ == "__main__":
    main()
