import json

from edge_msa.cli import main
from edge_msa.features.spec import NAMED_SPECS

LIMITS = {"tiny": 1_000_000, "small": 5_000_000}


def listing(tmp_path, *args: str) -> dict[str, dict]:
    out = tmp_path / f"models{'-'.join(args)}.json"  # one file per listing: outputs are never replaced
    assert main(["models", *args, "--json", str(out)]) == 0
    return {r["model"]: r for r in json.loads(out.read_text())["models"]}


def test_models_prints_presets_counts_and_specs_of_both_families(tmp_path, capsys):
    for family in ("lnln_lite", "hme_lite"):
        rows = listing(tmp_path, "--family", family)
        printed = capsys.readouterr().out
        assert sorted(rows) == [family, f"{family}-small", f"{family}-tiny"]
        for preset, limit in LIMITS.items():
            r = rows[f"{family}-{preset}"]
            assert r["family"] == family and r["preset"] == preset and r["model"] in printed
            assert r["accepts"] == sorted(NAMED_SPECS)  # MiniLM tokens and every BERT-feature spec
            assert set(r["text_kinds"]) == {"tokens:minilm-l6", "features:bert-768"}
            assert 0 < r["params"] <= r["params_max"] <= limit
            assert r["total_params"] - r["params"] > 20_000_000  # the MiniLM, excluded from params
            assert f"{r['params'] / 1e6:.2f}M" in printed
        assert rows[f"{family}-tiny"]["params"] < rows[f"{family}-small"]["params"]


def test_models_refuses_an_unknown_family(capsys):
    assert main(["models", "--family", "nope"]) == 2
    assert "unknown model 'nope'" in capsys.readouterr().err
