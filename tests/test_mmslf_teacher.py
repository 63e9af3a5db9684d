import torch

from edge_msa.features.spec import LIVE, MOSI_BERT
from edge_msa.features.text import tokenize
from edge_msa.models import create_model


def test_prompt_shares_the_text_minilm_and_only_top_layers_train():
    model = create_model("mmslf_teacher-tiny", LIVE, text_layers=3, text_trainable_layers=1)
    assert model.prompt_encoder is model.text_encoder
    assert not any(k.startswith("prompt_minilm") for k in model.state_dict())  # stored once
    enc = model.text_encoder
    assert not enc.word.weight.requires_grad and not enc.layers[1].v.weight.requires_grad
    assert enc.layers[2].k.weight.requires_grad and model.head.score.weight.requires_grad


def test_missing_modalities_and_prompts_stay_finite():
    model = create_model("mmslf_teacher-tiny", LIVE).eval()
    x = list(model.example_inputs(2))
    prompt, prompt_mask = (torch.from_numpy(a) for a in tokenize(["The voice is loud.", "A smile."], 12))
    for absent in ((1,), (3,), (5,), (1, 3, 5)):
        y = list(x)
        for i in absent:
            y[i] = torch.zeros_like(y[i])
        with torch.inference_mode():
            out = model.forward_features(*y, prompt, prompt_mask)
        assert all(torch.isfinite(v).all() for v in out.values())
        # fusion attention: [B, tokens, null + text + audio slots + vision slots]
        assert out["attention"].shape == (2, 4, 1 + 64 + 30 + 20)


def test_feature_text_teacher_gets_its_own_prompt_encoder():
    model = create_model("mmslf_teacher-tiny", MOSI_BERT).eval()
    assert model.text_encoder is None and model.prompt_encoder is model.prompt_minilm
    prompt, prompt_mask = (torch.from_numpy(a) for a in tokenize(["Nodding.", ""], 8))
    prompt_mask[1] = 0
    with torch.inference_mode():
        score, _ = model(*model.example_inputs(2), prompt, prompt_mask)
    assert torch.isfinite(score).all()
