"""Missing-modality protocols: LNLN drop, training-time random rates, modality subsets, bursts."""

import numpy as np
import pytest
import torch

from edge_msa.data.batch import ARRAY_FIELDS
from edge_msa.data.missing import (
    LNLN_RATES,
    LNLN_SEEDS,
    SUBSETS,
    burst_drop,
    drop_modalities,
    lnln_drop,
    random_missing,
)
from edge_msa.data.synthetic import synthetic_data
from edge_msa.errors import UserError
from edge_msa.features.spec import LIVE, MOSI_BERT
from edge_msa.features.text import CLS_ID, PAD_ID, SEP_ID, UNK_ID


@pytest.fixture(scope="module")
def tokens():
    return synthetic_data(LIVE, 300, seed=0)


@pytest.fixture(scope="module")
def features():
    return synthetic_data(MOSI_BERT, 200, seed=0)


def _zeroed(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    return (after == 0).all(-1) & (before != 0).any(-1)


def test_lnln_rate_holds_and_special_tokens_and_masks_are_kept(tokens):
    out = lnln_drop(tokens, 0.3, seed=LNLN_SEEDS[0])
    special = np.isin(tokens.text, [CLS_ID, SEP_ID, PAD_ID])
    droppable = (tokens.text_mask > 0) & ~special
    unk = out.text != tokens.text
    assert (out.text[unk] == UNK_ID).all() and not unk[~droppable].any()
    assert np.array_equal(out.text[special], tokens.text[special])  # [CLS]/[SEP]/padding untouched
    assert abs(unk.sum() / droppable.sum() - 0.3) < 0.03
    for m in ("audio", "vision"):
        mask = getattr(tokens, f"{m}_mask") > 0
        lost = _zeroed(getattr(tokens, m), getattr(out, m))
        assert abs(lost[mask].mean() - 0.3) < 0.02 and not lost[~mask].any()
        kept = ~lost[..., None] & np.ones_like(getattr(tokens, m), bool)
        assert np.array_equal(getattr(out, m)[kept], getattr(tokens, m)[kept])
    for k in ("text_mask", "audio_mask", "vision_mask", "labels"):
        assert np.array_equal(getattr(out, k), getattr(tokens, k))  # masks mark padding, not loss


def test_lnln_seeds_reproduce_and_input_is_not_modified(tokens):
    before = {k: getattr(tokens, k).copy() for k in ARRAY_FIELDS}
    a, b, c = (lnln_drop(tokens, 0.5, seed=s) for s in (1111, 1111, 1112))
    for k in ARRAY_FIELDS:
        assert np.array_equal(getattr(a, k), getattr(b, k))
        assert np.array_equal(getattr(tokens, k), before[k])
    assert not np.array_equal(a.text, c.text) and not np.array_equal(a.audio, c.audio)


def test_lnln_extreme_rates(tokens):
    assert LNLN_RATES == (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
    same = lnln_drop(tokens, 0.0, seed=1)
    assert all(np.array_equal(getattr(same, k), getattr(tokens, k)) for k in ARRAY_FIELDS)
    gone = lnln_drop(tokens, 1.0, seed=1)
    content = (tokens.text_mask > 0) & ~np.isin(tokens.text, [CLS_ID, SEP_ID])
    assert (gone.text[content] == UNK_ID).all() and not gone.audio.any() and not gone.vision.any()
    with pytest.raises(UserError):
        lnln_drop(tokens, 1.5, seed=1)


def test_lnln_feature_text_keeps_first_and_last_present_frames(features):
    out = lnln_drop(features, 0.9, seed=3)
    lengths = features.text_mask.sum(1).astype(int)
    rows = np.arange(len(features))
    assert np.array_equal(out.text[:, 0], features.text[:, 0])
    assert np.array_equal(out.text[rows, lengths - 1], features.text[rows, lengths - 1])
    lost = _zeroed(features.text, out.text)
    inner = (features.text_mask > 0).copy()
    inner[:, 0] = False
    inner[rows, lengths - 1] = False
    assert abs(lost[inner].mean() - 0.9) < 0.02


def test_random_missing_half_complete_reproducible_and_on_tensors(tokens):
    inputs = tokens.inputs()
    out = random_missing(inputs, max_rate=1.0, generator=torch.Generator().manual_seed(0))
    again = random_missing(inputs, max_rate=1.0, generator=torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(out, again, strict=True))
    assert all(torch.equal(out[i], inputs[i]) for i in (1, 3, 5))  # masks unchanged
    changed = (out[0] != inputs[0]).any(1) | (out[2] != inputs[2]).any((1, 2))
    changed |= (out[4] != inputs[4]).any((1, 2))
    assert (~changed).sum() >= len(tokens) // 2  # half complete (plus rows whose small r dropped nothing)
    assert (~changed).sum() < 0.6 * len(tokens)
    # mean drop over all rows: half at 0, half at U(0, 1) -> 0.25
    present = inputs[3] > 0
    lost = ((out[2] == 0).all(-1) & present).sum() / present.sum()
    assert abs(float(lost) - 0.25) < 0.05
    specials = torch.isin(inputs[0], torch.tensor([CLS_ID, SEP_ID, PAD_ID]))
    assert torch.equal(out[0][specials], inputs[0][specials])
    with pytest.raises(UserError):
        random_missing(inputs, max_rate=2.0)


def test_all_seven_modality_subsets(tokens):
    assert sorted(SUBSETS) == sorted({"L", "A", "V", "LA", "LV", "AV", "LAV"})
    pairs = {"L": ("text", "text_mask"), "A": ("audio", "audio_mask"), "V": ("vision", "vision_mask")}
    for subset in SUBSETS:
        out = drop_modalities(tokens, subset)
        for letter, names in pairs.items():
            for k in names:
                expected = getattr(tokens, k) if letter in subset else np.zeros_like(getattr(tokens, k))
                assert np.array_equal(getattr(out, k), expected), (subset, k)
    tensors = drop_modalities(tokens.inputs(slice(0, 4)), "AV")
    assert not tensors[0].any() and not tensors[1].any() and tensors[3].any()
    arrays = drop_modalities(tuple(getattr(tokens, k)[:4] for k in ARRAY_FIELDS[:-1]), "L")
    assert isinstance(arrays[2], np.ndarray) and not arrays[2].any() and arrays[1].any()
    for bad in ("", "LX", "LL"):
        with pytest.raises(UserError):
            drop_modalities(tokens, bad)


def test_bursts_are_contiguous_inside_the_present_span(tokens):
    out = burst_drop(tokens, prob=1.0, min_frames=10, max_frames=10, seed=5)
    for m in ("audio", "vision"):
        before, after = getattr(tokens, f"{m}_mask"), getattr(out, f"{m}_mask")
        lost = (before > 0) & (after == 0)
        assert not ((before == 0) & (after > 0)).any()
        span = before.sum(1)
        assert np.array_equal(lost.sum(1), np.minimum(span, 10))
        for row in lost:
            idx = np.flatnonzero(row)
            assert np.array_equal(idx, np.arange(idx[0], idx[0] + len(idx)))  # one contiguous run
        assert not getattr(out, m)[lost].any()
    assert np.array_equal(out.text, tokens.text)


def test_burst_probability_seeds_and_no_op(tokens):
    out = burst_drop(tokens, prob=0.5, min_frames=5, max_frames=40, modalities=("audio",), seed=1)
    hit = (out.audio_mask != tokens.audio_mask).any(1)
    assert abs(hit.mean() - 0.5) < 0.1
    assert np.array_equal(out.vision_mask, tokens.vision_mask)
    lengths = (out.audio_mask != tokens.audio_mask).sum(1)[hit]
    assert lengths.min() >= 5 and lengths.max() <= 40
    again = burst_drop(tokens, prob=0.5, min_frames=5, max_frames=40, modalities=("audio",), seed=1)
    assert np.array_equal(again.audio, out.audio) and np.array_equal(again.audio_mask, out.audio_mask)
    none = burst_drop(tokens, prob=0.0, min_frames=5, max_frames=40, seed=1)
    assert np.array_equal(none.audio, tokens.audio) and np.array_equal(none.vision_mask, tokens.vision_mask)
    for kwargs in ({"prob": 2.0}, {"min_frames": 0}, {"modalities": ("text",)}):
        args = {"prob": 0.5, "min_frames": 1, "max_frames": 3, **kwargs}
        with pytest.raises(UserError):
            burst_drop(tokens, **args)
