from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from shared_data import SHARED_DATA

from edge_msa.data.emodb import FILE_NAME, VALENCE, load_emodb, split_files
from edge_msa.errors import UserError
from edge_msa.features.audio import AudioFeaturizer
from edge_msa.features.media import read_audio
from edge_msa.features.spec import LIVE, MOSI_BERT, ModalitySpec

DATA = SHARED_DATA
MALE = {"03", "10", "11", "12", "15"}


def _speaker(f: Path) -> str:
    return FILE_NAME.match(f.name)[1]


@pytest.fixture
def small_emodb(tmp_path, monkeypatch):
    """Sentence a01 of every speaker (all emotions): real files, a few seconds to extract."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    wav = tmp_path / "emodb" / "wav"
    wav.mkdir(parents=True)
    for f in sorted((DATA / "emodb" / "wav").glob("??a01*.wav")):
        (wav / f.name).symlink_to(f)
    return tmp_path


def test_split_by_speaker_gender_balanced_and_complete():
    splits = split_files(DATA)
    speakers = {k: {_speaker(f) for f in v} for k, v in splits.items()}
    assert speakers["train"].isdisjoint(speakers["valid"]) and speakers["train"].isdisjoint(speakers["test"])
    assert speakers["valid"].isdisjoint(speakers["test"])
    assert set().union(*speakers.values()) == MALE | {"08", "09", "13", "14", "16"}
    for names in speakers.values():
        assert len(names & MALE) == len(names - MALE)  # as many men as women
    assert {k: len(v) for k, v in splits.items()} == {"train": 304, "valid": 104, "test": 127}
    assert sum(len(v) for v in splits.values()) == len(list((DATA / "emodb" / "wav").glob("*.wav")))


def test_valence_mapping():
    assert VALENCE["F"] == 1.0 and VALENCE["N"] == 0.0 and VALENCE["L"] == -0.5
    assert all(VALENCE[e] == -1.0 for e in "WEAT")
    assert set(VALENCE) == set("WLEAFTN")


@pytest.mark.parametrize("text_kind", ["tokens", "features"])
def test_shapes_labels_masks(small_emodb, text_kind):
    spec = LIVE if text_kind == "tokens" else replace(LIVE, text=ModalitySpec("features:bert-768", 768, 50))
    data = load_emodb(small_emodb, spec)
    assert set(data) == {"train", "valid", "test"}
    for split in data.values():
        n = len(split)
        assert n > 0 and split.scale == "sims"
        assert split.audio.shape == (n, 300, 42) and split.audio_mask.shape == (n, 300)
        assert np.all(split.audio_mask.sum(1) == 100)  # 2.00 s at 50 Hz
        assert np.all(split.audio[:, 100:] == 0) and np.isfinite(split.audio).all()
        assert not split.text.any() and not split.text_mask.any() and split.text_mask.shape == (n, 1)
        if text_kind == "tokens":
            assert split.text.shape == (n, 1) and split.text.dtype == np.int64
        else:
            assert split.text.shape == (n, 1, 768) and split.text.dtype == np.float32
        assert split.vision.shape == (n, 1, 62) and not split.vision_mask.any()
        expected = [VALENCE[FILE_NAME.match(f"{i}.wav")[3]] for i in split.ids]
        np.testing.assert_array_equal(split.labels, expected)
    train_speakers = {i[:2] for i in data["train"].ids}
    assert train_speakers.isdisjoint({i[:2] for i in data["test"].ids})


def test_features_are_the_runtime_extractor_and_cached(small_emodb):
    first = load_emodb(small_emodb, LIVE)["valid"]
    wav = small_emodb / "emodb" / "wav" / f"{first.ids[0]}.wav"
    runtime = AudioFeaturizer().offline(read_audio(wav))
    np.testing.assert_array_equal(first.audio[0, : len(runtime)], runtime)
    (cache,) = (small_emodb / "cache" / "edge-msa").glob("emodb-*.npz")
    with np.load(cache) as z:  # mark the cached frames to see that the next load reads them
        np.savez(cache, frames=z["frames"] + 1.0, lengths=z["lengths"])
    again = load_emodb(small_emodb, LIVE)["valid"]
    np.testing.assert_array_equal(again.audio, first.audio + first.audio_mask[..., None])
    (small_emodb / "emodb" / "wav" / wav.name).unlink()  # other audio -> other key -> extracted anew
    assert len(load_emodb(small_emodb, LIVE)["valid"]) == len(first) - 1
    assert len(list(cache.parent.glob("emodb-*.npz"))) == 2


def test_bad_input_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no EmoDB wav files"):
        load_emodb(tmp_path, LIVE)
    with pytest.raises(UserError, match="audio:covarep"):
        load_emodb(DATA, MOSI_BERT)
