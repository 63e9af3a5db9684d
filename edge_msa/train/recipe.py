"""Training recipes (`export/default/train.yaml`): one typed file -> one run -> bundles.

    edge-msa train --recipe export/default/train.yaml --out runs/default \
        --bundles edge_msa/assets/default --force

A recipe names a model and its overrides, an expression prior file (face), a weighted mix of
corpora (`edge_msa.data.mix`: each batch from one corpus, shares by sampling), an optional MMSLF
teacher (prediction distillation on the rows that have text), the optimiser settings and the
export recipes of the bundles to write. The checkpoint is selected on the mean Pearson r over
the corpora's validation splits; test splits (where a corpus has one) are scored once, at the end.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from pydantic import Field, model_validator

from edge_msa.data.batch import MSAData
from edge_msa.data.mix import MixPart, mixed_batches, rescale, rows_per_epoch
from edge_msa.errors import UserError
from edge_msa.features.spec import LIVE, FeatureSpec
from edge_msa.models.base import MSAModel
from edge_msa.train.evaluate import predict, trim_padding
from edge_msa.train.experts import ExpertsConfig
from edge_msa.train.metrics import msa_metrics
from edge_msa.user_files import StrictModel as _Strict
from edge_msa.user_files import read_yaml, validated

SCALE = "mosi"
MODALITY_ROWS = {"text": "text_mask", "audio": "audio_mask", "vision": "vision_mask"}


class PartConfig(_Strict):
    name: str
    dataset: str
    weight: float = Field(gt=0)
    label_scale: float = Field(1.0, gt=0)


class DataConfig(_Strict):
    path: str | None = None
    split_seed: int = 0
    rows_per_epoch: int = Field(ge=1)
    parts: list[PartConfig] = Field(min_length=1)


class DistillConfig(_Strict):
    teacher: str | None = None
    prediction: float = Field(1.0, ge=0)


class TrainConfig(_Strict):
    epochs: int = Field(ge=1)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(gt=0)
    text_lr: float | None = Field(None, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    warmup_frac: float = Field(0.1, ge=0, lt=1)
    grad_clip: float = Field(1.0, gt=0)


class ExportConfig(_Strict):
    parity_dataset: str
    calibration_samples: int = Field(256, ge=1)
    bundles: dict[str, str] = Field(min_length=1)  # bundle folder name -> export recipe path


class FacePrior(_Strict):
    sources: list[str] = Field(min_length=1)
    alpha: float = 1.0
    action_units: dict[str, dict]
    weights: dict[str, float] = Field(min_length=1)


class FaceValence(_Strict):
    """Valence of each expression class of the face model, on the MOSI scale, with its sources."""
    model: str  # what produces the class probabilities
    sources: list[str] = Field(min_length=1)
    valence: dict[str, float] = Field(min_length=1)


class TrainRecipe(_Strict):
    name: str
    seed: int = 0
    model: str
    overrides: dict = Field(default_factory=dict)
    face_prior: str | None = None  # path relative to the recipe file
    face_valence: str | None = None  # path relative to the recipe file (evidence_fusion)
    data: DataConfig
    distill: DistillConfig = Field(default_factory=DistillConfig)
    train: TrainConfig | None = None  # gradient training ...
    experts: ExpertsConfig | None = None  # ... or closed-form experts (edge_msa.train.experts)
    export: ExportConfig | None = None
    source: Path | None = Field(None, exclude=True)  # the file it was read from

    @model_validator(mode="after")
    def _one_way_to_train(self):
        if (self.train is None) == (self.experts is None):
            raise ValueError("give exactly one of `train` (gradient steps) and `experts` (closed-form fit)")
        return self

    def resolve(self, rel: str) -> Path:
        """A path named in the recipe: relative to the recipe's folder."""
        path = Path(rel)
        return path if path.is_absolute() or self.source is None else self.source.parent / path

    def resolve_teacher(self) -> Path:
        """The teacher run: as written (relative to the working directory), else next to the recipe."""
        path = Path(self.distill.teacher)
        if not path.is_dir() and not path.is_absolute() and self.source is not None:
            path = self.source.parent / path
        if not path.is_dir():
            raise UserError(f"teacher run {self.distill.teacher} does not exist (train it with "
                            "`edge-msa distill-teacher`, or set distill.teacher: null)")
        return path

    def prior(self) -> FacePrior | None:
        return None if self.face_prior is None else load_face_prior(self.resolve(self.face_prior))

    def valence(self) -> FaceValence | None:
        if self.face_valence is None:
            return None
        path = self.resolve(self.face_valence)
        return validated(FaceValence, _load_yaml(path, "face valence table"), str(path), "table")


def _load_yaml(path: Path, what: str) -> dict:
    if not path.is_file():
        raise UserError(f"{what} {path} does not exist")
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping at the top level")
    return raw


def load_face_prior(path: str | Path) -> FacePrior:
    path = Path(path)
    return validated(FacePrior, _load_yaml(path, "face prior"), str(path), "recipe")


def load_train_recipe(path: str | Path) -> TrainRecipe:
    path = Path(path)
    recipe = validated(TrainRecipe, _load_yaml(path, "training recipe"), str(path), "recipe")
    recipe.source = path
    if recipe.distill.teacher is not None and recipe.distill.prediction == 0:
        raise UserError(f"{path}: distill.prediction is 0 but a teacher is named (set teacher: null)")
    return recipe


def build_model(recipe: TrainRecipe, spec: FeatureSpec = LIVE) -> MSAModel:
    from edge_msa.models.registry import create_model

    prior, valence = recipe.prior(), recipe.valence()
    extra = {} if prior is None else {"expression_prior": prior.weights, "prior_alpha": prior.alpha}
    if valence is not None:
        extra["face_valence"] = valence.valence
    return create_model(recipe.model, spec, **{**recipe.overrides, **extra})


def load_parts(recipe: TrainRecipe, spec: FeatureSpec,
               path: str | Path | None) -> dict[str, dict[str, MSAData]]:
    """{part name: {split: data}} with labels on the MOSI scale."""
    from edge_msa.data.datasets import load_dataset

    path = path if path is not None else recipe.data.path
    out = {}
    for p in recipe.data.parts:
        splits = load_dataset(p.dataset, path, spec, seed=recipe.data.split_seed)
        out[p.name] = {s: rescale(d, p.label_scale, SCALE) for s, d in splits.items()}
    return out


def modalities(recipe: TrainRecipe, parts: dict[str, dict[str, MSAData]], model: MSAModel) -> dict:
    """Per modality: where its signal comes from ("learned" with the corpora, "prior", "absent")."""
    out = {}
    for m, mask in MODALITY_ROWS.items():
        taught = [n for n, s in parts.items() if float(getattr(s["train"], mask).sum()) > 0]
        if m == "vision" and getattr(model, "vision_gate", 1.0) == 0.0:
            taught = []  # the learned path never reads vision
        if taught:
            out[m] = {"signal": "learned", "data": taught}
        elif m == "vision" and recipe.face_valence is not None:
            table = recipe.valence()
            out[m] = {"signal": "learned", "data": [table.model], "valence_table": str(recipe.face_valence),
                      "sources": table.sources}
        elif m == "vision" and recipe.face_prior is not None:
            out[m] = {"signal": "prior", "data": [str(recipe.face_prior)],
                      "sources": recipe.prior().sources}
        else:
            out[m] = {"signal": "absent", "data": []}
    return out


def _predict_sorted(model, data: MSAData, batch_size: int = 128) -> np.ndarray:
    """`predict` on rows sorted by text length (little padding), returned in the original order."""
    order = np.argsort(data.text_mask.sum(1), kind="stable")
    pred = predict(model, data.subset(order), batch_size)
    out = np.empty_like(pred)
    out[order] = pred
    return out


def teacher_scores(teacher_dir: str | Path, parts: dict[str, MSAData]) -> dict[str, np.ndarray]:
    """The teacher's scores for the training rows of every part that has text (its own prompts)."""
    from edge_msa.train.prompts import attach_prompts, load_provider
    from edge_msa.train.run import load_run

    teacher, config = load_run(teacher_dir)
    if not hasattr(teacher, "encode_prompt"):
        raise UserError(f"{teacher_dir} is not an MMSLF teacher run (model {config['model']!r})")
    provider = load_provider(config.get("data", {}).get("prompts", "describe"), teacher.spec)
    return {n: _predict_sorted(teacher, attach_prompts(d, provider))
            for n, d in parts.items() if float(d.text_mask.sum()) > 0}


def validate_parts(model: MSAModel, data: dict[str, MSAData]) -> dict[str, dict[str, float]]:
    return {n: msa_metrics(d.labels, _predict_sorted(model, d), SCALE) for n, d in data.items()}


def train_recipe(recipe: TrainRecipe, out: str | Path, *, data_path: str | Path | None = None,
                 progress: bool = True) -> dict:
    """Train the recipe's model on its mix; write the run folder `out`; return its metrics."""
    from edge_msa.train.fit import Optim, fit, seed_everything
    from edge_msa.train.run import save_run

    if recipe.experts is not None:
        from edge_msa.train.experts import fit_recipe

        return fit_recipe(recipe, out, data_path=data_path, progress=progress)
    cfg = recipe.train
    seed_everything(recipe.seed)
    model = build_model(recipe)
    splits = load_parts(recipe, model.spec, data_path)
    weights = {p.name: p.weight for p in recipe.data.parts}
    parts = [MixPart(n, s["train"], weights[n]) for n, s in splits.items()]
    valid = {n: s["valid"] for n, s in splits.items()}
    teacher = {}
    if recipe.distill.teacher is not None:
        teacher = teacher_scores(recipe.resolve_teacher(), {p.name: p.data for p in parts})
    rng = np.random.default_rng(recipe.seed)
    steps = sum(-(-c // cfg.batch_size) for c in rows_per_epoch(parts, recipe.data.rows_per_epoch))

    def step_loss(batch: tuple[int, np.ndarray]):
        i, idx = batch
        part = parts[i]
        labels = torch.from_numpy(part.data.labels[idx])
        inputs = trim_padding(part.data.inputs(idx))
        # the family's own loss (lnln_lite/hme_lite add their auxiliary terms there)
        loss, _ = model.training_loss(inputs, labels)
        if part.name in teacher:  # MMSLF's prediction term; EmoDB rows: labels only
            target = torch.from_numpy(teacher[part.name][idx])
            score, _ = model(*inputs)
            loss = loss + recipe.distill.prediction * (score - target).abs().mean()
        return loss, {"loss": float(loss.detach())}

    def validate():
        metrics = validate_parts(model, valid)
        mean_corr = float(np.mean([m["corr"] for m in metrics.values()]))
        return mean_corr, {"valid": metrics, "mean_corr": mean_corr}

    def epoch_batches(_epoch: int):
        return mixed_batches(parts, cfg.batch_size, recipe.data.rows_per_epoch, rng)

    outcome = fit(model, epoch_batches, steps, step_loss, validate, epochs=cfg.epochs, select="mean r",
                  optim=Optim(cfg.lr, cfg.text_lr, cfg.weight_decay, cfg.warmup_frac, cfg.grad_clip),
                  hook_data=MSAData.concat([p.data for p in parts]), progress=progress)
    best_epoch, history = outcome.best_epoch, outcome.history
    tests = {n: s["test"] for n, s in splits.items() if "test" in s and len(s["test"])}
    result = {"valid": outcome.final["valid"], "test": validate_parts(model, tests),
              "selected": {"epoch": best_epoch, "by": "mean valid corr over parts"}, "history": history,
              **outcome.hooks}
    parity = recipe.export.parity_dataset if recipe.export else recipe.data.parts[0].dataset
    config = {
        "scale": SCALE,
        "recipe": {**recipe.model_dump(mode="json"), "file": str(recipe.source) if recipe.source else None},
        "face_prior": None if recipe.face_prior is None else recipe.prior().model_dump(),
        "modalities": modalities(recipe, splits, model),
        # what export reads to find real samples for parity (a text corpus: see ExportConfig)
        "data": {"dataset": parity, "path": str(data_path or recipe.data.path or "") or None,
                 "split_seed": recipe.data.split_seed,
                 "sizes": {n: {s: len(d) for s, d in sp.items()} for n, sp in splits.items()}},
        "distill": {**recipe.distill.model_dump(), "teacher_rows": {n: len(t) for n, t in teacher.items()}},
    }
    save_run(out, model, config, result)
    return {"run_dir": str(out), "best_epoch": best_epoch, **result, "modalities": config["modalities"]}
