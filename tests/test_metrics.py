"""msa_metrics on cases worked out by hand (MMSA conventions, see edge_msa/train/metrics.py)."""

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score

from edge_msa.errors import UserError
from edge_msa.train.metrics import MOSI_KEYS, SIMS_KEYS, msa_metrics, weighted_f1

Y = [-2.0, -1.0, 0.0, 1.0, 2.0, 0.4]
P = [-1.6, 0.2, -0.3, 1.4, 2.6, -0.5]


def test_mosi_keys_and_hand_computed_values():
    m = msa_metrics(Y, P, "mosi")
    assert tuple(m) == MOSI_KEYS
    # >= 0 split: true F F T T T T, pred F T F T T F -> 3 of 6 agree
    assert m["acc2_has0"] == pytest.approx(0.5)
    # class False: tp 1 fp 2 fn 1 -> F1 0.4 (support 2); class True: tp 2 fp 1 fn 2 -> 4/7 (support 4)
    assert m["f1_has0"] == pytest.approx((2 * 0.4 + 4 * 4 / 7) / 6)
    # the sample whose TRUE label is 0 is dropped (its prediction -0.3 would have counted as right)
    assert m["acc2_non0"] == pytest.approx(3 / 5)
    # class False: tp 1 fp 1 fn 1 -> 0.5 (support 2); class True: tp 2 fp 1 fn 1 -> 2/3 (support 3)
    assert m["f1_non0"] == pytest.approx((2 * 0.5 + 3 * 2 / 3) / 5)
    # rounded: true -2 -1 0 1 2 0, pred -2 0 -0 1 3 -0 (-0.5 rounds half to even, as numpy/MMSA)
    assert m["acc7"] == pytest.approx(4 / 6)
    assert m["acc5"] == pytest.approx(5 / 6)  # 2.6 clips to 2 and now matches
    assert m["mae"] == pytest.approx((0.4 + 1.2 + 0.3 + 0.4 + 0.6 + 0.9) / 6)
    assert m["corr"] == pytest.approx(np.corrcoef(Y, P)[0, 1])


def test_f1_argument_order_matters():
    yt, yp = np.array(Y) >= 0, np.array(P) >= 0
    # same per-class F1 (0.4, 4/7) but weighted by the supports of the FIRST argument
    assert weighted_f1(yt, yp) == pytest.approx((2 * 0.4 + 4 * 4 / 7) / 6)
    assert weighted_f1(yp, yt) == pytest.approx((3 * 0.4 + 3 * 4 / 7) / 6)
    assert weighted_f1(yt, yp) != pytest.approx(weighted_f1(yp, yt))


def test_weighted_f1_matches_sklearn_including_unpredicted_classes():
    rng = np.random.default_rng(0)
    for _ in range(50):
        a, b = rng.integers(0, 3, 30), rng.integers(0, 3, 30)
        b[: rng.integers(0, 30)] = 1  # often a class is never predicted: its F1 is 0
        assert weighted_f1(a, b) == pytest.approx(f1_score(a, b, average="weighted", zero_division=0))


def test_sims_keys_bins_and_clipping():
    y = [-1.0, -0.4, 0.0, 0.1, 0.5, 1.0]
    p = [-1.5, 0.0, 0.05, 0.2, 0.8, 0.6]  # -1.5 is clipped to -1
    m = msa_metrics(y, p, "sims")
    assert tuple(m) == SIMS_KEYS
    # 2 classes (-1.01, 0], (0, 1.01]: a prediction of exactly 0 is negative; true 0 vs 0.05 misses
    assert m["acc2"] == pytest.approx(5 / 6)
    # 3 classes: true 0 0 1 1 2 2, pred 0 1 1 2 2 2
    assert m["acc3"] == pytest.approx(4 / 6)
    # 5 classes: true 0 1 2 2 3 4, pred 0 2 2 3 4 3
    assert m["acc5"] == pytest.approx(2 / 6)
    # class 0: tp 2 fp 0 fn 1 -> 0.8; class 1: tp 3 fp 1 fn 0 -> 6/7; equal supports
    assert m["f1"] == pytest.approx((0.8 + 6 / 7) / 2)
    assert m["mae"] == pytest.approx((0 + 0.4 + 0.05 + 0.1 + 0.3 + 0.4) / 6)  # on clipped values


def test_fractions_in_unit_interval_and_tensor_input():
    rng = np.random.default_rng(1)
    y = torch.tensor(rng.uniform(-3, 3, 100), dtype=torch.float32)
    p = y.clone().requires_grad_(True)  # a model output straight from training
    m = msa_metrics(y, p, "mosi")
    for k in ("acc2_has0", "f1_has0", "acc2_non0", "f1_non0", "acc5", "acc7"):
        assert m[k] == pytest.approx(1.0)
    assert m["mae"] == 0.0 and m["corr"] == pytest.approx(1.0)


def test_corr_is_zero_for_constant_predictions_and_nan_when_all_labels_are_zero():
    assert msa_metrics([1.0, -1.0, 2.0], [0.5, 0.5, 0.5])["corr"] == 0.0
    m = msa_metrics([0.0, 0.0], [1.0, -1.0])
    assert np.isnan(m["acc2_non0"]) and np.isnan(m["f1_non0"])
    assert m["acc2_has0"] == 0.5


@pytest.mark.parametrize("args", [([1.0, 2.0], [1.0], "mosi"), ([], [], "mosi"), ([1.0], [1.0], "iemocap")])
def test_bad_input_is_a_user_error(args):
    with pytest.raises(UserError):
        msa_metrics(*args)


def test_a_constant_prediction_with_float32_jitter_has_no_correlation():
    from edge_msa.train.metrics import pearson

    rng = np.random.default_rng(0)
    labels = rng.normal(size=200)
    # one value, as a float32 model returns it over batches: it differs only in the last bits
    jitter = (-0.466 + rng.integers(-3, 4, size=200) * 3e-8 + labels * 1e-8).astype(np.float64)
    assert pearson(labels, jitter) == 0.0  # the formula alone says 0.09 from the last bits
    assert pearson(labels, labels * 2 + 1) == pytest.approx(1.0)
