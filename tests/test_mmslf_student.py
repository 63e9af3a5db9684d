import inspect

import pytest
import torch
from torch.export import Dim

from edge_msa.errors import UserError
from edge_msa.features.spec import LIVE, MOSI_BERT
from edge_msa.features.text import tokenize
from edge_msa.models import INPUT_NAMES, create_model
from edge_msa.models.text_encoder import minilm_encoder


def test_tiny_preset_fits_the_edge_budget():
    model = create_model("mmslf_student-tiny", LIVE, pretrained=False)
    assert model.count_parameters() <= 8_000_000  # int8 export is about 1 byte per parameter
    assert tuple(model.text_encoder.word.weight.shape) == (30522, 128)  # factorised vocabulary table
    assert len(model.text_encoder.layers) == 2 and model.text_encoder.position.weight.shape[0] == 64


def test_text_encoder_is_cut_from_minilm():
    student = create_model("mmslf_student-tiny", LIVE).text_encoder.eval()
    minilm = minilm_encoder(2).eval()
    torch.testing.assert_close(student.layers[1].v.weight, minilm.layers[1].v.weight)
    ids, mask = (torch.from_numpy(a) for a in tokenize(["what a wonderful, moving film",
                                                        "the plot was dull and the acting worse"], 16))
    with torch.inference_mode():
        cos = torch.nn.functional.cosine_similarity(student(ids, mask), minilm(ids, mask), dim=-1)
    assert float(cos[mask > 0].mean()) > 0.85  # the rank-128 table keeps MiniLM's token states


def test_exports_with_six_inputs_and_no_prompt():
    model = create_model("mmslf_student-test", LIVE).eval()
    assert tuple(inspect.signature(model.forward).parameters) == INPUT_NAMES
    t = Dim("tokens", min=2, max=LIVE.text.max_len)
    ep = torch.export.export(model, model.example_inputs(1),
                             dynamic_shapes=({1: t}, {1: t}, None, None, None, None))
    assert tuple(ep.graph_signature.user_inputs) == INPUT_NAMES
    inputs = model.example_inputs(1, seed=1)
    short = (inputs[0][:, :20], inputs[1][:, :20]) + inputs[2:]
    torch.testing.assert_close(ep.module()(*short)[0], model(*short)[0])


def test_fixed_expression_prior_adds_only_when_a_face_is_present():
    prior = {"mouthSmileLeft": 2.0, "mouthSmileRight": 2.0, "browDownLeft": -1.0}
    model = create_model("mmslf_student-test", LIVE, expression_prior=prior, prior_alpha=0.5).eval()
    assert "prior_w" in model.state_dict() and "prior_w" not in dict(model.named_parameters())
    x = list(model.example_inputs(2))
    x[5] = torch.zeros_like(x[5])
    x[5][0, :10] = 1.0  # row 0: face in 10 frames; row 1: no face
    with torch.inference_mode():
        out = model.forward_features(*x)
    from edge_msa.features.face import FEATURE_NAMES

    cols = [FEATURE_NAMES.index(n) for n in prior]
    frames = x[4][0, :10][:, cols]
    expected = 0.5 * float((frames * torch.tensor([2.0, 2.0, -1.0])).sum(-1).mean())
    assert float(out["score"][0] - out["learned"][0]) == pytest.approx(expected, abs=1e-5)
    assert float(out["score"][1]) == pytest.approx(float(out["learned"][1]))


def test_prior_rejects_unknown_channels_and_non_blendshape_vision():
    with pytest.raises(UserError, match="unknown channels"):
        create_model("mmslf_student-test", LIVE, expression_prior={"smile": 1.0})
    with pytest.raises(UserError, match="blendshape"):
        create_model("mmslf_student-test", MOSI_BERT, expression_prior={"mouthSmileLeft": 1.0})


def test_feature_text_spec_has_no_text_encoder():
    model = create_model("mmslf_student-test", MOSI_BERT).eval()
    assert model.text_encoder is None
    with torch.inference_mode():
        assert torch.isfinite(model(*model.example_inputs(2))[0]).all()
