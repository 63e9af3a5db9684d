import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from edge_msa.data.batch import MSAData
from edge_msa.data.missing import random_missing
from edge_msa.errors import UserError
from edge_msa.features.spec import FeatureSpec, ModalitySpec
from edge_msa.models import create_model
from edge_msa.train.evaluate import evaluate, predict, trim_padding
from edge_msa.train.fit import warmup_cosine
from edge_msa.train.run import load_run
from edge_msa.train.trainer import train

pytestmark = pytest.mark.usefixtures("one_thread")

SPEC = FeatureSpec(text=ModalitySpec("features:toy-8", 8, 6), audio=ModalitySpec("audio:toy-4", 4, 5),
                   vision=ModalitySpec("vision:toy-3", 3, 4), name="toy")
W = np.array([1.5, -1.0, 0.5, 0, 0, 0.8, 0, -0.4], np.float32)


def toy_data(n: int, seed: int, sign: float = 1.0) -> MSAData:
    """Labels are a linear function of the mean present text frame (times `sign`)."""
    rng = np.random.default_rng(seed)
    text = rng.normal(size=(n, 6, 8)).astype(np.float32)
    text_mask = (np.arange(6)[None] < rng.integers(2, 7, size=(n, 1))).astype(np.float32)
    mean = (text * text_mask[..., None]).sum(1) / text_mask.sum(1, keepdims=True)
    labels = np.clip(sign * 2.0 * mean @ W, -3, 3).astype(np.float32)
    return MSAData(text=text, text_mask=text_mask,
                   audio=rng.normal(size=(n, 5, 4)).astype(np.float32),
                   audio_mask=np.ones((n, 5), np.float32),
                   vision=np.zeros((n, 1, 3), np.float32), vision_mask=np.zeros((n, 1), np.float32),
                   labels=labels)


def tiny():
    return create_model("mean_pool_mlp-tiny", SPEC)


def run(tmp_path, name, data, **kw):
    args = dict(epochs=6, batch_size=32, lr=1e-2, seed=0, progress=False)
    return train(tiny(), data, tmp_path / name, **{**args, **kw})


def test_warmup_then_cosine():
    f = warmup_cosine(100, 0.1)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(10) == pytest.approx(1.0) and f(55) == pytest.approx(0.5) and f(99) < 0.01


def test_trim_padding_keeps_outputs():
    data = toy_data(8, 0)
    data.text_mask[:, 4:] = 0
    inputs = data.inputs()
    trimmed = trim_padding(inputs)
    assert trimmed[0].shape[1] == 4 and trimmed[2].shape[1] == 5 and trimmed[4].shape[1] == 1
    model = tiny().eval()
    torch.testing.assert_close(model(*trimmed)[0], model(*inputs)[0])


def test_loss_decreases_and_valid_improves(tmp_path):
    data = {"train": toy_data(256, 0), "valid": toy_data(96, 1)}
    before = evaluate(tiny(), data["valid"])
    out = run(tmp_path, "r", data)
    losses = [h["train_loss"] for h in out["history"]]
    assert losses[-1] < 0.7 * losses[0]
    assert out["valid"]["mae"] < 0.8 * before["mae"] and out["valid"]["corr"] > 0.8
    assert out["best_epoch"] > 1  # it kept learning, so a later epoch is selected
    assert out["test"] is None


def test_selection_uses_validation_only(tmp_path):
    # valid labels are the NEGATED function: the better the model fits train (and test), the
    # worse it does on valid, so the valid-selected checkpoint is the first epoch, not the last.
    data = {"train": toy_data(256, 0), "valid": toy_data(96, 1, sign=-1.0), "test": toy_data(96, 2)}
    out = run(tmp_path, "r", data)
    maes = [h["valid"]["mae"] for h in out["history"]]
    assert out["epochs_run"] == 6 and out["best_epoch"] == int(np.argmin(maes)) + 1 == 1
    saved = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert saved["selected"] == {"epoch": 1, "by": "mae"}
    assert saved["valid"] == out["history"][0]["valid"]
    model, _ = load_run(tmp_path / "r")  # the saved weights ARE the epoch-1 weights
    assert evaluate(model, data["valid"])["mae"] == pytest.approx(maes[0], rel=1e-5)
    assert evaluate(model, data["test"]) == pytest.approx(saved["test"], rel=1e-5)
    # selecting by corr (higher is better) picks the same epoch: valid corr only gets worse
    by_corr = run(tmp_path, "c", data, select="corr")
    assert by_corr["best_epoch"] == 1 and by_corr["selected"] == {"epoch": 1, "by": "corr"}


def test_early_stopping(tmp_path):
    data = {"train": toy_data(256, 0), "valid": toy_data(96, 1, sign=-1.0)}
    out = run(tmp_path, "r", data, epochs=10, patience=2)
    assert out["best_epoch"] == 1 and out["epochs_run"] == 3


def test_run_folder_contents(tmp_path):
    data = {"train": toy_data(64, 0), "valid": toy_data(32, 1)}
    out = run(tmp_path, "r", data, epochs=2, data_info={"dataset": "toy", "path": "nowhere"})
    files = sorted(p.name for p in (tmp_path / "r").iterdir())
    assert files == ["config.json", "metrics.json", "model.safetensors"]
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert config["model"] == "mean_pool_mlp" and config["overrides"]["hidden"] == 32
    assert FeatureSpec.from_dict(config["spec"]) == SPEC and config["scale"] == "mosi"
    assert config["train"]["seed"] == 0 and config["train"]["epochs"] == 2 and config["train"]["lr"] == 1e-2
    assert config["data"] == {"dataset": "toy", "path": "nowhere", "sizes": {"train": 64, "valid": 32}}
    model, _ = load_run(tmp_path / "r")
    np.testing.assert_allclose(evaluate(model, data["valid"])["mae"], out["valid"]["mae"], rtol=1e-5)


def test_seed_reproduces(tmp_path):
    # same initial weights + same seed -> bit-identical run (shuffling, dropout and the random
    # missing rates of the training-time corruption are all seeded)
    data = {"train": toy_data(64, 0), "valid": toy_data(32, 1)}
    init = tiny().state_dict()
    weights = []
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        model = tiny()
        model.load_state_dict(init)
        train(model, data, tmp_path / name, epochs=2, batch_size=16, seed=seed, missing=random_missing,
              progress=False)
        weights.append(load_file(str(tmp_path / name / "model.safetensors")))
    for k in weights[0]:
        assert torch.equal(weights[0][k], weights[1][k]), k
    assert any(not torch.equal(weights[0][k], weights[2][k]) for k in weights[0])


def test_missing_hook_is_applied(tmp_path):
    calls = []

    def drop_text(inputs, generator):
        calls.append(len(inputs[0]))
        text, text_mask, *rest = inputs
        return (text, torch.zeros_like(text_mask), *rest)

    data = {"train": toy_data(64, 0), "valid": toy_data(32, 1)}
    out = run(tmp_path, "r", data, epochs=3, missing=drop_text)
    assert sum(calls) == 3 * 64
    # the model never saw text while training, so it cannot use it on valid
    assert abs(out["valid"]["corr"]) < 0.5
    assert json.loads((tmp_path / "r" / "config.json").read_text())["train"]["missing"] == "drop_text"


def test_bad_inputs(tmp_path):
    data = {"train": toy_data(16, 0), "valid": toy_data(8, 1)}
    with pytest.raises(UserError, match="valid"):
        run(tmp_path, "r", {"train": data["train"]})
    with pytest.raises(UserError, match="select"):
        run(tmp_path, "r", data, select="bogus")


def test_predict_order_and_batching():
    data = toy_data(50, 3)
    model = tiny()
    np.testing.assert_allclose(predict(model, data, batch_size=7), predict(model, data, batch_size=64),
                               rtol=1e-5, atol=1e-6)


def test_hme_memory_bank_is_rebuilt_from_the_selected_weights(tmp_path):
    from edge_msa.models.families.hme_lite import build_memory_bank

    data = {"train": toy_data(96, 0), "valid": toy_data(32, 1)}
    model = create_model("hme_lite-tiny", SPEC)
    result = train(model, data, tmp_path / "hme", epochs=2, batch_size=32, lr=1e-2, seed=0, progress=False)
    assert result["after_training"]["memory_bank_entries"] == 96
    bank = model.bank.clone()
    build_memory_bank(model, data["train"])  # the hook's work, redone on the same final weights
    assert torch.allclose(bank, model.bank, atol=1e-6)
    saved = load_file(str(tmp_path / "hme" / "model.safetensors"))
    assert torch.allclose(saved["bank"], bank, atol=1e-6)
