import json

import numpy as np
import pytest

from edge_msa.data.missing import LNLN_SEEDS, SUBSETS
from edge_msa.data.synthetic import synthetic_data
from edge_msa.errors import UserError
from edge_msa.features.spec import FeatureSpec, ModalitySpec
from edge_msa.models import create_model
from edge_msa.train.evaluate import evaluate
from edge_msa.train.sweep import sweep, write_sweep
from edge_msa.train.trainer import train

SPEC = FeatureSpec(text=ModalitySpec("features:toy-16", 16, 8), audio=ModalitySpec("audio:toy-6", 6, 10),
                   vision=ModalitySpec("vision:toy-5", 5, 6), name="toy")


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, one_thread):
    data = {"train": synthetic_data(SPEC, 256, seed=0), "valid": synthetic_data(SPEC, 64, seed=1)}
    model = create_model("mean_pool_mlp-tiny", SPEC)
    train(model, data, tmp_path_factory.mktemp("run"), epochs=8, lr=1e-2, progress=False)
    return model.eval(), synthetic_data(SPEC, 96, seed=2)


def test_lnln_sweep(trained, tmp_path):
    model, data = trained
    out = sweep(model, data, "lnln", progress=False)
    rates = [f"{r / 10:.1f}" for r in range(10)]
    assert list(out["rows"]) == rates + ["mean"] and out["seeds"] == list(LNLN_SEEDS) and out["n"] == 96
    for rate in rates:
        runs = out["per_seed"][rate]
        assert len(runs) == 3
        assert out["rows"][rate]["mae"] == pytest.approx(np.mean([r["mae"] for r in runs]))
    assert out["rows"]["mean"]["corr"] == pytest.approx(np.mean([out["rows"][r]["corr"] for r in rates]))
    # rate 0 drops nothing: every seed equals the plain evaluation
    assert all(r == pytest.approx(evaluate(model, data)) for r in out["per_seed"]["0.0"])
    # dropping 90% of every modality hurts a model that learned from them; seeds differ at r > 0
    assert out["rows"]["0.9"]["mae"] > out["rows"]["0.0"]["mae"]
    assert len({r["mae"] for r in out["per_seed"]["0.5"]}) == 3

    write_sweep(out, tmp_path / "s.json", tmp_path / "md" / "s.md", title="toy")
    saved = json.loads((tmp_path / "s.json").read_text())
    assert all(saved["rows"][r] == pytest.approx(out["rows"][r]) for r in out["rows"])
    md = (tmp_path / "md" / "s.md").read_text().splitlines()
    assert md[0] == "### toy" and md[2].startswith("| missing rate | acc2_has0 |")
    table = [line for line in md if line.startswith("| ")]
    assert len(table) == 1 + 11 and table[-1].startswith("| **mean** |")


def test_subsets_sweep(trained, tmp_path):
    model, data = trained
    out = sweep(model, data, "subsets", progress=False)
    assert tuple(out["rows"]) == SUBSETS and "per_seed" not in out
    assert out["rows"]["LAV"] == pytest.approx(evaluate(model, data))
    # every modality carries the label here, so losing two of three must cost accuracy
    for single in "LAV":
        assert out["rows"][single]["mae"] > out["rows"]["LAV"]["mae"]
    write_sweep(out, md_path=tmp_path / "s.md")
    assert "| present |" in (tmp_path / "s.md").read_text() and not (tmp_path / "s.json").exists()


def test_none_and_bad_protocol(trained):
    model, data = trained
    out = sweep(model, data, "none", progress=False)
    assert out["rows"] == {"complete": evaluate(model, data)}
    with pytest.raises(UserError, match="missing protocol"):
        sweep(model, data, "burst", progress=False)
