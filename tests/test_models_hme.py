import numpy as np
import pytest
import torch
from torch.export import Dim

from edge_msa.data.datasets import load_dataset
from edge_msa.data.synthetic import make_mmsa_pickle, synthetic_data
from edge_msa.errors import UserError
from edge_msa.features.spec import LIVE, MOSI_BERT, NAMED_SPECS
from edge_msa.models import create_model
from edge_msa.models.families.hme_lite import build_memory_bank
from edge_msa.train.run import load_run, save_run
from edge_msa.train.sweep import sweep

LIMITS = {"tiny": 1_000_000, "small": 5_000_000}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def trained():
    """hme_lite-tiny trained briefly on generated MOSI-layout data, bank rebuilt from train."""
    torch.manual_seed(0)
    data = synthetic_data(MOSI_BERT, n=48, seed=0)
    model = create_model("hme_lite-tiny", MOSI_BERT, bank_size=64, top_k=4)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for epoch in range(3):
        for inputs, labels in data.batches(16, shuffle=True, seed=epoch):
            loss, _ = model.training_loss(inputs, labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
    assert model.after_training(data) == {"memory_bank_entries": 48}
    return model.eval(), data


@pytest.mark.parametrize("preset", ["tiny", "small"])
def test_parameter_counts_within_preset_limits(preset):
    for spec in NAMED_SPECS.values():
        model = create_model(f"hme_lite-{preset}", spec, pretrained=False)
        assert model.count_parameters(exclude_text_encoder=True) <= LIMITS[preset], spec.name


def test_top_k_larger_than_bank_is_refused():
    with pytest.raises(UserError, match="top_k"):
        create_model("hme_lite-tiny", MOSI_BERT, bank_size=4, top_k=8)


def test_batch_of_one_equals_batched(trained):
    model, data = trained
    x = data.inputs(slice(0, 8))
    with torch.no_grad():
        batched = model(*x)
        singles = [model(*data.inputs(slice(i, i + 1))) for i in range(8)]
    for out, one in zip(batched, zip(*singles, strict=True), strict=True):
        torch.testing.assert_close(out, torch.cat(one), atol=1e-5, rtol=1e-5)


def test_bank_never_returns_the_sample_itself(trained):
    """A training sample scores the same with a bank built from all rows or from all but itself."""
    model, data = trained
    state = {k: v.clone() for k, v in model.state_dict().items()}
    x = data.inputs(slice(5, 6))
    with torch.no_grad():
        z, p = model.encode(*x)
        _, _, index, weight = model.retrieve(z, p)
        assert 5 not in index[0][weight[0] > 0].tolist()  # bank row i = training row i here
        with_self = model(*x)
        build_memory_bank(model, data.subset(np.delete(np.arange(len(data)), 5)))
        without_self = model(*x)
    model.load_state_dict(state)
    torch.testing.assert_close(with_self, without_self)


@pytest.mark.parametrize("absent", [0, 1, 2])
def test_any_modality_fully_masked_gives_finite_outputs(trained, absent):
    model, data = trained
    x = list(data.inputs(slice(0, 4)))
    x[2 * absent], x[2 * absent + 1] = torch.zeros_like(x[2 * absent]), torch.zeros_like(x[2 * absent + 1])
    with torch.no_grad():
        score, uncertainty = model(*x)
        _, _, gate = model.head(*model.encode(*x))
    assert torch.isfinite(score).all() and (uncertainty > 0).all()
    assert (gate[:, absent] == 1).all()  # an absent modality is replaced by its retrieved cue


def test_empty_bank_is_finite():
    model = create_model("hme_lite-tiny", MOSI_BERT).eval()  # never trained: bank all empty
    score, uncertainty = model(*model.example_inputs(2))
    assert torch.isfinite(score).all() and torch.isfinite(uncertainty).all()


def test_bank_lives_in_the_checkpoint(trained, tmp_path):
    model, data = trained
    save_run(tmp_path / "run", model)
    loaded, _ = load_run(tmp_path / "run")
    assert int(loaded.bank_present.sum()) == 3 * len(data)
    x = data.inputs(slice(0, 4))
    with torch.no_grad():
        torch.testing.assert_close(loaded(*x), model(*x))


def test_export_static_with_the_bank(trained):
    model, data = trained
    x = data.inputs(slice(0, 2))
    ep = torch.export.export(model, x)
    assert {"bank", "bank_present"} <= set(ep.graph_signature.buffers)
    torch.testing.assert_close(ep.module()(*x), model(*x))


def test_export_dynamic_lengths_minilm_tokens():
    model = create_model("hme_lite-tiny", LIVE, text_layers=1).eval()
    g = torch.Generator().manual_seed(0)
    model.bank = torch.randn(model.bank.shape, generator=g)  # a filled bank, so retrieval matters
    model.bank_present = torch.ones_like(model.bank_present)
    dims = [Dim("text_len", min=2, max=512), Dim("audio_len", min=2, max=4096),
            Dim("vision_len", min=2, max=4096)]
    shapes = tuple({1: d} for d in dims for _ in ("x", "mask"))
    ep = torch.export.export(model, model.example_inputs(2), dynamic_shapes=shapes)
    ids = torch.randint(1000, 5000, (2, 13), generator=g)
    y = (ids, torch.ones(2, 13), torch.randn(2, 41, 42, generator=g), torch.ones(2, 41),
         torch.randn(2, 5, 62, generator=g), torch.zeros(2, 5))
    torch.testing.assert_close(ep.module()(*y), model(*y), atol=1e-5, rtol=1e-5)


def test_training_reduces_loss_and_missing_sweep_runs_on_mmsa_format(tmp_path):
    torch.manual_seed(0)
    path = make_mmsa_pickle(tmp_path / "aligned_50.pkl", n_per_split=48, kind="mosi", seed=0)
    splits = load_dataset("mmsa", path, None, trust_pickle=True)
    train = splits["train"]
    model = create_model("hme_lite-tiny", MOSI_BERT, bank_size=64)

    def train_mae():
        model.eval()
        with torch.no_grad():
            return float(np.abs(model(*train.inputs())[0].numpy() - train.labels).mean())

    before = train_mae()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for epoch in range(8):
        model.train()
        for inputs, labels in train.batches(16, shuffle=True, seed=epoch):
            loss, _ = model.training_loss(inputs, labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.after_training(train)
    after = train_mae()
    assert after < 0.7 * before, (before, after)
    for protocol, rows in (("lnln", 11), ("subsets", 7)):
        result = sweep(model, splits["valid"], protocol, progress=False)
        assert len(result["rows"]) == rows
        assert all(np.isfinite(m["mae"]) for m in result["rows"].values())
