"""How fast should a person's voice baseline learn? Simulated sessions of EmoDB validation speakers
(12, 14) through the shipped default's log-mel voice expert and the runtime's RunningBaseline.

    python bench/bench_voice_session.py --data ../shared/data --json voice_session.json

Each session is one speaker's utterances in a random order (seed 0, 400 sessions per mix, 12
utterances each, roughly a minute of speech); every utterance is scored against the baseline of the
utterances before it, then joins it (what `calibrated_fusion` does live). Two mixes of emotions:
    mostly at rest   half the utterances neutral, the rest drawn evenly from the other emotions
    montage          every emotion equally often (a demo reel of acted emotions: neutral 1 in 6)
Boredom is left out (the expert was trained without it). The voice is read as the runtime reads
it: a bounded graph's tanh is undone and its voice is already centred on English narration (prior
0); a summed graph's raw voice gets the runtime's centre (LOGMEL_VOICE_CENTRE) as the prior, so the
"no baseline" row is the raw expert there and the centred one on a bounded graph. The prior weight
is counted in utterances. Columns:
    neutral mean     mean evidence of neutral utterances (calibration: want 0)
    happy / negative mean evidence of happiness / of anger, disgust, fear, sadness
    AUC              happiness vs the four negative emotions, pooled over sessions
    sign hits        share of valenced utterances with evidence on the label's side of +-0.5
The reference rows, measured on the same utterances: no baseline at all (raw expert), and the
fixed prior only (weight infinite). Then the Whisper voice expert (`calibration.voice: whisper`)
with its own run-time SpeakerBaseline, and the two experts averaged, each read against its own
baseline (no option runs that live: measured to decide whether one should). The test speakers
(15, 16) are never read here.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from bench_voice_baseline import valence_metrics

from edge_msa.data.datasets import DEFAULT_DATA
from edge_msa.data.emodb import load_emodb
from edge_msa.features.spec import LIVE
from edge_msa.runtime.backends import load_backend
from edge_msa.runtime.calibrated_fusion import LOGMEL_VOICE_CENTRE, graph_is_bounded, unbent
from edge_msa.runtime.launch import ASSETS
from edge_msa.runtime.running_baseline import RunningBaseline
from edge_msa.runtime.voice_expert import WhisperVoiceExpert
from edge_msa.train.evaluate import predict
from edge_msa.train.whisper_voice import emodb_rows

NEGATIVE, POSITIVE, NEUTRAL = "WETA", "F", "N"  # EmoDB letters (data/README.md); boredom L left out
WEIGHTS = (0, 1, 3, 6, 10, 20)
SESSIONS, LENGTH = 400, 12


def session_draws(letters: np.ndarray, speakers: np.ndarray, mix: str, rng: np.random.Generator) -> list:
    """Index lists, one per session: one speaker, the mix's emotion shares."""
    out = []
    for _ in range(SESSIONS):
        spk = rng.choice(np.unique(speakers))
        pool = {e: np.flatnonzero((speakers == spk) & (letters == e)) for e in NEUTRAL + POSITIVE + NEGATIVE}
        emotions = list(pool)
        if mix == "mostly at rest":
            picks = [NEUTRAL if rng.random() < 0.5 else rng.choice(emotions[1:]) for _ in range(LENGTH)]
        else:
            picks = [rng.choice(emotions) for _ in range(LENGTH)]
        out.append([int(rng.choice(pool[e])) for e in picks])
    return out


def run_sessions(scores: np.ndarray, sessions: list, weight: float | None,
                 prior: float = LOGMEL_VOICE_CENTRE) -> np.ndarray:
    """[sessions, LENGTH] evidence: each score minus the baseline before it (None: no baseline)."""
    out = np.zeros((len(sessions), LENGTH))
    for s, idx in enumerate(sessions):
        if weight is None:
            out[s] = scores[idx]
            continue
        base = RunningBaseline(prior_weight=weight, keep=30, reset_after_s=120.0, prior=prior)
        for k, i in enumerate(idx):
            out[s, k] = scores[i] - base.offset()
            base.observe(np.array([float(k)]), np.array([scores[i]]))
    return out


def whisper_sessions(expert: WhisperVoiceExpert, x: np.ndarray, sessions: list) -> np.ndarray:
    """[sessions, LENGTH] Whisper evidence, each utterance against the speaker baseline before it."""
    out = np.zeros((len(sessions), LENGTH))
    for s, idx in enumerate(sessions):
        base = expert.new_baseline()
        for k, i in enumerate(idx):
            out[s, k] = expert.evidence(x[i], base)[0]
            base.update(x[i])
    return out


def summary(evidence: np.ndarray, letters: np.ndarray) -> dict[str, float]:
    ev, lt = evidence.ravel(), letters.ravel()
    pos, neg = np.isin(lt, list(POSITIVE)), np.isin(lt, list(NEGATIVE))
    valenced = pos | neg
    level = np.where(pos, 1.0, np.where(neg, -1.0, 0.0))
    hits = np.where(pos, ev >= 0.5, ev <= -0.5)[valenced]
    metrics = valence_metrics(ev[valenced], level[valenced])
    return {"neutral_mean": float(ev[lt == NEUTRAL].mean()), "happy_mean": float(ev[pos].mean()),
            "negative_mean": float(ev[neg].mean()), "auc": metrics["auc_pos_vs_neg"],
            "sign_hits": float(hits.mean())}


def narration_features() -> np.ndarray:
    """Pooled Whisper states of the five LibriVox narration clips (tests/data)."""
    from edge_msa.features.media import read_audio
    from edge_msa.features.whisper import SAMPLE_RATE, load_whisper
    from edge_msa.train.whisper_voice import wave_features

    clips = sorted((Path(__file__).resolve().parents[1] / "tests" / "data" / "librivox").glob("*.wav"))
    return wave_features(load_whisper(threads=1), [read_audio(f, SAMPLE_RATE) for f in clips])


def print_row(name: str, row: dict[str, float]) -> None:
    print(f"| {name} | {row['neutral_mean']:+.2f} | {row['happy_mean']:+.2f} | "
          f"{row['negative_mean']:+.2f} | {row['auc']:.3f} | {row['sign_hits']:.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    valid = load_emodb(args.data, LIVE)["valid"]
    backend = load_backend(ASSETS / "default" / "executorch-int8", "auto", threads=1)
    scores = np.asarray(predict(backend, valid), float)
    centre = LOGMEL_VOICE_CENTRE  # where a summed graph's voice rests on calm English
    if graph_is_bounded(backend.bundle):  # the graph centred the voice itself and bent it by tanh
        scores, centre = unbent(scores), 0.0
    whisper_x = emodb_rows(args.data, None, 3, 0)["valid"]
    if not np.array_equal(whisper_x.valence, valid.labels):  # the same files in the same order
        raise SystemExit("EmoDB rows of the two feature paths are not aligned")
    expert = WhisperVoiceExpert.load()
    whisper_raw = np.array([expert.evidence(x)[0] for x in whisper_x.x])
    narration_centre = float(np.mean([expert.evidence(x)[0] for x in narration_features()]))
    print(f"Whisper expert on LibriVox narration, no baseline: mean {narration_centre:+.2f} (scalar prior)")
    speakers = np.array([i[:2] for i in valid.ids])
    letters = np.array([i[5] for i in valid.ids])
    rng = np.random.default_rng(0)
    out: dict = {}
    for mix in ("mostly at rest", "montage"):
        sessions = session_draws(letters, speakers, mix, rng)
        drawn = np.array([[letters[i] for i in idx] for idx in sessions])
        print(f"\n{mix}: {SESSIONS} sessions x {LENGTH} utterances, speakers 12 and 14")
        print("| voice baseline | neutral mean | happy mean | negative mean | AUC | sign hits |")
        print("|---|---|---|---|---|---|")
        variants = {"none (raw expert, reference)": None, "prior only (reference)": float("inf")}
        variants |= {f"running, prior weight {w}": float(w) for w in WEIGHTS}
        out[mix] = {}
        for name, weight in variants.items():
            if weight == float("inf"):
                row = summary(np.array([scores[idx] for idx in sessions]) - centre, drawn)
            else:
                row = summary(run_sessions(scores, sessions, weight, prior=centre), drawn)
            out[mix][name] = row
            print_row(name, row)
        logmel = run_sessions(scores, sessions, 3.0, prior=centre)
        whisper = whisper_sessions(expert, whisper_x.x, sessions)
        both = (logmel + whisper) / 2
        # the Whisper expert read like the log-mel one: its score against the prior (no feature
        # standardisation), minus a running scalar baseline centred where English narration reads
        scalar = run_sessions(whisper_raw, sessions, 3.0, prior=narration_centre)
        for name, ev in {"Whisper expert, run-time baseline": whisper,
                         "mean of log-mel (weight 3) and Whisper, each its own baseline": both,
                         "Whisper expert, scalar running baseline (weight 3)": scalar,
                         "mean of log-mel and Whisper, both scalar running baselines": (logmel + scalar) / 2,
                         }.items():
            out[mix][name] = row = summary(ev, drawn)
            print_row(name, row)
    if args.json is not None:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
