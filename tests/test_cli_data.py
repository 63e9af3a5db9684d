"""`edge-msa data convert`: every error path is exit 2 with one line; the success path converts."""

import pickle

import numpy as np
import pytest

from edge_msa.cli import main
from edge_msa.data.mmsa import load_mmsa
from edge_msa.data.synthetic import make_mmsa_pickle


@pytest.fixture(scope="module")
def pkl(tmp_path_factory):
    return make_mmsa_pickle(tmp_path_factory.mktemp("cli") / "aligned_50.pkl", 4, "mosi")


def run(capsys, *args):
    code = main(["data", "convert", *map(str, args)])
    return code, capsys.readouterr()


def one_line_error(capsys, *args) -> str:
    code, out = run(capsys, *args)
    assert code == 2
    lines = out.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edge-msa: error: ")
    return lines[0]


def test_success_and_force(pkl, tmp_path, capsys):
    out = tmp_path / "mosi.npz"
    code, printed = run(capsys, pkl, out, "--trust-pickle")
    assert code == 0 and "train 4, valid 4, test 4" in printed.out
    a, b = load_mmsa(pkl, trust_pickle=True), load_mmsa(out)
    assert np.array_equal(a["test"].audio, b["test"].audio) and a["test"].ids == b["test"].ids
    assert "exists; pass --force" in one_line_error(capsys, pkl, out, "--trust-pickle")
    out.write_bytes(b"old")
    code, _ = run(capsys, pkl, out, "--trust-pickle", "--force")
    assert code == 0 and len(load_mmsa(out)["train"]) == 4
    assert [p.name for p in tmp_path.iterdir()] == ["mosi.npz"]  # no partial file left behind


def test_refuses_without_trust(pkl, tmp_path, capsys):
    line = one_line_error(capsys, pkl, tmp_path / "x.npz")
    assert "runs code" in line and "--trust-pickle" in line
    assert not (tmp_path / "x.npz").exists()


@pytest.mark.parametrize("case, expected", [
    ("missing", "no such pickle file"),
    ("not_npz", "must end in .npz"),
    ("no_folder", "does not exist"),
    ("junk", "not a readable pickle"),
    ("layout", "missing split(s)"),
    ("already_npz", "already an .npz"),
])
def test_error_paths(pkl, tmp_path, capsys, case, expected):
    src, out = pkl, tmp_path / "out.npz"
    if case == "missing":
        src = tmp_path / "absent.pkl"
    elif case == "not_npz":
        out = tmp_path / "out.npy"
    elif case == "no_folder":
        out = tmp_path / "nowhere" / "out.npz"
    elif case == "junk":
        src = tmp_path / "junk.pkl"
        src.write_bytes(b"\x00garbage")
    elif case == "layout":
        src = tmp_path / "layout.pkl"
        src.write_bytes(pickle.dumps({"train": {}}))
    elif case == "already_npz":
        src = tmp_path / "in.npz"
        np.savez(src, x=np.zeros(1))
    assert expected in one_line_error(capsys, src, out, "--trust-pickle")
    assert not out.exists()


@pytest.mark.parametrize("args", [[], ["only_one.pkl"], ["a.pkl", "b.npz", "--bogus"]])
def test_usage_errors(capsys, args):
    assert "edge-msa: error:" in one_line_error(capsys, *args)
