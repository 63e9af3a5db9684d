"""VADER and MELD readers on the real files in ../shared/data (skipped only when that folder is absent)."""

import csv
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from shared_data import SHARED_DATA

from edge_msa.data.corpora import VADER_TO_MOSI, fix_mojibake, hash_split, load_meld
from edge_msa.data.datasets import load_dataset
from edge_msa.errors import UserError
from edge_msa.features.spec import LIVE, MOSI_BERT

MOVIE_ROWS, AMAZON_ROWS = 10605, 3708
MELD_ROWS = {"train": 9989, "valid": 1109}


@pytest.fixture(scope="module")
def shared_data() -> Path:
    path = SHARED_DATA
    if not path.is_dir():
        pytest.skip(f"shared data folder {path} is absent")
    return path


@pytest.fixture(scope="module")
def vader(shared_data):
    return load_dataset("vader", shared_data, LIVE)


@pytest.fixture(scope="module")
def meld(shared_data):
    return load_dataset("meld", shared_data, LIVE)


def test_vader_counts_and_disjoint_splits(vader):
    ids = {s: set(d.ids) for s, d in vader.items()}
    assert set(vader) == {"train", "valid", "test"}
    assert sum(len(v) for v in ids.values()) == len(set().union(*ids.values())) == MOVIE_ROWS + AMAZON_ROWS
    total = MOVIE_ROWS + AMAZON_ROWS
    for split, frac in (("train", 0.8), ("valid", 0.1), ("test", 0.1)):
        assert abs(len(ids[split]) / total - frac) < 0.01
    # a regression pin: sha256 splits are the same on every machine and numpy version
    assert {s: len(v) for s, v in ids.items()} == {"train": 11486, "valid": 1392, "test": 1435}


def test_vader_scale_mapping_text_and_absent_modalities(vader, shared_data):
    movie = shared_data / "vader_icwsm2014/movieReviewSnippets_GroundTruth.txt"
    first = movie.read_bytes().decode("utf-8").split("\r\n")[0]  # CRLF line ends
    raw_id, raw_score, sentence = first.split("\t")
    split = next(d for d in vader.values() if f"movie/{raw_id}" in d.ids)
    i = split.ids.index(f"movie/{raw_id}")
    assert split.labels[i] == pytest.approx(float(raw_score) * VADER_TO_MOSI)
    assert split.raw_text[i] == sentence and not sentence.endswith("\r")
    for d in vader.values():
        assert d.scale == "mosi" and d.labels.min() >= -3 and d.labels.max() <= 3
        assert d.text.shape == (len(d), 64) and (d.text[:, 0] == 101).all()
        assert d.audio.shape == (len(d), 1, 42) and d.vision.shape == (len(d), 1, 62)
        assert not d.audio_mask.any() and not d.vision_mask.any() and not d.audio.any()


def test_vader_split_is_stable_and_seeded():
    ids = [f"movie/{i}" for i in range(2000)]
    a, b = hash_split(ids, seed=0), hash_split(list(reversed(ids)), seed=0)
    assert {s: {ids[i] for i in v} for s, v in a.items()} == \
        {s: {ids[::-1][i] for i in v} for s, v in b.items()}  # row order does not matter
    c = hash_split(ids, seed=1)
    assert not np.array_equal(a["test"], c["test"])


def test_vader_corpus_choice_keeps_each_sentence_in_its_split(vader, shared_data):
    amazon = load_dataset("vader-amazon", shared_data, LIVE)
    assert sum(len(d) for d in amazon.values()) == AMAZON_ROWS
    for split, d in amazon.items():
        assert all(i.startswith("amazon/") for i in d.ids)
        assert set(d.ids) == {i for i in vader[split].ids if i.startswith("amazon/")}
    amazon_file = shared_data / "vader_icwsm2014/amazonReviewSnippets_GroundTruth.txt"
    one_file = load_dataset("vader", amazon_file, LIVE)
    assert {s: d.ids for s, d in one_file.items()} == {s: d.ids for s, d in amazon.items()}


def test_meld_counts_labels_and_quotes(meld, shared_data):
    assert set(meld) == {"train", "valid"}
    for split, name in (("train", "train_sent_emo.csv"), ("valid", "dev_sent_emo.csv")):
        with open(shared_data / "meld" / name, encoding="utf-8", newline="") as f:
            expected = Counter(r["Sentiment"] for r in csv.DictReader(f))
        d = meld[split]
        assert len(d) == MELD_ROWS[split] == sum(expected.values())
        got = Counter(d.labels.tolist())
        assert got == {-1.0: expected["negative"], 0.0: expected["neutral"], 1.0: expected["positive"]}
        assert len(set(d.ids)) == len(d)
    texts = meld["train"].raw_text
    assert texts[0] == "also I was the point person on my company’s transition from the KL-5 to GR-6 system."
    assert not any("â€" in t for t in texts)


def test_meld_cp1252_file_and_mojibake(tmp_path):
    header = "Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID\r\n"
    rows = "1,You must’ve had your hands full.,A,joy,positive,0,1\r\n2,Oh…,B,sadness,negative,0,2\r\n"
    (tmp_path / "train_sent_emo.csv").write_bytes((header + rows).encode("cp1252"))
    (tmp_path / "dev_sent_emo.csv").write_bytes((header + rows).encode("utf-8-sig"))
    data = load_meld(tmp_path / "train_sent_emo.csv", LIVE)  # a file path: its folder is used
    for split in ("train", "valid"):
        assert data[split].raw_text == ["You must’ve had your hands full.", "Oh…"]
        assert data[split].labels.tolist() == [1.0, -1.0]
    assert fix_mojibake("donâ€™t") == "don’t" and fix_mojibake("café") == "café"


def test_corpus_errors(shared_data, tmp_path):
    with pytest.raises(UserError, match="tokens"):
        load_dataset("meld", shared_data, MOSI_BERT)  # BERT-feature spec: no features for raw text
    (tmp_path / "meld").mkdir()
    (tmp_path / "meld/train_sent_emo.csv").write_text("Sr No.,Utterance,Sentiment,Dialogue_ID,Utterance_ID\n")
    with pytest.raises(UserError, match="cannot find dev_sent_emo.csv"):
        load_dataset("meld", tmp_path, LIVE)
    with pytest.raises(UserError, match="does not exist"):
        load_dataset("vader", tmp_path / "nowhere", LIVE)
    amazon_file = shared_data / "vader_icwsm2014/amazonReviewSnippets_GroundTruth.txt"
    with pytest.raises(UserError, match="is the amazon corpus; use --dataset vader"):
        load_dataset("vader-movie", amazon_file, LIVE)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(UserError, match="is not VADER's movie file"):
        load_dataset("vader-movie", tmp_path / "notes.txt", LIVE)
    with pytest.raises(UserError, match="notes.txt:1: expected 'id<TAB>score<TAB>sentence'"):
        load_dataset("vader", tmp_path / "notes.txt", LIVE)  # any file is read, and must be in the format
    bad = tmp_path / "movieReviewSnippets_GroundTruth.txt"
    bad.write_text("1\tgreat\tA sentence.\r\n")
    with pytest.raises(UserError, match="movieReviewSnippets_GroundTruth.txt:1"):
        load_dataset("vader", bad, LIVE)
