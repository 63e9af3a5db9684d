"""MMSA feature files: generated pickles with the real layout, masks, -inf, trust, .npz round trip."""

import pickle

import numpy as np
import pytest

from edge_msa.data.batch import ARRAY_FIELDS
from edge_msa.data.datasets import load_dataset
from edge_msa.data.mmsa import convert_pickle, load_mmsa
from edge_msa.data.synthetic import make_mmsa_pickle, synthetic_data
from edge_msa.errors import UserError
from edge_msa.features.spec import LIVE, MOSI_BERT, SIMS_BERT, FeatureSpec, ModalitySpec

N = 6
MOSI_TOKENS = FeatureSpec(text=ModalitySpec("tokens:minilm-l6", 30522, 50), audio=MOSI_BERT.audio,
                          vision=MOSI_BERT.vision, name="mosi-tokens")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("mmsa")
    return {
        "mosi": make_mmsa_pickle(d / "aligned_50.pkl", N, "mosi", seed=1),
        "mosi_unaligned": make_mmsa_pickle(d / "unaligned_50.pkl", N, "mosi", aligned=False, seed=2),
        "mosei": make_mmsa_pickle(d / "mosei_aligned_50.pkl", N, "mosei", seed=3),
        "sims": make_mmsa_pickle(d / "unaligned_39.pkl", N, "sims", seed=4),
    }


def raw(path):
    with open(path, "rb") as f:
        return pickle.load(f)


@pytest.mark.parametrize("name, t, a, v", [
    ("mosi", 50, (50, 5), (50, 20)),
    ("mosi_unaligned", 50, (375, 5), (500, 20)),
    ("mosei", 50, (50, 74), (50, 35)),
    ("sims", 39, (400, 33), (55, 709)),
])
def test_real_shapes_and_masks_from_lengths(files, name, t, a, v):
    data = load_mmsa(files[name], trust_pickle=True)
    src = raw(files[name])
    assert set(data) == {"train", "valid", "test"}
    for split, d in data.items():
        assert d.text.shape == (N, t, 768) and d.audio.shape == (N, *a) and d.vision.shape == (N, *v)
        assert d.labels.dtype == np.float32 and d.labels.shape == (N,)
        for m in ("audio", "vision"):
            lengths = np.asarray(src[split][f"{m}_lengths"])
            mask = getattr(d, f"{m}_mask")
            assert np.array_equal(mask.sum(1), lengths)
            assert np.array_equal(mask, np.arange(mask.shape[1])[None, :] < lengths[:, None])
        # text features are non-zero on padding too: the mask must be text_bert's attention row
        assert np.array_equal(d.text_mask, src[split]["text_bert"][:, 1])
        assert (d.text_mask == 0).any() and np.abs(d.text[d.text_mask == 0]).sum() > 0
        assert d.ids == list(src[split]["id"]) and d.raw_text == list(src[split]["raw_text"])


def test_inf_becomes_zero_and_other_values_are_kept(files):
    src = raw(files["mosi"])["train"]["audio"]
    bad = ~np.isfinite(src)
    assert bad.sum() > 0  # the generator really writes -inf
    audio = load_mmsa(files["mosi"], trust_pickle=True)["train"].audio
    assert np.isfinite(audio).all()
    assert (audio[bad] == 0).all() and np.array_equal(audio[~bad], src[~bad])


def test_scale_inferred_and_overridden(files):
    assert load_mmsa(files["mosi"], trust_pickle=True)["test"].scale == "mosi"
    assert load_mmsa(files["sims"], trust_pickle=True)["test"].scale == "sims"
    assert load_mmsa(files["mosi"], trust_pickle=True, scale="sims")["test"].scale == "sims"
    with pytest.raises(UserError, match="scale"):
        load_mmsa(files["mosi"], trust_pickle=True, scale="mosei")


def test_token_spec_uses_text_bert_ids(files):
    data = load_mmsa(files["mosi"], trust_pickle=True, spec=MOSI_TOKENS)["valid"]
    tb = raw(files["mosi"])["valid"]["text_bert"]
    assert data.text.dtype == np.int64 and np.array_equal(data.text, tb[:, 0].astype(np.int64))
    assert (data.text[:, 0] == 101).all()
    assert load_mmsa(files["mosi"], trust_pickle=True, spec=MOSI_BERT)["valid"].text.shape == (N, 50, 768)


def test_spec_mismatches_are_named(files):
    with pytest.raises(UserError, match="audio has 5 features per frame but the spec wants 42"):
        load_mmsa(files["mosi"], trust_pickle=True, spec=LIVE)
    with pytest.raises(UserError, match="bert-base-chinese"):
        tokens = FeatureSpec(text=MOSI_TOKENS.text, audio=SIMS_BERT.audio, vision=SIMS_BERT.vision)
        load_mmsa(files["sims"], trust_pickle=True, spec=tokens)


def test_pickle_refused_without_trust(files):
    with pytest.raises(UserError, match="runs code") as e:
        load_mmsa(files["mosi"])
    assert "edge-msa data convert" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(UserError, match="runs code"):
        convert_pickle(files["mosi"], files["mosi"].with_suffix(".npz"))


@pytest.mark.parametrize("name", ["mosi_unaligned", "sims"])
def test_npz_round_trip_is_equal(files, tmp_path, name):
    out = tmp_path / "features.npz"
    rows = convert_pickle(files[name], out, trust_pickle=True)
    assert rows == {"train": N, "valid": N, "test": N}
    with np.load(out, allow_pickle=False) as z:  # nothing in it needs pickle
        assert all(z[k].dtype != object for k in z.files)
    a, b = load_mmsa(files[name], trust_pickle=True), load_mmsa(out)
    for split in a:
        for k in ARRAY_FIELDS:
            assert np.array_equal(getattr(a[split], k), getattr(b[split], k)), (split, k)
        for k in ("ids", "raw_text", "scale"):
            assert getattr(a[split], k) == getattr(b[split], k)


def test_masks_from_non_zero_frames_without_lengths(files, tmp_path):
    src = raw(files["mosi_unaligned"])
    for split in src.values():
        del split["audio_lengths"], split["vision_lengths"], split["text_bert"]
    path = tmp_path / "nolengths.pkl"
    path.write_bytes(pickle.dumps(src))
    with_lengths = load_mmsa(files["mosi_unaligned"], trust_pickle=True)["train"]
    without = load_mmsa(path, trust_pickle=True)["train"]
    assert np.array_equal(without.audio_mask, with_lengths.audio_mask)
    assert np.array_equal(without.vision_mask, with_lengths.vision_mask)
    assert without.text_mask.all()  # BERT features are non-zero everywhere: no padding visible


@pytest.mark.parametrize("mutate, message", [
    (lambda r: r.pop("valid"), r"missing split\(s\) \['valid'\]"),
    (lambda r: r["train"].pop("audio"), r"split 'train' lacks \['audio'\]"),
    (lambda r: r["test"].update(vision=np.zeros((N, 20))), r"vision has shape \(6, 20\)"),
    (lambda r: r["train"].update(text_bert=np.zeros((N, 2, 50))), r"text_bert has shape"),
    (lambda r: r["train"].update(audio_lengths=[1, 2]), r"audio_lengths has 2 entries"),
])
def test_wrong_layout_is_named(files, tmp_path, mutate, message):
    src = raw(files["mosi"])
    mutate(src)
    path = tmp_path / "broken.pkl"
    path.write_bytes(pickle.dumps(src))
    with pytest.raises(UserError, match=message):
        load_mmsa(path, trust_pickle=True)


def test_unreadable_files(tmp_path):
    junk = tmp_path / "junk.pkl"
    junk.write_bytes(b"not a pickle at all")
    with pytest.raises(UserError, match="not a readable pickle"):
        load_mmsa(junk, trust_pickle=True)
    other = tmp_path / "other.npz"
    np.savez(other, x=np.zeros(3))
    with pytest.raises(UserError, match="not an MMSA .npz"):
        load_mmsa(other)
    with pytest.raises(UserError, match="no such MMSA feature file"):
        load_mmsa(tmp_path / "absent.npz")


def test_load_dataset_mmsa_folder_or_file(files, tmp_path):
    out = tmp_path / "only.npz"
    convert_pickle(files["mosei"], out, trust_pickle=True)
    assert len(load_dataset("mmsa", tmp_path, None)["train"]) == N  # the folder's single file
    assert load_dataset("mmsa", out, "mosei-bert-aligned")["train"].audio.shape == (N, 50, 74)
    with pytest.raises(UserError, match="exactly one"):
        load_dataset("mmsa", files["mosi"].parent, None)  # four pickles there
    with pytest.raises(UserError, match="needs a path"):
        load_dataset("mmsa", None, None)
    with pytest.raises(UserError, match="unknown dataset"):
        load_dataset("iemocap", tmp_path, None)


def test_synthetic_kinds_and_sims_alignment(tmp_path):
    with pytest.raises(UserError, match="only unaligned"):
        make_mmsa_pickle(tmp_path / "x.pkl", 2, "sims", aligned=True)
    with pytest.raises(UserError, match="unknown synthetic kind"):
        make_mmsa_pickle(tmp_path / "x.pkl", 2, "iemocap")


def _pooled(d):
    m = d.audio_mask[..., None]
    return np.concatenate([(d.audio * m).sum(1) / m.sum(1).clip(1), np.ones((len(d), 1))], axis=1)


def test_synthetic_labels_are_learnable_across_seeds():
    train, test = synthetic_data(LIVE, 256, seed=0), synthetic_data(LIVE, 256, seed=1)
    assert train.text.dtype == np.int64 and train.audio.shape == (256, 300, 42)
    w, *_ = np.linalg.lstsq(_pooled(train), train.labels, rcond=None)
    assert np.corrcoef(_pooled(test) @ w, test.labels)[0, 1] > 0.5  # pooled audio alone predicts labels
    assert synthetic_data(SIMS_BERT, 8).scale == "sims"
    assert synthetic_data(MOSI_BERT, 8).text.shape == (8, 50, 768)
