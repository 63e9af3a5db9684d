"""The Whisper voice expert next to today's log-mel voice expert, on EmoDB speakers neither trained on.

    python bench/bench_voice_whisper.py --data ../shared/data --json voice_whisper.json

Rows: EmoDB's test speakers (15, 16; never used for a choice), clean and "shifted" (each file
through one random channel: noise / telephone band / speed / crop, seed 11, the same draw as
bench_voice_baseline.py). Metric: ROC AUC of positive (happiness) vs negative (anger, disgust, fear,
sadness) utterances, and Pearson r with the valence level (-1 / 0 / +1; boredom rows left out, as
both experts were trained without them).
- reference: the shipped default tier's log-mel voice expert (executorch-int8 bundle, voice only),
  and bench_voice_baseline.py's log-mel statistics + logistic regression, measured in this run;
- Whisper expert (edge_msa/assets/voice/whisper-tiny-en-valence.npz) three ways:
  "no per-speaker standardisation": every utterance against the expert's prior (baseline None);
  "per-speaker standardisation": each speaker's mean/std over all of their rows in the set (as
    the fit standardises its training speakers);
  "run-time SpeakerBaseline": each speaker one session in a random order (seed 0), each utterance
    scored against the baseline of the utterances before it (what a live run does).
Then: LibriVox narration (five calm English sentences; the expert's prior mean IS their mean, so the
no-baseline figure is calibrated on them; the leave-one-clip-out row is the honest one: the prior
mean from the other four clips), the six CREMA-D sample clips each scored alone (PRINTED FOR
INFORMATION ONLY: nothing was tuned on them), and the cost per 2.4 s utterance on one thread.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
from bench_voice_baseline import fit_baseline, narration, shifted, valence_metrics

from edge_msa.data.augment import augment
from edge_msa.data.datasets import DEFAULT_DATA
from edge_msa.data.emodb import load_emodb, split_files
from edge_msa.features.audio import AudioFeaturizer
from edge_msa.features.media import read_audio
from edge_msa.features.spec import LIVE
from edge_msa.features.whisper import SAMPLE_RATE, encode_short, load_whisper
from edge_msa.features.whisper_voice import pooled_voice_features
from edge_msa.runtime.backends import load_backend
from edge_msa.runtime.launch import ASSETS
from edge_msa.runtime.voice_expert import DEFAULT_WEIGHTS, WhisperVoiceExpert
from edge_msa.train.evaluate import predict
from edge_msa.train.whisper_voice import (
    LEVELS,
    Rows,
    causal_scores,
    emodb_rows,
    speaker_stats,
    standardise,
    wave_features,
)

SHIFT_SEED = 11  # bench_voice_baseline.SHIFT_SEED: the same channel per file
LIBRIVOX = Path(__file__).resolve().parents[1] / "tests" / "data" / "librivox"


def shifted_rows(model, files: list[Path], clean: Rows) -> Rows:
    """Whisper features of the files through bench_voice_baseline.shifted's channel draw."""
    rng = np.random.default_rng(SHIFT_SEED)
    return Rows(wave_features(model, [augment(read_audio(f, SAMPLE_RATE), rng) for f in files]),
                clean.valence, clean.speaker)


def whisper_scores(expert: WhisperVoiceExpert, rows: Rows) -> dict[str, np.ndarray]:
    with np.load(DEFAULT_WEIGHTS) as z:
        weights = {k: z[k] for k in z.files}
    return {"Whisper, no per-speaker standardisation": np.array([expert.evidence(x)[0] for x in rows.x]),
            "Whisper, per-speaker standardisation": expert.score(standardise(rows, speaker_stats(rows))),
            "Whisper, run-time SpeakerBaseline": causal_scores(rows, weights, expert.prior_utterances, 0)}


def median_ms(fn, runs: int = 15) -> float:
    fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="the corpora folder (emodb/, crema-d-sample/)")
    parser.add_argument("--json", type=Path, default=None, help="write the figures as JSON here")
    parser.add_argument("--split", choices=("test", "valid"), default="test",
                        help="EmoDB speakers: test (15, 16) or valid (12, 14: where a choice may look)")
    args = parser.parse_args()

    model, expert = load_whisper(threads=1), WhisperVoiceExpert.load()
    part = args.split
    files = split_files(args.data)[part]
    logmel = load_emodb(args.data, LIVE)
    logmel_sets = {part: logmel[part], f"{part} shifted": shifted(files)}
    baseline = fit_baseline(logmel["train"])
    default = load_backend(ASSETS / "default" / "executorch-int8", "auto", threads=1)
    clean = emodb_rows(args.data, None, 3, 0)[part]
    whisper_sets = {part: clean, f"{part} shifted": shifted_rows(model, files, clean)}
    keep = np.isin(clean.valence, LEVELS)  # boredom left out
    out = {"emodb": {}}
    print("| EmoDB speakers / voice model | n | ROC AUC pos vs neg | Pearson r with valence |")
    print("|---|---|---|---|")
    for name, data in logmel_sets.items():
        scores = {"log-mel stats + LR (reference)": baseline(data.audio, data.audio_mask),
                  "default log-mel expert, ET int8 (today)": predict(default, data)}
        scores |= whisper_scores(expert, whisper_sets[name])
        # the two experts averaged, no weight fitted: does the live path gain by reading both?
        for variant in ("no per-speaker standardisation", "run-time SpeakerBaseline"):
            scores[f"mean of log-mel (today) and Whisper, {variant}"] = (
                scores["default log-mel expert, ET int8 (today)"] + scores[f"Whisper, {variant}"]) / 2
        for model_name, score in scores.items():
            row = valence_metrics(score[keep], clean.valence[keep])
            out["emodb"][f"{name} / {model_name}"] = {"n": int(keep.sum()), **row}
            print(f"| {name} / {model_name} | {keep.sum()} | {row['auc_pos_vs_neg']:.3f} "
                  f"| {row['pearson_r']:.3f} |")

    lib_files = sorted(LIBRIVOX.glob("*.wav"))
    lib = wave_features(model, [read_audio(f, SAMPLE_RATE) for f in lib_files])
    session = expert.new_baseline()
    causal = []
    for x in lib:
        causal.append(expert.evidence(x, session)[0])
        session.update(x)
    held_out = []
    for i in range(len(lib)):
        expert_i = WhisperVoiceExpert.load()
        expert_i.prior_mean = np.delete(lib, i, axis=0).mean(0)
        held_out.append(expert_i.evidence(lib[i])[0])
    narr = {"log-mel default ET int8 (today)": predict(default, narration()),
            "Whisper, no baseline (prior mean = these clips)": np.array([expert.evidence(x)[0] for x in lib]),
            "Whisper, prior mean from the other 4 clips": np.array(held_out),
            "Whisper, run-time SpeakerBaseline (one session)": np.array(causal)}
    print("\n| LibriVox narration (5 clips) / model | mean score | max abs score |\n|---|---|---|")
    out["narration"] = {}
    for name, score in narr.items():
        out["narration"][name] = {"mean": float(score.mean()), "max_abs": float(np.abs(score).max())}
        print(f"| {name} | {score.mean():+.2f} | {np.abs(score).max():.2f} |")

    crema = sorted((args.data / "crema-d-sample").glob("*.flv"))
    print("\nCREMA-D sample clips, each alone, no baseline (for information only: never tuned on):")
    out["crema_d"] = {}
    for f in crema:
        wave = read_audio(f, SAMPLE_RATE)
        score = expert.evidence(pooled_voice_features(encode_short(model, wave), wave))[0]
        out["crema_d"][f.stem] = score
        print(f"  {f.stem}: {score:+.2f}")

    wave = read_audio(lib_files[0], SAMPLE_RATE)[: int(2.4 * SAMPLE_RATE)]
    whisper_ms = median_ms(lambda: expert.evidence(pooled_voice_features(encode_short(model, wave), wave)))
    logmel_ms = median_ms(lambda: AudioFeaturizer().offline(wave))
    out["cost_ms"] = {"whisper_encoder_pool_score": whisper_ms, "logmel_features_reference": logmel_ms}
    print(f"\ncost per 2.4 s utterance, one thread, median of 15 (shared machine: noisy): Whisper tiny.en "
          f"short encoder + pooling + score {whisper_ms:.1f} ms; reference, the log-mel voice features "
          f"(edge_msa.features.audio) {logmel_ms:.1f} ms")
    if args.json is not None:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
