"""Leave-one-domain-out on the real data: folds never share a domain or a voice across roles; the
references are fitted on the training rows; `eval --protocol domains` retrains per fold."""

import json
from dataclasses import replace

import numpy as np
import pytest
from shared_data import SHARED_DATA

from edge_msa.cli import main
from edge_msa.data.domains import SPEAKER_GROUPS, domain_folds
from edge_msa.features.spec import get_spec
from edge_msa.train.metrics import pearson
from edge_msa.train.probe import LINEAR_PROBE, TRAIN_MEAN, linear_probe, reference_metrics

DATA = SHARED_DATA
pytestmark = [pytest.mark.usefixtures("one_thread"),
              pytest.mark.skipif(not (DATA / "emodb").is_dir(), reason="needs ../shared/data")]


def speaker_of(ids):
    return {i[:2] for i in ids}


@pytest.fixture(scope="module")
def speaker_folds():
    return domain_folds("speakers", DATA, get_spec(None))


def test_speaker_folds_keep_every_voice_in_one_role(speaker_folds):
    assert [f.held_out for f in speaker_folds] == ["+".join(g) for g in SPEAKER_GROUPS]
    for k, fold in enumerate(speaker_folds):
        test, valid, train = (speaker_of(d.ids) for d in (fold.test, fold.valid, fold.train))
        assert test == set(SPEAKER_GROUPS[k]) and valid == set(SPEAKER_GROUPS[(k + 1) % 5])
        assert train == {s for g in SPEAKER_GROUPS for s in g} - test - valid
        assert len(fold.train) + len(fold.valid) + len(fold.test) == 535  # every EmoDB file, once
    # each group is held out exactly once
    assert sorted(s for f in speaker_folds for s in speaker_of(f.test.ids)) == sorted(
        s for g in SPEAKER_GROUPS for s in g)


def test_text_folds_hold_out_a_whole_corpus():
    folds = domain_folds("text", DATA, get_spec(None), max_test=300)
    prefix = {"movie": "movie/", "amazon": "amazon/", "meld": "meld-"}
    for fold in folds:
        assert len(fold.test) == 300 and all(i.startswith(prefix[fold.held_out]) for i in fold.test.ids)
        seen = fold.train.ids + fold.valid.ids
        assert not any(i.startswith(prefix[fold.held_out]) for i in seen)
        others = {d for d in prefix if d != fold.held_out}
        assert {d for d in prefix if any(i.startswith(prefix[d]) for i in fold.train.ids)} == others
        assert not set(fold.train.ids) & set(fold.valid.ids)


def test_linear_probe_learns_a_voice_statistic_and_the_mean_reference_is_constant(speaker_folds):
    fold = speaker_folds[0]
    # plant the label in one channel's level: the probe must find it on the held-out voices
    def planted(d):
        audio = d.audio.copy()
        audio[..., 0] += (d.labels[:, None] * 3.0) * d.audio_mask
        return replace(d, audio=audio)

    train, test = planted(fold.train), planted(fold.test)
    assert pearson(linear_probe(train, test), test.labels) > 0.95
    # on the real features it is fitted on the training voices only: refitting with the
    # held-out rows' labels shuffled changes nothing
    shuffled = replace(fold.test, labels=np.random.default_rng(0).permutation(fold.test.labels))
    np.testing.assert_allclose(linear_probe(fold.train, fold.test), linear_probe(fold.train, shuffled))
    refs = reference_metrics(fold.train, fold.test, "sims")
    assert set(refs) == {TRAIN_MEAN, LINEAR_PROBE} and refs[TRAIN_MEAN]["corr"] == 0.0


def test_eval_protocol_domains_retrains_per_speaker_group(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--model", "mean_pool_mlp-tiny", "--dataset", "emodb", "--data", str(DATA),
                 "--epochs", "2", "--lr", "3e-3", "--out", str(run)]) == 0
    out, md = tmp_path / "domains.json", tmp_path / "domains.md"
    argv = ["eval", str(run), "--protocol", "domains", "--data", str(DATA), "--json", str(out),
            "--markdown", str(md)]
    assert main(argv) == 0
    result = json.loads(out.read_text())
    groups = ["+".join(g) for g in SPEAKER_GROUPS]
    assert result["domains"] == "speakers" and list(result["folds"]) == groups
    rows = result["rows"]
    assert {*groups, "mean", f"mean | {TRAIN_MEAN}", f"mean | {LINEAR_PROBE}"} <= set(rows)
    assert rows["mean"]["mae"] == pytest.approx(np.mean([rows[g]["mae"] for g in groups]))
    assert sum(f["test"] for f in result["folds"].values()) == 535
    assert "held-out domain" in md.read_text()
    capsys.readouterr()
    assert main(argv) == 2  # the outputs exist: refused before any training, without --force
    assert "pass --force to replace it" in capsys.readouterr().err


@pytest.mark.parametrize("extra, message", [
    (["--protocol", "folds"], "unknown --protocol"),
    (["--protocol", "domains", "--domains", "genres"], "unknown --domains"),
    (["--protocol", "domains", "--missing", "lnln"], "complete inputs"),
    (["--protocol", "domains", "--max-eval", "0"], "--max-eval"),
])
def test_eval_protocol_domains_refuses_bad_options_in_one_line(tmp_path, capsys, extra, message):
    run = tmp_path / "run"
    run.mkdir()
    assert main(["eval", str(run), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("edge-msa: error:") and message in err and "\n" not in err
