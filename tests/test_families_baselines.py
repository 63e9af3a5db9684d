"""text_baseline (MiniLM + mean pooling) and mean_pool_mlp: contract, export, heads."""

import pytest
import torch
from torch.export import Dim

from edge_msa.errors import UserError
from edge_msa.features.spec import LIVE, MOSI_BERT, FeatureSpec, ModalitySpec
from edge_msa.features.text import tokenize
from edge_msa.models import create_model
from edge_msa.models.heads import score_error_loss
from edge_msa.models.text_encoder import minilm_encoder
from edge_msa.train.fit import Optim, make_optimizer

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def text_model(one_thread):
    return create_model("text_baseline", LIVE, layers=1).eval()


def sentences(max_len: int = 16):
    ids, mask = tokenize(["a wonderful, moving film", "dull and far too long"], max_len)
    return torch.from_numpy(ids), torch.from_numpy(mask)


def with_text(model, ids, mask):
    _, _, audio, audio_mask, vision, vision_mask = model.example_inputs(ids.shape[0])
    return ids, mask, audio, audio_mask, vision, vision_mask


def test_text_baseline_reads_packaged_minilm_and_ignores_audio_vision(text_model):
    torch.testing.assert_close(text_model.text_encoder.word.weight, minilm_encoder(1).word.weight)
    x = with_text(text_model, *sentences())
    score, unc = text_model(*x)
    assert score.shape == unc.shape == (2,) and bool((unc > 0).all())
    other = (x[0], x[1], torch.randn_like(x[2]), torch.zeros_like(x[3]), torch.randn_like(x[4]), x[5])
    torch.testing.assert_close(text_model(*other)[0], score)
    # padding is masked out: 16 or 40 padded tokens give the same score
    longer = with_text(text_model, *sentences(40))
    torch.testing.assert_close(text_model(*longer)[0], score, atol=1e-5, rtol=0)


def test_text_baseline_exports_with_dynamic_text_length(text_model):
    x = with_text(text_model, *sentences())
    t = Dim("text_len", min=2, max=LIVE.text.max_len)
    ep = torch.export.export(text_model, x, dynamic_shapes=({1: t}, {1: t}, None, None, None, None))
    short = with_text(text_model, *sentences(10))
    for inputs in (x, short):
        torch.testing.assert_close(ep.module()(*inputs)[0], text_model(*inputs)[0])


def test_text_baseline_feature_text_and_bad_kind():
    model = create_model("text_baseline", MOSI_BERT)
    assert model.text_encoder is None and model(*model.example_inputs(3))[0].shape == (3,)
    odd = FeatureSpec(ModalitySpec("tokens:other-vocab", 100, 8), LIVE.audio, LIVE.vision)
    with pytest.raises(UserError, match="tokens:minilm-l6"):
        create_model("text_baseline", odd)


@pytest.mark.parametrize("spec", [LIVE, MOSI_BERT])
def test_mean_pool_mlp_absent_modality_and_export(spec):
    model = create_model("mean_pool_mlp-tiny", spec).eval()
    x = list(model.example_inputs(3))
    x[3] = torch.zeros_like(x[3])  # audio absent: its content must not matter
    score = model(*x)[0]
    noisy = list(x)
    noisy[2] = torch.randn_like(x[2]) * 10
    torch.testing.assert_close(model(*noisy)[0], score)
    dims = [Dim(f"t{i}", min=2, max=m.max_len) for i, m in enumerate((spec.text, spec.audio, spec.vision))]
    ep = torch.export.export(model, tuple(x), dynamic_shapes=tuple({1: d} for d in dims for _ in "xm"))
    cut = tuple(a[:, : a.shape[1] // 2] for a in x)
    torch.testing.assert_close(ep.module()(*cut)[0], model(*cut)[0])


def test_uncertainty_term_never_moves_the_score():
    score = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
    unc = torch.tensor([0.3, 1.0, 0.2], requires_grad=True)
    labels = torch.tensor([1.0, -1.5, 0.0])
    loss, logs = score_error_loss(score, unc, labels)
    loss.backward()
    torch.testing.assert_close(score.grad, torch.sign(score - labels).detach() / 3)  # the L1 gradient only
    assert logs["mae"] == pytest.approx(1 / 3 * (0.5 + 0.5 + 2.0))
    # the Laplace NLL pulls the uncertainty toward the absolute error |score - label|:
    # 0.3 < 0.5 grows, 1.0 > 0.5 shrinks, 0.2 < 2.0 grows (descent goes against the gradient)
    assert unc.grad[0] < 0 < unc.grad[1] and unc.grad[2] < 0


def test_text_encoder_gets_its_own_learning_rate():
    model = create_model("text_baseline", LIVE, layers=1, pretrained=False)
    groups = make_optimizer(model, Optim(lr=1e-3, text_lr=5e-5, weight_decay=0.01)).param_groups
    encoder = {id(p) for p in model.text_encoder.parameters()}
    for g in groups:
        in_encoder = {id(p) in encoder for p in g["params"]}
        assert len(in_encoder) == 1 and g["lr"] == (5e-5 if in_encoder == {True} else 1e-3)
        assert g["weight_decay"] == (0.0 if g["params"][0].ndim < 2 else 0.01)
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
