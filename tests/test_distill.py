import json

import numpy as np
import pytest
import torch

from edge_msa.cli import main
from edge_msa.data.synthetic import synthetic_data
from edge_msa.errors import UserError
from edge_msa.features.spec import LIVE
from edge_msa.models import create_model
from edge_msa.train.distill import (
    Adapters,
    DistillWeights,
    distill,
    distill_loss,
    gap,
    layer_map,
    teacher_targets,
)
from edge_msa.train.evaluate import predict, trim_padding
from edge_msa.train.prompts import FeatureDescriber, attach_prompts
from edge_msa.train.run import load_run


@pytest.fixture(scope="module")
def sets():
    describer = FeatureDescriber(LIVE)
    return (attach_prompts(synthetic_data(LIVE, 32, seed=0), describer),
            attach_prompts(synthetic_data(LIVE, 16, seed=1), describer))


def varied_teacher():
    """A fixed teacher whose scores spread around +1 (an untrained one predicts about 0)."""
    teacher = create_model("mmslf_teacher-tiny", LIVE)
    with torch.no_grad():
        teacher.head.score.weight.mul_(10.0)
        teacher.head.score.bias.add_(1.0)
    return teacher.eval()


def test_distillation_reduces_the_student_teacher_gap(tmp_path, sets):
    train, valid = sets
    teacher, student = varied_teacher(), create_model("mmslf_student-test", LIVE)
    before = gap(student, teacher, train)
    weights = DistillWeights(task=0.0)  # imitation only: the gap is what is optimised
    result = distill(teacher, student, train, valid, tmp_path / "student", epochs=6, batch_size=8,
                     lr=3e-2, text_lr=3e-2, weights=weights, progress=False)
    after = gap(student, teacher, train)
    assert after < 0.6 * before
    assert result["gap_valid"] == pytest.approx(float(np.abs(result["predictions"]["student"]
                                                             - result["predictions"]["teacher"]).mean()))
    history = result["history"]
    assert history[-1]["train"]["prediction"] < history[0]["train"]["prediction"]
    assert {"attention", "fused", "hidden", "text_attention"} <= set(history[0]["train"])
    # the run folder rebuilds the selected student, prompt-free
    loaded, config = load_run(tmp_path / "student")
    assert config["model"] == "mmslf_student" and config["distill"]["weights"]["task"] == 0.0
    np.testing.assert_allclose(predict(loaded, valid.without_prompts()), result["predictions"]["student"],
                               atol=1e-5)


def test_loss_terms_for_a_student_cut_at_minilm_width(sets):
    train, _ = sets
    teacher = varied_teacher()
    student = create_model("mmslf_student-test", LIVE, text_hidden=None, text_heads=None, text_ffn=None)
    assert student.text_encoder.hidden == teacher.text_encoder.hidden == 384
    inputs = trim_padding(train.inputs(slice(0, 4)))
    targets = teacher_targets(teacher, inputs, layer_map(1, 1))
    assert targets["text_attention"].shape[1] == 12  # per-head maps: same head count as the student
    adapters = Adapters((16, 32), (384, 384), 1)
    assert isinstance(adapters.hidden[0], torch.nn.Identity)
    loss, logs = distill_loss(student, adapters, inputs, torch.from_numpy(train.labels[:4]), targets,
                              DistillWeights())
    loss.backward()
    assert set(logs) == {"loss", "task", "prediction", "attention", "fused", "hidden", "text_attention"}
    assert all(np.isfinite(v) for v in logs.values())
    assert student.text_encoder.layers[0].q.weight.grad is not None


def test_weights_parse_and_reject_unknown_terms():
    w = DistillWeights.parse("prediction=2, attention=30")
    assert (w.prediction, w.attention, w.fused, w.task) == (2.0, 30.0, 8.0, 1.0)
    with pytest.raises(UserError, match="unknown loss weight 'atention'"):
        DistillWeights.parse("atention=3")
    with pytest.raises(UserError, match="not name=number"):
        DistillWeights.parse("fused=high")


def test_layer_map_matches_last_to_last():
    assert layer_map(2, 6) == [2, 5] and layer_map(3, 6) == [1, 3, 5] and layer_map(1, 1) == [0]


def test_incompatible_fusion_layouts_are_refused(tmp_path, sets):
    train, valid = sets
    student = create_model("mmslf_student-test", LIVE, audio_stride=5)
    with pytest.raises(UserError, match="fusion layouts differ"):
        distill(varied_teacher(), student, train, valid, tmp_path / "s", epochs=1, progress=False)


def test_cli_teacher_then_student(tmp_path, capsys):
    teacher, student = tmp_path / "teacher", tmp_path / "student"
    assert main(["distill-teacher", "--model", "mmslf_teacher-tiny", "--dataset", "synthetic", "--out",
                 str(teacher), "--epochs", "1", "--max-train", "64"]) == 0
    assert main(["distill", "--teacher", str(teacher), "--student", "mmslf_student-test", "--out",
                 str(student), "--epochs", "1", "--max-train", "64", "--weights", "attention=10",
                 "--json", str(tmp_path / "d.json")]) == 0
    out = capsys.readouterr().out
    assert "student / synthetic" in out and "teacher / synthetic" in out
    result = json.loads((tmp_path / "d.json").read_text())
    assert result["valid_rows"]["student / all"]["mae"] == pytest.approx(result["valid"]["mae"])
    config = json.loads((student / "config.json").read_text())
    assert config["distill"]["teacher"] == str(teacher) and config["data"]["datasets"] == ["synthetic"]
    assert main(["distill", "--teacher", str(student), "--out", str(tmp_path / "x")]) == 2  # not a teacher
