"""Every gradient-trained family through a training recipe, end to end on a tiny real slice (VADER movie
sentences and MELD utterances from ../shared/data), through the one loop (`edge_msa.train.fit`).

evidence_fusion is fitted in closed form (a recipe's `experts` section), not by this loop; its recipe is
exercised by tests/test_shipped_tiers.py and the shipped bundles.
"""


import numpy as np
import pytest
import torch
import yaml
from shared_data import SHARED_DATA

from edge_msa.models.registry import list_models
from edge_msa.train.evaluate import predict
from edge_msa.train.fit import seed_everything
from edge_msa.train.recipe import build_model, load_train_recipe, train_recipe
from edge_msa.train.run import load_run

SHARED = SHARED_DATA
CLOSED_FORM = {"evidence_fusion"}
# the teacher reads prompts beside the text (its own trainer, `edge-msa distill-teacher`)
PROMPTED = {"mmslf_teacher"}


def smallest_preset(family: str) -> str:
    names = set(list_models())
    return next(n for n in (f"{family}-test", f"{family}-tiny", family) if n in names)


FAMILIES = sorted({n.split("-")[0] for n in list_models()} - CLOSED_FORM - PROMPTED)


@pytest.fixture(scope="module")
def slice_path(tmp_path_factory):
    """The first rows of VADER's movie file and of MELD train/dev: a real slice a recipe reads fast."""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent")
    root = tmp_path_factory.mktemp("slice")
    movie = SHARED / "vader_icwsm2014" / "movieReviewSnippets_GroundTruth.txt"
    (root / "vader_icwsm2014").mkdir()
    lines = movie.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)[:400]
    (root / "vader_icwsm2014" / movie.name).write_text("".join(lines), encoding="utf-8")
    (root / "meld").mkdir()
    for name, n in (("train_sent_emo.csv", 200), ("dev_sent_emo.csv", 60)):
        rows = (SHARED / "meld" / name).read_bytes().splitlines(keepends=True)[: n + 1]
        (root / "meld" / name).write_bytes(b"".join(rows))
    return root


@pytest.mark.parametrize("family", FAMILIES)
def test_recipe_trains_every_family(family, slice_path, tmp_path):
    recipe_file = tmp_path / "recipe.yaml"
    recipe_file.write_text(yaml.safe_dump({
        "name": f"{family}-slice", "seed": 3, "model": smallest_preset(family),
        "data": {"path": str(slice_path), "rows_per_epoch": 48,
                 "parts": [{"name": "movie", "dataset": "vader-movie", "weight": 0.6},
                           {"name": "meld", "dataset": "meld", "weight": 0.4, "label_scale": 1.5}]},
        "train": {"epochs": 2, "batch_size": 8, "lr": 2e-3, "text_lr": 1e-4},
    }))
    recipe = load_train_recipe(recipe_file)
    result = train_recipe(recipe, tmp_path / "run", progress=False)

    assert [h["epoch"] for h in result["history"]] == [1, 2]
    assert all(np.isfinite(h["train_loss"]) for h in result["history"])
    assert set(result["valid"]) == {"movie", "meld"} and set(result["test"]) == {"movie"}
    model, config = load_run(tmp_path / "run")
    assert config["recipe"]["model"] == smallest_preset(family)
    # the saved weights were trained: they differ from the same seed's initial weights
    seed_everything(recipe.seed)
    initial = build_model(recipe).state_dict()
    trained = model.state_dict()
    assert any(not torch.equal(initial[k], trained[k]) for k in initial if initial[k].is_floating_point())
    # a family with an after-training hook ran it on the selected weights (hme_lite's memory bank)
    assert ("after_training" in result) == hasattr(model, "after_training")
    # the reloaded run predicts what the selected checkpoint scored on validation
    from edge_msa.data.datasets import load_dataset
    from edge_msa.train.metrics import pearson

    movie_valid = load_dataset("vader-movie", slice_path, model.spec)["valid"]
    r = pearson(movie_valid.labels, predict(model, movie_valid))
    assert r == pytest.approx(result["valid"]["movie"]["corr"], abs=1e-4)
