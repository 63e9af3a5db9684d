import json
import shutil

import numpy as np
import pytest

from edge_msa.cli import main
from edge_msa.data.mmsa import NPZ_FORMAT
from edge_msa.data.synthetic import make_mmsa_pickle
from edge_msa.features.spec import MOSI_BERT

MELD_HEADER = ("Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,"
               "StartTime,EndTime")
TINY = ["--model", "mean_pool_mlp-tiny", "--dataset", "synthetic"]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    run = tmp_path_factory.mktemp("cli") / "run"
    assert main(["train", *TINY, "--out", str(run), "--epochs", "2", "--lr", "3e-3"]) == 0
    return run


def read(path):
    return json.loads(path.read_text())


def test_train_then_eval_reproduces_the_run_metrics(run_dir, tmp_path, capsys):
    assert sorted(p.name for p in run_dir.iterdir()) == ["config.json", "metrics.json", "model.safetensors"]
    saved = read(run_dir / "metrics.json")
    config = read(run_dir / "config.json")
    assert config["model"] == "mean_pool_mlp" and config["train"]["epochs"] == 2
    assert config["data"]["dataset"] == "synthetic" and config["data"]["sizes"] == {"train": 256, "valid": 64,
                                                                                    "test": 64}
    capsys.readouterr()
    for split in ("valid", "test"):
        out = tmp_path / f"{split}.json"
        argv = ["eval", str(run_dir), "--dataset", "synthetic", "--split", split, "--json", str(out)]
        assert main(argv) == 0
        result = read(out)
        assert result["split"] == split and result["rows"]["complete"] == pytest.approx(saved[split])
    printed = capsys.readouterr().out
    assert "acc2_non0" in printed and "complete" in printed


def test_eval_bundle_matches_the_eager_run(run_dir, tmp_path):
    # a real fp32 ONNX export of the run, scored through onnxruntime: same split, same numbers
    from edge_msa.workflows.export_run import export_run

    export_run(run_dir, "onnx-cpu-fp32", tmp_path / "bundle", progress=False)
    eager, exported = tmp_path / "eager.json", tmp_path / "exported.json"
    assert main(["eval", str(run_dir), "--json", str(eager)]) == 0  # dataset: the one recorded
    assert main(["eval", str(tmp_path / "bundle"), "--backend", "onnxruntime", "--json", str(exported)]) == 0
    assert read(exported)["dataset"] == "synthetic"
    assert read(exported)["rows"]["complete"] == pytest.approx(read(eager)["rows"]["complete"], abs=1e-4)


def test_eval_subsets_markdown(run_dir, tmp_path):
    md = tmp_path / "sub.md"
    assert main(["eval", str(run_dir), "--dataset", "synthetic", "--missing", "subsets",
                 "--markdown", str(md)]) == 0
    rows = [line for line in md.read_text().splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| present |") and [r.split(" | ")[0] for r in rows[1:]] == [
        "| LAV", "| LA", "| LV", "| AV", "| L", "| A", "| V"]


def test_train_subsample_and_missing_train(tmp_path):
    run = tmp_path / "r"
    assert main(["train", *TINY, "--out", str(run), "--epochs", "1", "--max-train", "50",
                 "--missing-train", "--seed", "3", "--patience", "1", "--select", "corr"]) == 0
    config = read(run / "config.json")
    assert config["data"]["sizes"]["train"] == 50 and config["data"]["max_train"] == 50
    assert config["train"]["missing"] == "random_missing" and config["train"]["seed"] == 3
    assert read(run / "metrics.json")["selected"] == {"epoch": 1, "by": "corr"}
    # --force writes into a non-empty folder
    assert main(["train", *TINY, "--out", str(run), "--epochs", "1", "--max-train", "20", "--force"]) == 0
    assert read(run / "config.json")["data"]["sizes"]["train"] == 20


def test_mmsa_file_spec_is_inferred(tmp_path):
    """The issue's command for MMSA users: a .pkl as --data implies --dataset mmsa and its spec."""
    pkl = make_mmsa_pickle(tmp_path / "unaligned_50.pkl", 16, "mosi")
    run = tmp_path / "r"
    args = ["--data", str(pkl), "--trust-pickle"]
    assert main(["train", "--model", "lnln_lite-tiny", *args, "--out", str(run), "--epochs", "1"]) == 0
    config = read(run / "config.json")
    assert config["data"]["dataset"] == "mmsa"
    spec = config["spec"]
    assert spec["name"].startswith(MOSI_BERT.name) and spec["text"]["kind"] == "features:bert-768"
    assert main(["eval", str(run), "--dataset", "mmsa", *args, "--split", "test"]) == 0


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.mark.parametrize("case, args, message", [
    ("missing data file", ["train", *TINY[:2], "--dataset", "mmsa", "--data", "{tmp}/nope.pkl",
                           "--out", "{tmp}/o"], "no such data file"),
    ("unknown model", ["train", "--model", "nope", "--dataset", "synthetic", "--out", "{tmp}/o"],
     "unknown model 'nope'"),
    ("unknown dataset", ["train", *TINY[:2], "--dataset", "nope", "--out", "{tmp}/o"],
     "unknown dataset 'nope'"),
    ("untrusted pickle", ["train", *TINY[:2], "--dataset", "mmsa", "--data", "{tmp}/x.pkl",
                          "--out", "{tmp}/o"], "--trust-pickle"),
    ("existing out dir", ["train", *TINY, "--out", "{tmp}/full"], "not empty"),
    ("bad max-train", ["train", *TINY, "--out", "{tmp}/o", "--max-train", "0"], "--max-train"),
    ("bad select", ["train", *TINY, "--out", "{tmp}/o", "--select", "bogus"], "select"),
    ("bad split", ["eval", "{run}", "--dataset", "synthetic", "--split", "train"], "unknown split 'train'"),
    ("bad missing", ["eval", "{run}", "--dataset", "synthetic", "--missing", "half"], "unknown --missing"),
    ("no such run", ["eval", "{tmp}/nope", "--dataset", "synthetic"], "no such run or bundle"),
    ("not a run", ["eval", "{tmp}", "--dataset", "synthetic"], "neither a run folder"),
    ("eval missing data", ["eval", "{run}", "--dataset", "vader", "--data", "{tmp}/nope"], "no such data"),
    ("no test split", ["eval", "{run}", "--dataset", "meld", "--data", "{tmp}", "--split", "test"],
     "has no 'test' split"),
    ("object array npz", ["eval", "{run}", "--data", "{tmp}/objects.npz"], "not a readable MMSA .npz"),
    ("truncated weights", ["eval", "{tmp}/truncated"], "model.safetensors is not a readable safetensors"),
    ("export truncated weights", ["export", "{tmp}/truncated", "--recipe", "onnx-cpu-fp32",
                                  "--out", "{tmp}/o"], "model.safetensors is not a readable safetensors"),
    ("nan lr", ["train", *TINY, "--out", "{tmp}/o", "--lr", "nan"], "--lr must be a positive number, got"),
    ("negative lr", ["train", *TINY, "--out", "{tmp}/o", "--lr", "-1"], "--lr must be a positive number"),
    ("zero text lr", ["train", *TINY, "--out", "{tmp}/o", "--text-lr", "0"], "--text-lr must be a positive"),
    ("negative decay", ["train", *TINY, "--out", "{tmp}/o", "--weight-decay", "-1"], "--weight-decay"),
    ("out is a file", ["train", *TINY, "--out", "{tmp}/x.pkl", "--force"], "x.pkl is a file, not a folder"),
])
def test_errors_are_one_line_exit_2(case, args, message, run_dir, tmp_path, capsys):
    make_mmsa_pickle(tmp_path / "x.pkl", 4, "mosi")
    (tmp_path / "meld").mkdir()  # a two-row MELD in the real layout: train + dev, no test
    for name in ("train_sent_emo.csv", "dev_sent_emo.csv"):
        (tmp_path / "meld" / name).write_text(f"{MELD_HEADER}\n1,Oh great.,Joey,joy,positive,0,0,1,1,a,b\n"
                                              "2,No way.,Ross,anger,negative,0,1,1,1,a,b\n")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    # an MMSA .npz in the converted layout, but one array holds Python objects (np.load would unpickle)
    np.savez(tmp_path / "objects.npz", **{"__format__": np.array(NPZ_FORMAT), "__source__": np.array("x"),
                                          "train/regression_labels": np.array([1.0, None], dtype=object)})
    shutil.copytree(run_dir, tmp_path / "truncated")  # an interrupted copy: half the weights
    weights = tmp_path / "truncated" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    argv = [a.format(tmp=tmp_path, run=run_dir) for a in args]
    capsys.readouterr()
    assert main(argv) == 2, case
    line = _error_line(capsys)
    assert line.startswith("edge-msa: error: ") and message in line, line
    assert not (tmp_path / "o").exists()
