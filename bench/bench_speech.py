"""Speech perception figures on the five LibriVox clips (tests/data/librivox): medians of repeats.

    python bench/bench_speech.py [--repeats 5]       # featurizer, VAD, ASR speed + WER
    python bench/bench_speech.py --asr [--repeats 3] [--crema ../shared/data/crema-d-sample]
        # pocketsphinx vs Whisper tiny.en (30 s padded and short input; 1 and 2 threads): WER on
        # LibriVox and the six CREMA-D sample sentences, ms per clip, real-time factor, confidence
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
from edge_msa.runtime.config import RuntimeConfig
from edge_msa.runtime.perception.asr import (
    PocketsphinxASR,
    read_sphinx_transcription,
    transcribe,
    word_error_rate,
)
from edge_msa.runtime.perception.vad import WINDOW, VoiceActivity

CLIPS = Path(__file__).resolve().parents[1] / "tests" / "data" / "librivox"
CREMA_SENTENCE = "don't forget a jacket"  # what every CREMA-D "DFA" clip says


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


def _rows(crema: str) -> dict[str, tuple[dict[str, np.ndarray], dict[str, str]]]:
    """{set name: ({clip: 16 kHz wave}, {clip: reference words})}, read with the project's media reader."""
    refs = read_sphinx_transcription(CLIPS / "transcription")
    sets = {"LibriVox": ({k: read_audio(CLIPS / f"{k}.wav") for k in refs}, refs)}
    flv = sorted(Path(crema).glob("*_DFA_*.flv"))
    if flv:
        sets["CREMA-D DFA"] = ({p.stem: read_audio(p) for p in flv}, {p.stem: CREMA_SENTENCE for p in flv})
    return sets


def _whisper_variants(threads: int) -> dict[str, object]:
    """{variant: wave -> (text, confidence or nan)} for Whisper tiny.en at `threads`."""
    from edge_msa.features.whisper import encode_short, load_whisper, whisper_model_dir
    from edge_msa.runtime.perception.whisper_asr import WhisperASR

    model = load_whisper(None, threads)
    engine = WhisperASR(None, threads)

    def padded(wave):  # faster-whisper's own path: every call padded to 30 s, greedy, no timestamps
        segments, _ = model.transcribe(wave, language="en", beam_size=1, temperature=0.0, vad_filter=False,
                                       condition_on_previous_text=False, without_timestamps=True)
        return " ".join(s.text for s in segments), float("nan")

    def short(wave):
        engine.start()
        engine.push(wave)
        heard = engine.finish_detailed()
        return heard.text, heard.confidence

    def states(wave):  # what the voice expert costs when the transcript is not Whisper's
        encode_short(model, wave)
        return None, float("nan")

    whisper_model_dir()  # a missing extra is one clear error before any timing
    return {f"Whisper tiny.en padded 30 s, {threads}t": padded, f"Whisper tiny.en short, {threads}t": short,
            f"(encoder states only, short, {threads}t)": states}


def asr_table(repeats: int, crema: str) -> None:
    """WER and cost of every engine on the same clips; variants interleaved per clip."""
    sets = _rows(crema)
    pocket = PocketsphinxASR(**RuntimeConfig().asr.options)
    variants = {"pocketsphinx (runtime options), 1t": lambda w: (transcribe(w, engine=pocket), float("nan"))}
    for threads in (1, 2):
        variants.update(_whisper_variants(threads))
    print(f"{repeats} timed repeats per clip after one warm-up; median per clip, then median over clips")
    print("| engine | set | WER | errors / words | ms per clip | real-time factor | mean confidence |")
    print("|---|---|---|---|---|---|---|")
    for set_name, (waves, refs) in sets.items():
        results = {v: {"ms": [], "rtf": [], "err": 0.0, "conf": []} for v in variants}
        words = sum(len(r.split()) for r in refs.values())
        for clip, wave in waves.items():
            seconds = len(wave) / A.SAMPLE_RATE
            for name, fn in variants.items():
                text, conf = fn(wave)  # warm-up; also the transcript scored
                times = []
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    fn(wave)
                    times.append((time.perf_counter() - t0) * 1e3)
                r = results[name]
                r["ms"].append(np.median(times))
                r["rtf"].append(np.median(times) / 1e3 / seconds)
                r["conf"].append(conf)
                if text is not None:
                    r["err"] += word_error_rate(refs[clip], text) * len(refs[clip].split())
        for name, r in results.items():
            scored = not name.startswith("(")
            wer = f"{r['err'] / words:.3f}" if scored else "-"
            errs = f"{round(r['err'])} / {words}" if scored else "-"
            conf = f"{np.mean(r['conf']):.2f}" if not np.isnan(r["conf"]).any() else "-"
            print(f"| {name} | {set_name} ({len(waves)} clips) | {wer} | {errs} | {np.median(r['ms']):.0f} | "
                  f"{np.median(r['rtf']):.3f} | {conf} |", flush=True)


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
    parser.add_argument("--asr", action="store_true", help="pocketsphinx vs Whisper: WER and cost per clip")
    parser.add_argument("--crema", default=str(DEFAULT_DATA / "crema-d-sample"),
                        help="folder of CREMA-D *_DFA_*.flv clips (skipped when absent)")
    args = parser.parse_args()
    if args.asr:
        asr_table(args.repeats, args.crema)
    else:
        stats(args.data) if args.stats else bench(args.repeats)


if __name__ == "__main__":
    main()
