"""The model I/O contract, once, for every family in the registry (its smallest preset) on the live
spec: forward(text, text_mask, audio, audio_mask, vision, vision_mask) -> (score [B], uncertainty [B]),
finite under every subset of present modalities, blind to the content of an absent one (mask 0),
batch of one == batched, text padding cut off == kept (what lets bundles take a variable text
length), and a static `torch.export` that computes what eager does.

What a family adds beyond the contract is tested in its own file (test_models_*.py, test_evidence_fusion.py).
"""

from functools import cache

import pytest
import torch

from edge_msa.data.missing import SUBSETS, drop_modalities
from edge_msa.features.spec import LIVE, trim_text
from edge_msa.models import create_model, list_models

# the teacher's forward also reads prompt tokens (a training-time model, never exported):
# tests/test_mmslf_teacher.py holds its contract
PROMPTED = {"mmslf_teacher"}
FAMILIES = sorted({n.split("-")[0] for n in list_models()} - PROMPTED)
ALL_SUBSETS = (*SUBSETS, "")  # "" = every modality absent
ROWS = 4

pytestmark = pytest.mark.usefixtures("one_thread")


def smallest_preset(family: str) -> str:
    names = set(list_models())
    return next(n for n in (f"{family}-test", f"{family}-tiny", family) if n in names)


@cache
def model_and_inputs(family: str):
    torch.manual_seed(0)
    model = create_model(smallest_preset(family), LIVE).eval()
    g = torch.Generator().manual_seed(1)
    t, a, v = 12, 60, 9  # frames per modality
    x = (torch.randint(1000, 5000, (ROWS, t), generator=g), torch.ones(ROWS, t),
         torch.randn(ROWS, a, LIVE.audio.dim, generator=g), torch.ones(ROWS, a),
         torch.rand(ROWS, v, LIVE.vision.dim, generator=g), torch.ones(ROWS, v))
    for i, n in enumerate((3, 20, 4)):  # the last row is shorter in every modality (padding, mask 0)
        x[2 * i + 1][-1, n:] = 0
    return model, x


def absent(x, subset: str, noise: bool = False):
    """Keep the modalities in `subset`; absent ones are zeros, or loud noise with `noise` (their masks
    stay zero, so their content must not matter)."""
    kept = drop_modalities(x, subset) if subset else tuple(torch.zeros_like(v) for v in x)
    if not noise:
        return kept
    g = torch.Generator().manual_seed(7)
    return tuple(torch.randn(v.shape, generator=g) * 5 if i in (2, 4) and not (v != 0).any() else v
                 for i, v in enumerate(kept))


@pytest.mark.parametrize("family", FAMILIES)
def test_every_subset_is_finite_and_blind_to_absent_content(family):
    model, x = model_and_inputs(family)
    with torch.no_grad():
        for subset in ALL_SUBSETS:
            score, uncertainty = model(*absent(x, subset))
            assert score.shape == uncertainty.shape == (ROWS,), subset
            assert torch.isfinite(score).all() and torch.isfinite(uncertainty).all(), subset
            assert (uncertainty >= 0).all(), subset
            noisy = model(*absent(x, subset, noise=True))
            torch.testing.assert_close(noisy, (score, uncertainty), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("family", FAMILIES)
def test_batch_of_one_equals_batched(family):
    model, x = model_and_inputs(family)
    rows = [absent(tuple(v[i : i + 1] for v in x), subset) for i, subset in enumerate(SUBSETS[:ROWS])]
    batch = tuple(torch.cat(parts) for parts in zip(*rows, strict=True))  # each row its own subset
    with torch.no_grad():
        batched = model(*batch)
        singles = [model(*row) for row in rows]
    for out, one in zip(batched, zip(*singles, strict=True), strict=True):
        torch.testing.assert_close(out, torch.cat(one), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("family", FAMILIES)
def test_static_export_computes_what_eager_does(family):
    model, x = model_and_inputs(family)
    program = torch.export.export(model, tuple(v[:1] for v in x))
    other = tuple(v[1:2] for v in x)
    with torch.no_grad():
        torch.testing.assert_close(program.module()(*other), model(*other), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("family", FAMILIES)
def test_cutting_the_text_padding_changes_nothing(family):
    model, x = model_and_inputs(family)
    with torch.no_grad():
        for i in range(ROWS):
            for subset in ("LAV", "AV", "L"):  # text present (padded on the last row) and absent
                row = absent(tuple(v[i : i + 1] for v in x), subset)
                cut = tuple(torch.from_numpy(a) for a in trim_text(tuple(v.numpy() for v in row)))
                assert cut[0].shape[1] <= row[0].shape[1]
                torch.testing.assert_close(model(*cut), model(*row), atol=1e-5, rtol=1e-5)
