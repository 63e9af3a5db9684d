"""Fit the Whisper voice expert (`edge_msa.runtime.voice_expert`) on EmoDB, in closed form.

    python -m edge_msa.train.whisper_voice --recipe export/default/voice_whisper.yaml \
        --out edge_msa/assets/voice/whisper-tiny-en-valence.npz --force

- features: `pooled_voice_features` of Whisper tiny.en's short encoder states of every EmoDB file
  (16 kHz, the runtime's decoder) and of `augment_copies` augmented copies of each training-speaker
  file (`edge_msa.data.augment`: noise, telephone band, speed, crop; as the log-mel voice expert);
- split by speaker exactly as `edge_msa.data.emodb` (train 03 10 11 08 09 13, valid 12 14, test 15 16);
- labels: EmoDB's valence levels -1 / 0 / +1; boredom (-0.5) left out, as the log-mel expert does
  (`evidence_fusion.VOICE_LEVELS`);
- per-speaker standardisation: every row minus its speaker's mean, over its speaker's std (both over
  that speaker's original files, boredom included: the person's voice, whatever they felt), so the
  model reads how an utterance differs from the speaker's usual voice; at run time `SpeakerBaseline`
  gives the same two statistics for the person in front of the microphone;
- class-balanced multinomial logistic regression (EmoDB is 57 % negative), C from `cs` by ROC AUC
  (happiness vs negative) on the validation speakers only;
- score = scale x (expected valence - centre); centre = the expected valence at z = 0 (see
  `centre_of`), so that a person's usual voice reads 0 on the MOSI scale. (EmoDB sessions are 57 %
  negative, so z = 0, an EmoDB speaker's average, reads -0.3..-0.7 before centring; a live session
  is mostly calm speech, whose average is what the run-time baseline converges to.)
- the run-time prior (`SpeakerBaseline` before it has heard the person): mean = the pooled features
  of neutral English read speech (`neutral_reference`, the five LibriVox clips: public domain),
  std = the training speakers' average std (with the training speakers' average mean as the prior,
  those clips read -0.54 on average with no baseline: absolute features do not transfer);
- prior strength (in utterances) chosen from `prior_utterances` by validation AUC, scored the run-time
  way (`causal_scores`);
- error: RMSE of those run-time scores on the validation speakers (labels x scale), for fusion.
The test speakers are never read here (bench/bench_voice_whisper.py scores them).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import Field, PositiveFloat

from edge_msa.cache import cache_dir
from edge_msa.data import augment as augment_module
from edge_msa.data.emodb import FILE_NAME, VALENCE, split_files
from edge_msa.errors import UserError
from edge_msa.features import whisper as whisper_module
from edge_msa.features import whisper_voice
from edge_msa.features.media import read_audio
from edge_msa.features.whisper import SAMPLE_RATE, encode_short, load_whisper
from edge_msa.features.whisper_voice import SpeakerBaseline, expected_valence, pooled_voice_features
from edge_msa.models.families.evidence_fusion import VOICE_LEVELS
from edge_msa.outputs import check_outputs
from edge_msa.user_files import StrictModel, read_yaml, validated

LEVELS = np.array(VOICE_LEVELS, np.float64)
STD_FLOOR = 1e-3  # a constant state dimension must not divide by ~0


class VoiceWhisperRecipe(StrictModel):
    name: str = "voice-whisper"
    data: str | None = None  # the corpora folder holding emodb/ (None: ../shared/data; --data overrides)
    model_dir: str | None = None  # a CTranslate2 Whisper folder (None: the packaged tiny.en)
    seed: int = 0
    cs: list[PositiveFloat] = Field(default_factory=lambda: [0.003, 0.01, 0.03], min_length=1)
    augment_copies: int = Field(3, ge=0)
    scale: float = Field(2.0, gt=0)  # valence -1..1 -> MOSI -2..2, as the log-mel expert's voice_scale
    # SpeakerBaseline's prior strength in utterances: chosen by validation AUC, scored the run-time way
    prior_utterances: list[PositiveFloat] = Field(default_factory=lambda: [2.0, 5.0, 10.0, 20.0],
                                                  min_length=1)
    neutral_reference: str = "speech/librivox"  # neutral English read speech (folder of wavs, under data)


def load_recipe(path: Path) -> VoiceWhisperRecipe:
    if not path.is_file():
        raise UserError(f"recipe not found: {path}")
    return validated(VoiceWhisperRecipe, read_yaml(path), str(path), "recipe")


@dataclass
class Rows:
    """Pooled features of EmoDB files: x [N, 2d], valence [N], speaker [N] (two digits)."""

    x: np.ndarray
    valence: np.ndarray
    speaker: np.ndarray

    def take(self, keep: np.ndarray) -> Rows:
        return Rows(self.x[keep], self.valence[keep], self.speaker[keep])


def wave_features(model, waves: list[np.ndarray]) -> np.ndarray:
    """[N, 2d] pooled voice features of 16 kHz waves."""
    return np.stack([pooled_voice_features(encode_short(model, w), w) for w in waves])


def emodb_rows(data: Path, model_dir: str | None, copies: int, seed: int) -> dict[str, Rows]:
    """{"train", "valid", "test", "augmented"} rows (augmented: `copies` per training file, drawn
    as `load_emodb_augmented` draws them). Cached in `cache_dir()`, keyed by the wavs, the model
    file and the code that makes the features."""
    files = split_files(data)
    every = [f for split in ("train", "valid", "test") for f in files[split]]
    key = hashlib.sha256(f"{copies}:{seed}:{whisper_module.model_digest(model_dir)}".encode())
    for source in (whisper_module.__file__, whisper_voice.__file__, augment_module.__file__, *every):
        key.update(Path(source).name.encode() + Path(source).read_bytes())
    cache = cache_dir() / f"emodb-whisper-voice-{key.hexdigest()[:24]}.npz"
    if not cache.is_file():
        model = load_whisper(Path(model_dir) if model_dir else None)
        waves = {f.name: read_audio(f, SAMPLE_RATE) for f in every}
        rng = np.random.default_rng(seed)
        augmented = [augment_module.augment(waves[f.name], rng)
                     for f in files["train"] for _ in range(copies)]
        x = wave_features(model, [waves[f.name] for f in every] + augmented)
        tmp = cache.with_suffix(".tmp.npz")  # write then rename: a crash never leaves a half file
        np.savez(tmp, x=x)
        tmp.replace(cache)
    with np.load(cache, allow_pickle=False) as z:
        x = z["x"]
    out, start = {}, 0
    for split in ("train", "valid", "test"):
        out[split] = _rows(x[start:start + len(files[split])], files[split])
        start += len(files[split])
    out["augmented"] = _rows(x[start:], [f for f in files["train"] for _ in range(copies)])
    return out


def _rows(x: np.ndarray, files: list[Path]) -> Rows:
    parts = [FILE_NAME.match(f.name) for f in files]
    valence = np.array([VALENCE[p[3]] for p in parts])
    return Rows(x.astype(np.float64), valence, np.array([p[1] for p in parts]))


def speaker_stats(rows: Rows) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each speaker's (mean, std) over their rows."""
    return {s: (rows.x[rows.speaker == s].mean(0), np.maximum(rows.x[rows.speaker == s].std(0), STD_FLOOR))
            for s in np.unique(rows.speaker)}


def standardise(rows: Rows, stats: dict[str, tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Each row standardised by its speaker's (mean, std)."""
    z = np.empty_like(rows.x)
    for s, (mean, std) in stats.items():
        pick = rows.speaker == s
        z[pick] = (rows.x[pick] - mean) / std
    return z


def centre_of(coef: np.ndarray, intercept: np.ndarray) -> float:
    """The expected valence of a speaker's usual voice (z = 0), subtracted so that it reads 0."""
    return float(expected_valence(np.zeros(coef.shape[1]), coef, intercept, LEVELS))


def auc_pos_vs_neg(score: np.ndarray, valence: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    polar = valence != 0
    return float(roc_auc_score(valence[polar] > 0, score[polar]))


def causal_scores(rows: Rows, weights: dict[str, np.ndarray], prior_utterances: float,
                  seed: int) -> np.ndarray:
    """Each row scored the run-time way: every speaker is one session in a random order (seeded),
    each utterance scored against the `SpeakerBaseline` of the utterances before it, then added."""
    rng, scores = np.random.default_rng(seed), np.zeros(len(rows.valence))
    for speaker in np.unique(rows.speaker):
        baseline = SpeakerBaseline(weights["prior_mean"], weights["prior_std"], prior_utterances)
        for i in rng.permutation(np.flatnonzero(rows.speaker == speaker)):
            z = (rows.x[i] - baseline.mean) / baseline.std
            scores[i] = expected_valence(z, weights["coef"], weights["intercept"], LEVELS)
            baseline.update(rows.x[i])
    return weights["scale"] * (scores - weights["centre"])


def neutral_reference_files(data: Path, recipe: VoiceWhisperRecipe) -> list[Path]:
    """The neutral English read speech (*.wav) that centres a new person; refused when there is none."""
    folder = Path(recipe.neutral_reference)
    folder = folder if folder.is_absolute() else data / folder
    waves = sorted(folder.glob("*.wav")) if folder.is_dir() else []
    if not waves:
        raise UserError(f"no neutral reference speech (*.wav) in {folder}")
    return waves


def neutral_reference(data: Path, recipe: VoiceWhisperRecipe) -> np.ndarray:
    """[n, 2d] pooled features of the neutral English read speech that centres a new person."""
    waves = neutral_reference_files(data, recipe)
    model = load_whisper(Path(recipe.model_dir) if recipe.model_dir else None)
    return wave_features(model, [read_audio(f, SAMPLE_RATE) for f in waves])


def _best(scores: dict[float, float]) -> float:
    """The choice with the best validation figure at 3 decimals; ties go to the first listed."""
    top = max(round(v, 3) for v in scores.values())
    return next(k for k, v in scores.items() if round(v, 3) == top)


def fit(recipe: VoiceWhisperRecipe, data: Path) -> tuple[dict[str, np.ndarray], dict]:
    """(the weights file's arrays, a report) for the recipe (see the module docstring)."""
    from sklearn.linear_model import LogisticRegression

    rows = emodb_rows(data, recipe.model_dir, recipe.augment_copies, recipe.seed)
    train_stats, valid_stats = speaker_stats(rows["train"]), speaker_stats(rows["valid"])
    train = Rows(*(np.concatenate([a, b]) for a, b in zip(
        (rows["train"].x, rows["train"].valence, rows["train"].speaker),
        (rows["augmented"].x, rows["augmented"].valence, rows["augmented"].speaker), strict=True)))
    train = train.take(np.isin(train.valence, LEVELS))  # boredom (-0.5) left out
    valid = rows["valid"].take(np.isin(rows["valid"].valence, LEVELS))
    z, zv = standardise(train, train_stats), standardise(valid, valid_stats)
    classes = np.searchsorted(LEVELS, train.valence)
    fits, aucs = {}, {}
    for c in recipe.cs:  # smallest C first: a tie goes to the stronger regularisation
        lr = LogisticRegression(C=c, max_iter=5000, class_weight="balanced", random_state=recipe.seed)
        fits[c] = lr.fit(z, classes)
        aucs[c] = auc_pos_vs_neg(expected_valence(zv, lr.coef_, lr.intercept_, LEVELS), valid.valence)
    best = _best(aucs)
    coef, intercept = fits[best].coef_, fits[best].intercept_
    reference = neutral_reference(data, recipe)
    weights = {
        "coef": coef, "intercept": intercept, "levels": LEVELS, "centre": centre_of(coef, intercept),
        "scale": recipe.scale,
        # a new person is assumed to sound like the neutral reference, spread like a training speaker
        "prior_mean": reference.mean(0),
        "prior_std": np.sqrt(np.mean([s ** 2 for _, s in train_stats.values()], axis=0)),
    }
    causal = {k: causal_scores(valid, weights, k, recipe.seed) for k in recipe.prior_utterances}
    causal_aucs = {k: auc_pos_vs_neg(s, valid.valence) for k, s in causal.items()}
    k = _best(causal_aucs)
    error = float(np.sqrt(np.mean((causal[k] - recipe.scale * valid.valence) ** 2)))
    weights |= {"prior_utterances": k, "error": error}
    report = {"C": best, "valid_auc": aucs, "prior_utterances": k, "valid_causal_auc": causal_aucs,
              "rows": len(train.valence), "centre": weights["centre"], "error": error,
              "reference_clips": len(reference),
              "valid_causal_mean_score": {name: float(causal[k][valid.valence == level].mean())
                                          for name, level in (("negative", -1), ("neutral", 0),
                                                              ("positive", 1))}}
    return {n: np.asarray(v, np.float32) for n, v in weights.items()}, report


def save_weights(path: Path, weights: dict[str, np.ndarray]) -> None:
    """Write the weights file (`main` checked the path before the work), never half a file."""
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **weights)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edge_msa.train.whisper_voice", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", type=Path, required=True, help="e.g. export/default/voice_whisper.yaml")
    parser.add_argument("--out", type=Path, required=True, help="the weights file (.npz) to write")
    parser.add_argument("--data", type=Path, default=None, help="corpora folder holding emodb/")
    parser.add_argument("--force", action="store_true", help="replace --out if it exists")
    args = parser.parse_args(argv)
    try:
        recipe = load_recipe(args.recipe)
        # before the work, not after; the project's one rule (an output never replaces an input)
        check_outputs({"--out": args.out}, force=args.force, inputs={"--recipe": args.recipe})
        data = args.data or Path(recipe.data or "../shared/data")
        neutral_reference_files(data, recipe)  # the reference is read last: check it first
        weights, report = fit(recipe, data)
        save_weights(args.out, weights)
    except UserError as e:
        print(f"edge-msa: error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}")
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
