"""Fit an `evidence_fusion` model's experts in closed form, each on its own labelled data.

    edge-msa train --recipe export/default/train.yaml --out runs/default \
        --bundles edge_msa/assets/default --force

- text: the frozen encoder's features (mean-pooled states + lexicon score) of every training
  sentence of the recipe's text corpora, once clean and `text_noise.copies` times through
  `noisy_transcripts` (what a recogniser makes of them) -> ridge regression on the MOSI-scale
  labels; the ridge strength is chosen by the mean Pearson r over the text corpora's validation
  splits, clean and noised together.
- voice: offset-invariant utterance statistics of EmoDB's training speakers, the originals and
  `voice.augment_copies` augmented copies (`edge_msa.data.augment`) -> multinomial logistic
  regression over the valence levels -1, 0, +1 (boredom left out: see VOICE_LEVELS), classes
  weighted to balance (EmoDB is 57 % negative, and a voice expert that learned that prior would
  call every voice negative); C is chosen by ROC AUC (positive vs negative) on the validation
  speakers.
- face: nothing is fitted (no labelled faces here): the valence table of the recipe.
- voice centre (bounded graphs): the fitted voice expert's mean on calm English narration, the
  LibriVox clips in `{data}/speech/librivox` (public domain), or `voice_centre` when the recipe
  sets it. EmoDB is German studio speech, and the expert reads calm English below 0 (-0.55 for the
  shipped tiers); the graph subtracts this so a calm English voice reads about 0.
Each expert's validation RMSE becomes its `expert_error` (the uncertainty output).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from pydantic import Field
from rich.progress import Progress

from edge_msa.cache import cache_dir
from edge_msa.data.batch import MSAData, padded_frames
from edge_msa.data.transcript_noise import noisy_transcripts
from edge_msa.errors import UserError
from edge_msa.features.text import load_tokenizer
from edge_msa.models.families.evidence_fusion import VOICE_LEVELS, EvidenceFusion
from edge_msa.train.metrics import pearson
from edge_msa.user_files import StrictModel


class TextNoiseConfig(StrictModel):
    copies: int = Field(1, ge=0)
    drop: float = Field(0.15, ge=0, lt=1)
    substitute: float = Field(0.10, ge=0, lt=1)


class ExpertsConfig(StrictModel):
    text_alphas: list[float] = Field(default_factory=lambda: [1.0, 10.0, 100.0, 1000.0], min_length=1)
    text_noise: TextNoiseConfig = Field(default_factory=TextNoiseConfig)
    voice_cs: list[float] = Field(default_factory=lambda: [0.001, 0.003, 0.01, 0.03], min_length=1)
    voice_augment_copies: int = Field(3, ge=0)
    lexicon: bool = True  # fill the in-graph lexicon from VADER's (vaderSentiment, MIT)
    face_error: float = Field(1.5, gt=0)  # no labelled faces: the face expert's error is assumed
    voice_centre: float | None = None  # None: measured on {data}/speech/librivox (0 where absent)


# VADER's negation words that are one WordPiece token, plus the stems the uncased tokenizer
# leaves of "n't" contractions ("don't" -> don ' t).
CONTRACTION_STEMS = ("don", "doesn", "didn", "isn", "wasn", "aren", "weren", "wouldn", "couldn",
                     "shouldn", "hasn", "haven", "hadn", "ain", "mustn", "needn")


def fill_lexicon(model: EvidenceFusion) -> int:
    """Copy VADER's lexicon (words that are one token of the model's tokenizer) into the graph."""
    try:
        from vaderSentiment.vaderSentiment import NEGATE, SentimentIntensityAnalyzer
    except ImportError:
        raise UserError("the lexicon needs vaderSentiment (pip install 'edge-msa[dev]')") from None
    vocab = load_tokenizer().vocab
    valence, negator = model.text.lexicon.valence, model.text.lexicon.negator
    valence.zero_()
    negator.zero_()
    for word, v in SentimentIntensityAnalyzer().lexicon.items():
        if word in vocab:
            valence[vocab[word]] = float(v)
    for word in (*NEGATE, *CONTRACTION_STEMS):
        if word in vocab:
            negator[vocab[word]] = 1.0
    return int((valence != 0).sum())


@torch.no_grad()
def _batched(fn, *arrays: np.ndarray, order: np.ndarray | None = None, batch: int = 128,
             bar: Progress | None = None, what: str = "") -> np.ndarray:
    """fn over row batches (in `order`: similar lengths together), results in the original order."""
    n = len(arrays[0])
    order = np.arange(n) if order is None else order
    out = None
    task = bar.add_task(what, total=n) if bar is not None else None
    for s in range(0, n, batch):
        idx = order[s:s + batch]
        cols = [a[idx] for a in arrays]
        res = fn(*[torch.from_numpy(c) for c in cols]).numpy()
        out = np.zeros((n, *res.shape[1:]), res.dtype) if out is None else out
        out[idx] = res
        if bar is not None:
            bar.update(task, advance=len(idx))
    return out


def _cache_file(model: EvidenceFusion, ids: np.ndarray, mask: np.ndarray) -> Path:
    """Where the text features of these sentences under this frozen encoder + lexicon are kept:
    keyed by the ids, the mask and every tensor of the text expert but its head."""
    key = hashlib.sha256(ids.tobytes() + mask.tobytes())
    for name, t in sorted(model.text.state_dict().items()):
        if not name.startswith("head."):
            key.update(name.encode() + t.detach().contiguous().numpy().tobytes())
    return cache_dir() / f"text-features-{key.hexdigest()[:24]}.npy"


def text_features(model: EvidenceFusion, ids: np.ndarray, mask: np.ndarray,
                  bar: Progress | None = None, what: str = "text") -> np.ndarray:
    """[N, hidden + 1] features of the text expert (cached: a re-fit re-encodes nothing)."""
    cache = _cache_file(model, ids, mask)
    if cache.is_file():
        return np.load(cache, allow_pickle=False)
    feats = _encode(model, ids, mask, bar, what)
    tmp = cache.with_suffix(".tmp.npy")
    np.save(tmp, feats)
    tmp.replace(cache)
    return feats


def _encode(model: EvidenceFusion, ids: np.ndarray, mask: np.ndarray, bar: Progress | None,
            what: str) -> np.ndarray:
    lengths = mask.sum(1)
    width = int(lengths.max()) if len(lengths) else 1

    def fn(i, m):
        t = int(m.sum(1).max())
        return model.text.features(i[:, :t], m[:, :t])

    return _batched(fn, ids[:, :width], mask[:, :width], order=np.argsort(lengths, kind="stable"),
                    bar=bar, what=what)


def ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    """Ridge on standardised columns, returned as (weights, bias) on the raw columns.

    A column's scale is floored at a tenth of the median column's: MiniLM's pooled states have
    near-constant dimensions (std ~1e-7) whose standardised weight became a raw weight of 3.6e6,
    so that int8 rounding of that one dimension moved the score by whole points."""
    mean, std = x.mean(0), x.std(0)
    std = np.maximum(std, 0.1 * float(np.median(std)) + 1e-12)
    z = (x - mean) / std
    w = np.linalg.solve(z.T @ z + alpha * np.eye(z.shape[1]), z.T @ (y - y.mean()))
    w = w / std
    return w, float(y.mean() - mean @ w)


def fit_text(model: EvidenceFusion, train: dict[str, MSAData], valid: dict[str, MSAData],
             cfg: ExpertsConfig, seed: int, bar: Progress | None = None) -> dict:
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for name, d in train.items():
        xs.append(text_features(model, d.text, d.text_mask, bar, f"text {name}"))
        ys.append(d.labels)
        for k in range(cfg.text_noise.copies):
            noise = cfg.text_noise
            ids, mask = noisy_transcripts(d.text, d.text_mask, rng, noise.drop, noise.substitute)
            xs.append(text_features(model, ids, mask, bar, f"text {name} noised {k + 1}"))
            ys.append(d.labels)
    x, y = np.concatenate(xs), np.concatenate(ys)
    checks = {}
    for name, d in valid.items():
        ids, mask = noisy_transcripts(d.text, d.text_mask, np.random.default_rng(seed + 1),
                                      cfg.text_noise.drop, cfg.text_noise.substitute)
        checks[name] = (text_features(model, d.text, d.text_mask), text_features(model, ids, mask), d.labels)
    scores = {}
    for alpha in cfg.text_alphas:
        w, b = ridge(x, y, alpha)
        scores[alpha] = {f"{n} {kind}": pearson(f @ w + b, lab) for n, (clean, noised, lab) in checks.items()
                         for kind, f in (("clean", clean), ("noised", noised))}
    best = max(scores, key=lambda a: np.mean(list(scores[a].values())))
    w, b = ridge(x, y, best)
    with torch.no_grad():
        model.text.head.weight.copy_(torch.from_numpy(w[None]).float())
        model.text.head.bias.fill_(b)
    pred = np.concatenate([f @ w + b for clean, noised, _ in checks.values() for f in (clean, noised)])
    lab = np.concatenate([lab for *_, lab in checks.values() for _ in range(2)])
    rmse = float(np.sqrt(np.mean((pred - lab) ** 2)))
    return {"alpha": best, "valid_r": scores, "rows": len(y), "rmse": rmse}


def voice_stats(model: EvidenceFusion, d: MSAData) -> np.ndarray:
    return _batched(model.voice.stats, d.audio, d.audio_mask)


def fit_voice(model: EvidenceFusion, train: MSAData, valid: MSAData, cfg: ExpertsConfig,
              seed: int) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    levels = np.array(VOICE_LEVELS, np.float32)
    scale = float(model.voice.levels[-1] / levels[-1])
    train = train.subset(np.isin(train.labels / scale, levels))  # boredom (-0.5) left out
    labels = train.labels / scale
    classes = np.searchsorted(levels, labels)
    if not np.allclose(levels[classes.clip(0, len(levels) - 1)], labels):
        raise UserError(f"voice labels must be the EmoDB valence levels {VOICE_LEVELS} x {scale:g}")
    x = voice_stats(model, train)
    mean, std = x.mean(0), x.std(0) + 1e-6
    z, zv = (x - mean) / std, (voice_stats(model, valid) - mean) / std
    polar = valid.labels != 0
    aucs, fits = {}, {}
    for c in cfg.voice_cs:
        fits[c] = LogisticRegression(C=c, max_iter=5000, class_weight="balanced",
                                     random_state=seed).fit(z, classes)
        pred = fits[c].predict_proba(zv) @ levels
        aucs[c] = float(roc_auc_score(valid.labels[polar] > 0, pred[polar]))
    best = max(aucs, key=aucs.get)
    lr = fits[best]
    with torch.no_grad():
        model.voice.mean.copy_(torch.from_numpy(mean).float())
        model.voice.std.copy_(torch.from_numpy(std).float())
        model.voice.logits.weight.copy_(torch.from_numpy(lr.coef_).float())
        model.voice.logits.bias.copy_(torch.from_numpy(lr.intercept_).float())
    pred = (lr.predict_proba(zv) @ levels) * scale
    return {"C": best, "valid_auc": aucs, "rows": len(train),
            "rmse": float(np.sqrt(np.mean((pred - valid.labels) ** 2)))}


NARRATION = Path("speech") / "librivox"


def centre_voice(model: EvidenceFusion, data_root: Path, fixed: float | None) -> dict:
    """Set the bounded graph's voice centre: `fixed`, or the fitted voice expert's mean on the
    narration clips under `data_root` (each cut to the model's window), or 0 where there are none."""
    from edge_msa.features.audio import SAMPLE_RATE, AudioFeaturizer
    from edge_msa.features.media import read_audio

    clips = [] if fixed is not None else sorted((Path(data_root) / NARRATION).glob("*.wav"))
    value, source = (fixed, "recipe") if fixed is not None else (0.0, None)
    if clips:
        featurizer, spec = AudioFeaturizer(), model.spec.audio
        audio, mask = padded_frames([featurizer.offline(read_audio(c, SAMPLE_RATE)) for c in clips],
                                    spec.max_len, spec.dim)
        with torch.no_grad():
            scores = model.voice(torch.from_numpy(audio), torch.from_numpy(mask))
        value, source = float(scores.mean()), f"{NARRATION} ({len(clips)} clips)"
    with torch.no_grad():
        model.voice_centre.fill_(value)
    return {"value": value, "from": source}


def fit_recipe(recipe, out, *, data_path=None, progress: bool = True) -> dict:
    """`train_recipe` for a recipe with `experts`: fit, score every part, write the run folder."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn

    from edge_msa.data.emodb import load_emodb_augmented
    from edge_msa.data.mix import rescale
    from edge_msa.train.recipe import SCALE, build_model, load_parts, modalities, validate_parts
    from edge_msa.train.run import save_run

    cfg = recipe.experts
    torch.manual_seed(recipe.seed)
    model = build_model(recipe)
    if not isinstance(model, EvidenceFusion):
        raise UserError(f"{recipe.source}: `experts` fits evidence_fusion models, not {recipe.model!r}")
    model.eval()
    splits = load_parts(recipe, model.spec, data_path)
    text_parts = [n for n, s in splits.items() if float(s["train"].text_mask.sum()) > 0]
    voice_parts = [n for n, s in splits.items() if float(s["train"].audio_mask.sum()) > 0]
    if not text_parts or len(voice_parts) != 1 or [p.dataset for p in recipe.data.parts
                                                   if p.name == voice_parts[0]] != ["emodb"]:
        raise UserError(f"{recipe.source}: `experts` needs text corpora and exactly one EmoDB part")
    voice = voice_parts[0]
    report = {"lexicon_tokens": fill_lexicon(model) if cfg.lexicon else 0}
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=not progress) as bar:
        report["text"] = fit_text(model, {n: splits[n]["train"] for n in text_parts},
                                  {n: splits[n]["valid"] for n in text_parts}, cfg, recipe.seed, bar)
    scale = next(p.label_scale for p in recipe.data.parts if p.name == voice)
    train_voice = splits[voice]["train"]
    if cfg.voice_augment_copies:
        augmented = load_emodb_augmented(data_path or recipe.data.path or _default_data(), model.spec,
                                         cfg.voice_augment_copies, recipe.seed)
        train_voice = MSAData.concat([train_voice, rescale(augmented, scale, SCALE)])
    report["voice"] = fit_voice(model, train_voice, splits[voice]["valid"], cfg, recipe.seed)
    if model.fusion == "bounded":
        report["voice_centre"] = centre_voice(model, data_path or recipe.data.path or _default_data(),
                                              cfg.voice_centre)
    with torch.no_grad():
        errors = [report["text"]["rmse"], report["voice"]["rmse"], cfg.face_error]
        model.expert_error.copy_(torch.tensor(errors))
    valid = {n: s["valid"] for n, s in splits.items()}
    tests = {n: s["test"] for n, s in splits.items() if "test" in s and len(s["test"])}
    result = {"valid": validate_parts(model, valid), "test": validate_parts(model, tests), "fit": report,
              "selected": {"epoch": None, "by": "closed-form fit; ridge alpha and C by validation"}}
    config = {
        "scale": SCALE,
        "recipe": {**recipe.model_dump(mode="json"), "file": str(recipe.source) if recipe.source else None},
        "face_valence": None if recipe.face_valence is None else recipe.valence().model_dump(),
        "modalities": modalities(recipe, splits, model),
        "data": {"dataset": recipe.export.parity_dataset if recipe.export else text_parts[0],
                 "path": str(data_path or recipe.data.path or "") or None,
                 "split_seed": recipe.data.split_seed,
                 "sizes": {n: {s: len(d) for s, d in sp.items()} for n, sp in splits.items()}},
        "fit": report,
    }
    save_run(out, model, config, result)
    return {"run_dir": str(out), "best_epoch": None, **result, "modalities": config["modalities"]}


def _default_data():
    from edge_msa.data.datasets import DEFAULT_DATA

    return DEFAULT_DATA
