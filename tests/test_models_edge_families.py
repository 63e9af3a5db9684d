"""cyin_lite, dashfusion_lite and midg_lite beyond the contract every family meets
(tests/test_family_contract.py): presets, dynamic-length export without training-only parts, the loss
going down, and what each adds: CyIN's rebuilt latents, DashFusion's bottleneck and losses, MIDG's gate."""

import math
import warnings
from functools import cache

import pytest
import torch
from torch.export import Dim

from edge_msa.data.missing import SUBSETS, drop_modalities
from edge_msa.data.synthetic import synthetic_data
from edge_msa.features.spec import LIVE, MOSI_BERT, NAMED_SPECS
from edge_msa.models import create_model, list_models
from edge_msa.models.families.dashfusion_lite import info_nce, supervised_contrastive

NAMES = ("cyin_lite", "dashfusion_lite", "midg_lite")
LIMITS = {"tiny": 1_000_000, "small": 5_000_000}
TRAINING_ONLY = {"cyin_lite": ("decoders.", "label_heads."), "dashfusion_lite": ("projectors.",),
                 "midg_lite": ()}
ALL_SUBSETS = (*SUBSETS, "")  # "" = every modality absent
STEPS = 30

pytestmark = pytest.mark.usefixtures("one_thread")


def absent(x: tuple[torch.Tensor, ...], subset: str, noise: bool = False) -> tuple[torch.Tensor, ...]:
    """Keep the modalities in `subset` ("" keeps none); absent ones are zeros, or noise with `noise`
    (their masks stay all zero, so their content must not matter)."""
    kept = drop_modalities(x, subset) if subset else tuple(torch.zeros_like(v) for v in x)
    if not noise:
        return kept
    g = torch.Generator().manual_seed(7)
    return tuple(torch.randn(v.shape, generator=g) * 5 if i % 2 == 0 and not (v != 0).any() else v
                 for i, v in enumerate(kept))


@cache
def trained(name: str):
    """`name`-test trained STEPS full-batch steps on 16 generated MOSI-layout rows, and its initial copy."""
    torch.manual_seed(0)
    data = synthetic_data(MOSI_BERT, n=16, seed=0)
    x, y = data.inputs(), torch.from_numpy(data.labels)
    model = create_model(f"{name}-test", MOSI_BERT)
    initial = create_model(f"{name}-test", MOSI_BERT)
    initial.load_state_dict(model.state_dict())
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(STEPS):
        loss, _ = model.training_loss(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval(), initial.eval(), x, y


@pytest.mark.parametrize("name", NAMES)
def test_registered_with_presets(name):
    assert {name, f"{name}-tiny", f"{name}-small", f"{name}-test"} <= set(list_models())


@pytest.mark.parametrize("preset", ["tiny", "small"])
@pytest.mark.parametrize("name", NAMES)
def test_parameter_counts_within_preset_limits(name, preset):
    for spec in NAMED_SPECS.values():
        with warnings.catch_warnings(), torch.device("meta"):  # shapes only: fast
            warnings.simplefilter("ignore")  # pretrained MiniLM weights copied onto meta: a no-op
            model = create_model(f"{name}-{preset}", spec)
        assert model.count_parameters(exclude_text_encoder=True) < LIMITS[preset], spec.name


@pytest.mark.parametrize("name", NAMES)
def test_export_dynamic_lengths_minilm_tokens(name):
    model = create_model(f"{name}-test", LIVE).eval()
    dims = [Dim("text_len", min=2, max=512), Dim("audio_len", min=2, max=4096),
            Dim("vision_len", min=2, max=4096)]
    ep = torch.export.export(model, model.example_inputs(2), dynamic_shapes=tuple({1: d} for d in dims
                                                                                  for _ in "xm"))
    placeholders = {n.target: n for n in ep.graph.nodes if n.op == "placeholder"}
    for spec in ep.graph_signature.input_specs:
        if spec.target and spec.target.startswith(TRAINING_ONLY[name]):
            assert not placeholders[spec.arg.name].users, spec.target  # lifted but never computed
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(1000, 5000, (2, 11), generator=g)
    y = (ids, torch.ones(2, 11), torch.randn(2, 40, LIVE.audio.dim, generator=g), torch.ones(2, 40),
         torch.randn(2, 7, LIVE.vision.dim, generator=g), torch.zeros(2, 7))  # new lengths, vision absent
    torch.testing.assert_close(ep.module()(*y), model(*y), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_training_loss_decreases(name):
    model, initial, x, y = trained(name)
    with torch.no_grad():  # eval mode: no corruption, no sampling, so the two losses compare
        before, _ = initial.training_loss(x, y)
        after, logs = model.training_loss(x, y)
    assert float(after) < 0.7 * float(before), (float(before), float(after))
    assert all(torch.isfinite(torch.tensor(v)) for v in logs.values())


def test_cyin_rebuilds_an_absent_modality_from_the_present_ones():
    model, initial, x, _ = trained("cyin_lite")
    no_audio = absent(x, "LV")
    with torch.no_grad():
        full = model.parts(*x)
        out = model.parts(*no_audio)
        # the fusion reads the audio latent translated from text and vision, not audio's own
        torch.testing.assert_close(out["used"][1], out["rebuilt"][1], atol=0, rtol=0)
        t2a, v2a = model.translators["t2a"](full["z"][0]), model.translators["v2a"](full["z"][2])
        torch.testing.assert_close(out["rebuilt"][1], (t2a + v2a) / 2)
        text_only = model.parts(*absent(x, "L"))
        torch.testing.assert_close(text_only["used"][1], t2a)  # one source left: its translation
        torch.testing.assert_close(out["used"][0], full["z"][0])  # present latents are kept
        # training taught the translators: the rebuilt latent moved toward the complete one
        before = initial.parts(*no_audio)["rebuilt"][1] - initial.parts(*x)["z"][1]
    after = out["rebuilt"][1] - full["z"][1]
    assert after.pow(2).mean() < 0.5 * before.pow(2).mean(), (float(before.pow(2).mean()),
                                                              float(after.pow(2).mean()))


def test_midg_gate_is_a_distribution_and_views_are_scored():
    model, _, x, y = trained("midg_lite")
    with torch.no_grad():
        for subset in ALL_SUBSETS:
            gate = model.parts(*absent(x, subset))["gate"]
            assert gate.shape == (16, model.config["n_experts"]) and (gate >= 0).all()
            torch.testing.assert_close(gate.sum(-1), torch.ones(16))
        model.train()
        _, logs = model.training_loss(x, y)  # three views: as given, frames dropped, modalities dropped
        model.eval()
    assert {"risk_clean", "risk_frames", "risk_modalities"} <= set(logs) and logs["invariance"] >= 0


def test_dashfusion_bottleneck_halves_per_level():
    assert create_model("dashfusion_lite-small", MOSI_BERT).keep_sizes() == [8, 4, 2]
    deep = create_model("dashfusion_lite-test", MOSI_BERT, levels=4, n_bottleneck=4)
    assert deep.keep_sizes() == [4, 2, 1, 1]


def test_dashfusion_contrastive_terms_by_hand():
    e = torch.eye(3)
    # two samples of one class with one vector: the only candidate is the positive, log 1 = 0
    assert float(supervised_contrastive(e[[0, 0]], torch.tensor([1.0, 1.0]), 0.1)) == pytest.approx(0.0)
    # an anchor without a positive is left out: the third sample changes nothing but the denominators
    mixed = supervised_contrastive(e[[0, 0, 1]], torch.tensor([1.0, 1.0, -1.0]), 1.0)
    assert float(mixed) == pytest.approx(math.log((math.e + 1) / math.e))
    # an absent row is neither an anchor nor a negative: same as leaving it out
    g = torch.Generator().manual_seed(0)
    a, b = (torch.nn.functional.normalize(torch.randn(4, 8, generator=g), dim=-1) for _ in range(2))
    flags = torch.tensor([1.0, 1.0, 0.0, 1.0])
    keep = flags > 0
    torch.testing.assert_close(info_nce(a, b, flags, flags, 0.5),
                               info_nce(a[keep], b[keep], torch.ones(3), torch.ones(3), 0.5))
