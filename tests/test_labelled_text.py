"""A user's own labelled sentences: `--dataset text` (CSV/TSV text,label), any file in VADER's format,
and `eval --split all`, on real sentences from ../shared/data (skipped only when that folder is absent)."""

import csv
import json

import numpy as np
import pytest
from shared_data import SHARED_DATA

from edge_msa.cli import main
from edge_msa.data.corpora import VADER_TO_MOSI, read_vader
from edge_msa.data.datasets import load_dataset
from edge_msa.data.labelled_text import infer_scale, read_labelled_text
from edge_msa.errors import UserError
from edge_msa.features.spec import LIVE

SHARED = SHARED_DATA
MOVIE = SHARED / "vader_icwsm2014" / "movieReviewSnippets_GroundTruth.txt"
N_ROWS = 60


@pytest.fixture(scope="module")
def movie_rows():
    if not MOVIE.is_file():
        pytest.skip(f"{MOVIE} is absent")
    ids, scores, texts = read_vader(MOVIE, "movie")
    return ids[:N_ROWS], scores[:N_ROWS], texts[:N_ROWS]


@pytest.mark.parametrize("values, scale", [
    ([-1, 0, 1, 1], "polarity"), ([1, 2, 5, 4], "stars"), ([-0.5, 0.9, 0.1], "unit"),
    ([-2.5, 3.0, 0.4], "mosi"), ([-3.9, 2.0], "vader"),
])
def test_scale_is_inferred_from_the_values(values, scale):
    assert infer_scale(np.asarray(values, float)) == scale


def test_labels_outside_every_scale_name_the_option():
    with pytest.raises(UserError, match="--label-scale"):
        infer_scale(np.array([0.0, 10.0]))


def test_csv_with_star_labels_and_split_column(tmp_path, movie_rows):
    ids, scores, texts = movie_rows
    stars = np.clip(np.round(scores * 0.5 + 3), 1, 5).astype(int)
    path = tmp_path / "mine.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Text", "Label", "split"])
        for i, (t, s) in enumerate(zip(texts, stars, strict=True)):
            w.writerow([t, s, "valid" if i % 3 == 0 else "train"])
    splits = load_dataset("text", path, LIVE)
    assert set(splits) == {"train", "valid"}
    assert len(splits["valid"]) == N_ROWS // 3 and len(splits["train"]) == N_ROWS - N_ROWS // 3
    np.testing.assert_allclose(splits["valid"].labels, (stars[::3] - 3) * 1.5)
    assert splits["valid"].raw_text == texts[::3]
    assert "stars" in splits["valid"].label_note and "inferred" in splits["valid"].label_note
    assert np.all(splits["valid"].audio_mask == 0) and np.all(splits["valid"].vision_mask == 0)


def test_tsv_with_words_is_polarity_and_hashed_into_splits(tmp_path, movie_rows):
    _, scores, texts = movie_rows
    words = np.where(scores > 0.5, "positive", np.where(scores < -0.5, "negative", "neutral"))
    path = tmp_path / "mine.tsv"
    rows = "".join(f"{t}\t{w}\n" for t, w in zip(texts, words, strict=True))
    path.write_text("sentence\tsentiment\n" + rows)
    _, labels, _, splits, note = read_labelled_text(path)
    assert splits is None and note.startswith("labels: polarity")
    want = np.select([words == "positive", words == "negative"], [1.0, -1.0], 0.0)
    np.testing.assert_array_equal(labels, want)
    data = load_dataset("text", path, LIVE)
    assert sum(len(d) for d in data.values()) == N_ROWS and set(data) == {"train", "valid", "test"}


@pytest.mark.parametrize("content, message", [
    ("words,label\nhello,1\n", "needs a text column"),
    ("text,stars\nhello,1\n", "needs a label column"),
    ("text,label\nhello,great\n", "neither a number nor"),
    ("text,label\nhello,nan\n", "not a finite number"),
    ("text,label\n", "no rows"),
    ("text,label,split\nhello,1,dev\n", "is not one of train, valid, test"),
])
def test_malformed_files_are_one_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(UserError, match=message):
        load_dataset("text", path, LIVE)


def test_any_file_in_vaders_format_is_read(tmp_path, movie_rows):
    ids, scores, texts = movie_rows
    path = tmp_path / "my_ratings.txt"
    path.write_text("".join(f"{i.split('/')[1]}\t{s}\t{t}\r\n"
                            for i, s, t in zip(ids, scores, texts, strict=True)))
    data = load_dataset("vader", path, LIVE)
    got = sorted((i, float(v)) for d in data.values() for i, v in zip(d.ids, d.labels, strict=True))
    want = sorted((f"my_ratings/{i.split('/')[1]}", float(s * VADER_TO_MOSI)) for i, s in zip(ids, scores,
                                                                                             strict=True))
    assert [g[0] for g in got] == [w[0] for w in want]
    np.testing.assert_allclose([g[1] for g in got], [w[1] for w in want], rtol=1e-6)
    with pytest.raises(UserError, match="use --dataset vader"):
        load_dataset("vader-movie", path, LIVE)


def test_eval_split_all_scores_every_row_next_to_the_lexicon(tmp_path, movie_rows, capsys):
    _, scores, texts = movie_rows
    path = tmp_path / "reviews.csv"
    with path.open("w", newline="") as f:
        csv.writer(f).writerows([("text", "label"), *zip(texts, np.round(scores / 4, 3), strict=True)])
    out = tmp_path / "r.json"
    main(["eval", "default", "--dataset", "text", "--data", str(path), "--split", "all", "--json", str(out)])
    result = json.loads(out.read_text())
    assert result["n"] == N_ROWS and result["split"] == "all"
    assert result["labels"].startswith("labels: unit scale")
    assert set(result["rows"]) == {"complete", "VADER lexicon (reference)"}
    # the shipped default's text expert reads movie reviews better than chance on these real rows
    assert result["rows"]["complete"]["corr"] > 0.3
    assert "unit scale" in capsys.readouterr().out
