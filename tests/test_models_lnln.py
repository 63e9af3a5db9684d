import math

import numpy as np
import pytest
import torch
from torch.export import Dim

from edge_msa.data.datasets import load_dataset
from edge_msa.data.missing import LNLN_RATES
from edge_msa.data.synthetic import make_mmsa_pickle, synthetic_data
from edge_msa.features.spec import LIVE, MOSI_BERT, NAMED_SPECS
from edge_msa.models import create_model
from edge_msa.train.sweep import sweep

SMALL_GRAPH = dict(dmml_depth=1, fusion_depth=1)  # fewer layers: faster export, same code paths
LIMITS = {"tiny": 1_000_000, "small": 5_000_000}


pytestmark = pytest.mark.usefixtures("one_thread")


def dynamic_shapes(t: str = "text_len"):
    """The six inputs with dynamic time axes (text/audio/vision), as the exporters use them."""
    dims = [Dim(t, min=2, max=512), Dim("audio_len", min=2, max=4096), Dim("vision_len", min=2, max=4096)]
    return tuple({1: d} for d in dims for _ in range(2))


def other_lengths(model, batch: int, lengths=(17, 33, 9)):
    """Inputs whose time axes differ from example_inputs (vision absent: mask all zero)."""
    g = torch.Generator().manual_seed(1)
    s = model.spec
    if s.text.is_tokens:
        text = torch.randint(1000, 5000, (batch, lengths[0]), generator=g)
        text[:, 0] = 101
    else:
        text = torch.randn(batch, lengths[0], s.text.dim, generator=g)
    return (text, torch.ones(batch, lengths[0]), torch.randn(batch, lengths[1], s.audio.dim, generator=g),
            torch.ones(batch, lengths[1]), torch.randn(batch, lengths[2], s.vision.dim, generator=g),
            torch.zeros(batch, lengths[2]))


def mmsa_splits(tmp_path, n=48):
    path = make_mmsa_pickle(tmp_path / "aligned_50.pkl", n_per_split=n, kind="mosi", seed=0)
    return load_dataset("mmsa", path, None, trust_pickle=True)


@pytest.mark.parametrize("preset", ["tiny", "small"])
def test_parameter_counts_within_preset_limits(preset):
    for spec in NAMED_SPECS.values():
        model = create_model(f"lnln_lite-{preset}", spec, pretrained=False)
        assert model.count_parameters(exclude_text_encoder=True) <= LIMITS[preset], spec.name
    # the MiniLM is the only thing the token spec adds on top of the text projection
    assert model.count_parameters() - model.count_parameters(True) == sum(
        p.numel() for p in model.text_encoder.parameters())


def assert_training_parts_unused(ep):
    placeholders = {n.target: n for n in ep.graph.nodes if n.op == "placeholder"}
    for spec in ep.graph_signature.input_specs:
        if spec.target and spec.target.startswith(("reconstructors.", "discriminator.")):
            assert not placeholders[spec.arg.name].users, spec.target  # lifted but never computed


def test_export_static_bert_features():
    model = create_model("lnln_lite-tiny", MOSI_BERT, **SMALL_GRAPH).eval()
    x = model.example_inputs(2)
    ep = torch.export.export(model, x)
    assert_training_parts_unused(ep)
    torch.testing.assert_close(ep.module()(*x), model(*x))


def test_export_dynamic_lengths_minilm_tokens():
    model = create_model("lnln_lite-tiny", LIVE, text_layers=1, **SMALL_GRAPH).eval()
    ep = torch.export.export(model, model.example_inputs(2), dynamic_shapes=dynamic_shapes())
    assert_training_parts_unused(ep)
    y = other_lengths(model, 2, (11, 40, 7))  # new lengths, vision absent
    torch.testing.assert_close(ep.module()(*y), model(*y), atol=1e-5, rtol=1e-5)


def test_masked_text_shifts_the_dominant_feature_to_the_proxy():
    model = create_model("lnln_lite-tiny", MOSI_BERT).eval()
    x = list(model.example_inputs(2))
    with torch.no_grad():
        full = model.parts(*x)
        x[1] = torch.zeros_like(x[1])
        masked = model.parts(*x)
    assert (full["w"] > 0).all() and (masked["w"] == 0).all()
    torch.testing.assert_close(masked["h_d"], masked["h_p"])  # corrected = proxy when text is gone


def test_completeness_objective_teaches_the_estimator_lost_text():
    # the completeness loss alone (sentiment off, so a few steps suffice): the estimate must
    # follow the share of text frames that survived the training corruption
    torch.manual_seed(0)
    data = synthetic_data(MOSI_BERT, n=64, seed=0)
    model = create_model("lnln_lite-tiny", MOSI_BERT, w_sentiment=0.0, w_adversarial=0.0,
                         w_reconstruction=0.0, dropout=0.0, **SMALL_GRAPH)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for epoch in range(4):
        for inputs, labels in data.batches(16, shuffle=True, seed=epoch):
            loss, _ = model.training_loss(inputs, labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    x = list(data.inputs(slice(0, 32)))
    with torch.no_grad():
        w_clean = model.parts(*x)["w"].mean()
        x[0] = x[0] * (torch.rand(x[1].shape) > 0.9).unsqueeze(-1)  # ~90 % of text frames lost
        w_lost = model.parts(*x)["w"].mean()
    assert w_clean > 0.8 and w_lost < 0.4, (float(w_clean), float(w_lost))


def test_loss_weights_are_the_papers_and_configurable():
    model = create_model("lnln_lite-tiny", MOSI_BERT)
    assert {k: model.config[k] for k in ("w_completeness", "w_adversarial", "w_reconstruction",
                                         "w_sentiment")} == {"w_completeness": 0.9, "w_adversarial": 0.8,
                                                             "w_reconstruction": 0.1, "w_sentiment": 1.0}
    x, y = model.example_inputs(4), torch.tensor([1.0, -1.0, 0.5, 2.0])
    _, logs = model.training_loss(x, y)
    assert {"sentiment", "completeness", "adversarial", "reconstruction"} <= set(logs)
    lean = create_model("lnln_lite-tiny", MOSI_BERT, w_adversarial=0.0, w_reconstruction=0.0)
    _, logs = lean.training_loss(x, y)
    assert "adversarial" not in logs and "reconstruction" not in logs


def test_adversarial_gradient_is_reversed_for_the_generator():
    torch.manual_seed(0)
    model = create_model("lnln_lite-tiny", MOSI_BERT, w_sentiment=0.0, w_completeness=0.0,
                         w_reconstruction=0.0, w_adversarial=1.0, dropout=0.0, complete_frac=1.0)
    x, y = model.example_inputs(4), torch.zeros(4)
    loss, _ = model.training_loss(x, y)
    loss.backward()
    step = 1e-2
    with torch.no_grad():  # a small step along the (reversed) gradient of the proxy generator
        for p in model.proxy.parameters():
            p -= step * p.grad
        after, _ = model.training_loss(x, y)
    # descending the reversed gradient makes the critic's job harder
    assert float(after) > float(loss.detach())


def test_training_reduces_loss_and_lnln_sweep_runs_on_mmsa_format(tmp_path):
    torch.manual_seed(0)
    splits = mmsa_splits(tmp_path)
    model = create_model("lnln_lite-tiny", MOSI_BERT, **SMALL_GRAPH)
    train = splits["train"]

    def eval_mae():
        model.eval()
        with torch.no_grad():
            pred = model(*train.inputs())[0].numpy()
        return float(np.abs(pred - train.labels).mean())

    before = eval_mae()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for epoch in range(8):
        model.train()
        for inputs, labels in train.batches(16, shuffle=True, seed=epoch):
            loss, _ = model.training_loss(inputs, labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
    after = eval_mae()
    assert after < 0.7 * before, (before, after)
    result = sweep(model, splits["valid"], "lnln", progress=False)
    assert list(result["rows"]) == [f"{r:.1f}" for r in LNLN_RATES] + ["mean"]
    assert all(math.isfinite(m["mae"]) for m in result["rows"].values())
