"""evidence_fusion: the contract, evidence that adds up, the in-graph lexicon, offset-invariant voice
statistics, and the data it is fitted on (transcript noise, audio augmentation)."""

import numpy as np
import pytest
import torch
from shared_data import SHARED_DATA
from torch.export import Dim

from edge_msa.data.augment import PHONE_HIGH_HZ, change_speed, telephone
from edge_msa.data.transcript_noise import noisy_transcripts, words
from edge_msa.errors import UserError
from edge_msa.features.audio import SAMPLE_RATE
from edge_msa.features.face import FEATURE_NAMES
from edge_msa.features.spec import LIVE
from edge_msa.features.text import tokenize
from edge_msa.models import create_model
from edge_msa.models.families.evidence_fusion import PRIOR_STD, VoiceStats
from edge_msa.train.experts import fill_lexicon, ridge


@pytest.fixture(scope="module")
def model(one_thread):
    m = create_model("evidence_fusion-test").eval()
    with torch.no_grad():
        for p in m.parameters():
            p.normal_(0, 0.1)
    return m


def _inputs(model, n=3, seed=1):
    text, tm, audio, am, vision, vm = model.example_inputs(n, seed)
    audio[..., 40] = audio[..., 40].abs()  # pitch > 0: voiced frames
    return text, tm, audio, am, vision, vm


def test_the_summed_graph_adds_present_evidence():
    m = create_model("evidence_fusion-test", fusion="sum").eval()
    inputs = _inputs(m)
    ev, flags = m.evidence(*inputs)
    score, uncertainty = m(*inputs)
    assert torch.allclose(score, ev.sum(-1).clamp(-3, 3), atol=1e-5) and bool((flags == 1).all())
    text, tm, audio, am, vision, vm = inputs
    only_voice, _ = m(text, torch.zeros_like(tm), audio, am, vision, torch.zeros_like(vm))
    assert torch.allclose(only_voice, ev[:, 1].clamp(-3, 3), atol=1e-5)
    absent = [torch.zeros_like(x) for x in (tm, am, vm)]
    none, unsure = m(text, absent[0], audio, absent[1], vision, absent[2])
    assert torch.allclose(none, torch.zeros(3)) and torch.allclose(unsure, torch.full((3,), PRIOR_STD))
    assert bool((uncertainty < unsure).all())  # more evidence, less uncertainty


def test_bounded_fusion_in_the_graph_is_the_runtimes_rule():
    """The exported graph's score is the runtime's `fusion_rule.fuse` of the same evidence (errors
    as precisions, confidence 1), for every set of present experts and strong evidence too."""
    from edge_msa.models.families.evidence_fusion import bounded_fusion
    from edge_msa.runtime.fusion_rule import Reading, fuse

    g = torch.Generator().manual_seed(3)
    evidence = (torch.rand(64, 3, generator=g) - 0.5) * 6.0  # -3 .. 3
    flags = (torch.rand(64, 3, generator=g) > 0.4).float()
    errors = torch.tensor([0.8, 1.1, 1.5])
    score, uncertainty = bounded_fusion(evidence, flags / errors ** 2)
    for b in range(64):
        readings = {m: Reading(float(evidence[b, i]), float(errors[i]))
                    for i, m in enumerate(("text", "audio", "vision")) if flags[b, i]}
        expected = fuse(readings)
        assert (float(score[b]), float(uncertainty[b])) == pytest.approx(expected, abs=1e-5)


def test_the_bounded_graph_fuses_its_own_experts(model):
    inputs = _inputs(model)
    ev, flags = model.evidence(*inputs)
    score, uncertainty = model(*inputs)
    assert model.fusion == "bounded" and bool((flags == 1).all())
    from edge_msa.models.families.evidence_fusion import bounded_fusion

    expected = bounded_fusion(ev, flags / model.expert_error ** 2)
    assert torch.allclose(score, expected[0], atol=1e-6)
    assert torch.allclose(uncertainty, expected[1], atol=1e-6)
    text, tm, audio, am, vision, vm = inputs
    absent = [torch.zeros_like(x) for x in (tm, am, vm)]
    none, unsure = model(text, absent[0], audio, absent[1], vision, absent[2])
    assert torch.allclose(none, torch.zeros(3)) and torch.allclose(unsure, torch.full((3,), PRIOR_STD))
    with pytest.raises(UserError, match="fusion"):
        create_model("evidence_fusion-test", fusion="mean")


@torch.no_grad()
def test_the_text_masks_height_is_the_recognisers_confidence(model):
    """A mask of c on the present tokens reads the same words as a mask of 1, and weighs them as the
    runtime weighs a transcript of confidence c (`fusion_rule.Reading`); below 0.05 it stays 0.05."""
    from edge_msa.models.families.evidence_fusion import MIN_CONFIDENCE
    from edge_msa.runtime import fusion_rule
    from edge_msa.runtime.fusion_rule import Reading, fuse

    assert MIN_CONFIDENCE == fusion_rule.MIN_CONFIDENCE
    text, tm, audio, am, vision, vm = _inputs(model)
    ev, _ = model.evidence(text, tm, audio, am, vision, vm)
    errors = model.expert_error.tolist()
    for confidence in (1.0, 0.6, 0.2, 0.01):
        soft = tm * confidence
        ev_soft, _ = model.evidence(text, soft, audio, am, vision, vm)
        assert torch.allclose(ev_soft, ev, atol=1e-6)  # what the words say does not change
        score, uncertainty = model(text, soft, audio, am, vision, vm)
        for b in range(len(score)):
            readings = {m: Reading(float(ev[b, i]), errors[i], confidence if m == "text" else 1.0)
                        for i, m in enumerate(("text", "audio", "vision"))}
            expected = fuse(readings)
            assert (float(score[b]), float(uncertainty[b])) == pytest.approx(expected, abs=1e-5)
    low, _ = model(text, tm * 0.2, audio, am, vision, vm)
    full, _ = model(text, tm, audio, am, vision, vm)
    assert not torch.allclose(low, full, atol=1e-3)  # the confidence moved the fused score
    old = create_model("evidence_fusion-test", fusion="sum")
    assert old.text_confidence is False and old.config["text_confidence"] is False


def test_weights_from_before_the_bounded_graph_load_as_the_summed_graph(model):
    state = {k: v for k, v in model.state_dict().items() if k != "voice_centre"}
    old = create_model("evidence_fusion-test").eval()
    old.load_state_dict(state)
    assert old.fusion == "sum" and old.config["fusion"] == "sum" and old.config["text_confidence"] is False
    inputs = _inputs(old)
    ev, _ = old.evidence(*inputs)
    assert torch.allclose(old(*inputs)[0], ev.sum(-1).clamp(-3, 3), atol=1e-5)
    fresh = create_model("evidence_fusion-test").eval()
    fresh.load_state_dict(model.state_dict())
    assert fresh.fusion == "bounded"


def test_batch_of_one_equals_batched_and_exports_with_dynamic_lengths(model):
    inputs = _inputs(model)
    batched, _ = model(*inputs)
    single = torch.cat([model(*[x[i:i + 1] for x in inputs])[0] for i in range(3)])
    assert torch.allclose(batched, single, atol=1e-5)
    t, a = Dim("t", min=2, max=64), Dim("a", min=4, max=300)
    shapes = ({1: t}, {1: t}, {1: a}, {1: a}, None, None)
    ep = torch.export.export(model, _inputs(model, 1), dynamic_shapes=shapes)
    short = [x[:, :20] if i < 4 else x for i, x in enumerate(_inputs(model, 1, seed=2))]
    assert torch.allclose(ep.module()(*short)[0], model(*short)[0], atol=1e-5)


def test_face_evidence_follows_the_valence_table():
    """The summed graph reads valence x probability; the bounded graph reads each expression by how
    much it beats neutral, as the runtime does (`face_calibration.frame_evidence`)."""
    from edge_msa.runtime.face_calibration import frame_evidence, valence_vector

    table = {"happy": 2.0, "angry": -1.5}
    vision = torch.zeros(1, 4, LIVE.vision.dim)
    vision[..., FEATURE_NAMES.index("expression_happy")] = 0.5
    vision[..., FEATURE_NAMES.index("expression_angry")] = 0.25
    vision[..., FEATURE_NAMES.index("expression_neutral")] = 0.2
    vision[..., :52] = 0.7  # blendshapes: no weight in the table
    summed = create_model("evidence_fusion-test", face_valence=table, fusion="sum").eval()
    ev, _ = summed.evidence(*_inputs(summed, 1)[:4], vision, torch.ones(1, 4))
    assert ev[0, 2].item() == pytest.approx(0.5 * 2.0 - 0.25 * 1.5)
    bounded = create_model("evidence_fusion-test", face_valence=table).eval()
    ev, _ = bounded.evidence(*_inputs(bounded, 1)[:4], vision, torch.ones(1, 4))
    assert ev[0, 2].item() == pytest.approx(0.3 * 2.0 - 0.05 * 1.5)
    probs = vision[0, :, -7:].numpy()
    runtime = frame_evidence(probs, valence_vector(table))
    assert ev[0, 2].item() == pytest.approx(float(runtime.mean()), abs=1e-6)
    with pytest.raises(UserError, match="unknown expression 'joy'"):
        create_model("evidence_fusion-test", face_valence={"joy": 1.0})


def test_lexicon_signs_and_negation_from_vaders_words():
    m = create_model("evidence_fusion-test").eval()
    assert fill_lexicon(m) > 1500
    texts = ["a good film", "not a good film", "i don't like it", "a terrible film", "a film"]
    ids, mask = tokenize(texts, 16)
    s = m.text.lexicon(torch.from_numpy(ids), torch.from_numpy(mask)).squeeze(-1)
    assert s[0] > 0 and s[1] < 0 and s[2] < 0 and s[3] < 0 and s[4] == 0


def test_voice_statistics_ignore_a_constant_offset():
    g = torch.Generator().manual_seed(0)
    audio = torch.randn(2, 120, 42, generator=g)
    audio[..., 40] = torch.where(audio[..., 40] > 0, audio[..., 40] + 1.0, torch.zeros(()))  # 0: unvoiced
    mask = torch.ones(2, 120)
    mask[1, 90:] = 0
    shifted = audio.clone()
    shifted[..., :40] += 3.0  # a louder, brighter microphone
    shifted[..., 41] += 2.0
    voiced = audio[..., 40] > 0
    shifted[..., 40] = torch.where(voiced, audio[..., 40] + 0.4, audio[..., 40])  # a higher voice
    stats = VoiceStats()
    assert torch.allclose(stats(audio, mask), stats(shifted, mask), atol=1e-4)
    assert not torch.allclose(stats(audio, mask), stats(audio * 1.5, mask), atol=1e-2)


def test_ridge_recovers_a_linear_rule():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3)) * [1.0, 10.0, 0.1] + [0.0, 5.0, -2.0]
    y = x @ [0.5, -0.2, 3.0] + 1.0
    w, b = ridge(x, y, 1e-6)
    assert np.allclose(w, [0.5, -0.2, 3.0], atol=1e-4) and b == pytest.approx(1.0, abs=1e-3)


def test_transcript_noise_drops_punctuation_and_words_like_a_recogniser():
    ids, mask = tokenize(["Well, I can't believe it -- really!", "Fine."], 24)
    clean, cmask = noisy_transcripts(ids, mask, np.random.default_rng(0), drop=0.0, substitute=0.0)
    kept = tokens_of(clean[0])
    assert words(clean[0]) == words(ids[0]) and "," not in kept and "!" not in kept
    gone, gmask = noisy_transcripts(ids, mask, np.random.default_rng(0), drop=1.0, substitute=0.0)
    assert gmask.sum(1).tolist() == [2.0, 2.0]  # [CLS] [SEP]
    swapped, _ = noisy_transcripts(ids, mask, np.random.default_rng(0), drop=0.0, substitute=1.0)
    assert len(words(swapped[0])) == len(words(ids[0])) and words(swapped[0]) != words(ids[0])


def tokens_of(row):
    from edge_msa.features.text import load_tokenizer

    return load_tokenizer().convert_ids_to_tokens(row.tolist())


def test_telephone_band_and_speed_change():
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    wave = (0.3 * np.sin(2 * np.pi * 1000 * t) + 0.3 * np.sin(2 * np.pi * 6000 * t)).astype(np.float32)
    phone = telephone(wave)
    spectrum = np.abs(np.fft.rfft(phone))
    freqs = np.fft.rfftfreq(len(phone), 1 / SAMPLE_RATE)
    assert spectrum[freqs > PHONE_HIGH_HZ + 200].max() < 0.01 * spectrum[np.abs(freqs - 1000) < 5].max()
    assert len(change_speed(wave, 1.1)) == pytest.approx(SAMPLE_RATE / 1.1, rel=0.01)


def test_the_fit_centres_the_voice_on_english_narration(tmp_path, model):
    """The bounded graph's voice reads calm English narration (the LibriVox test clips) at 0 on
    average; with no narration under the data folder the centre is 0 and the report says so."""
    import shutil
    from pathlib import Path

    from edge_msa.train.experts import NARRATION, centre_voice

    clips = tmp_path / NARRATION
    clips.mkdir(parents=True)
    for wav in sorted((Path(__file__).parent / "data" / "librivox").glob("*.wav")):
        shutil.copy(wav, clips / wav.name)
    report = centre_voice(model, tmp_path, None)
    assert report["from"] == f"{NARRATION} (5 clips)" and report["value"] != 0.0
    assert float(model.voice_centre) == pytest.approx(report["value"])
    assert centre_voice(model, tmp_path / "elsewhere", None) == {"value": 0.0, "from": None}
    assert centre_voice(model, tmp_path, -0.5) == {"value": -0.5, "from": "recipe"}
    centre_voice(model, tmp_path, None)
    from edge_msa.features.audio import SAMPLE_RATE, AudioFeaturizer
    from edge_msa.features.media import read_audio

    t = model.spec.audio.max_len
    voices = []
    for wav in sorted(clips.glob("*.wav")):
        frames = torch.from_numpy(AudioFeaturizer().offline(read_audio(wav, SAMPLE_RATE))[:t])
        audio, mask = torch.zeros(1, t, model.spec.audio.dim), torch.zeros(1, t)
        audio[0, : len(frames)], mask[0, : len(frames)] = frames, 1.0
        text, tm, _, _, vision, vm = model.example_inputs(1)
        voices.append(model.evidence(text, tm * 0, audio, mask, vision, vm * 0)[0][0, 1].item())
    assert np.mean(voices) == pytest.approx(0.0, abs=1e-5)


@pytest.mark.parametrize("fusion", ["bounded", "sum"])
def test_the_runtime_reads_each_expert_of_either_graph(fusion):
    """The runtime's per-expert reading (`CalibratedFusion.expert`) is the expert's evidence for
    both graphs: it undoes the bounded graph's tanh and takes the summed graph's score as it is."""
    from edge_msa.runtime.calibrated_fusion import LOGMEL_VOICE_CENTRE, CalibratedFusion, PersonBaselines

    m = create_model("evidence_fusion-test", face_valence={"happy": 2.0}, fusion=fusion).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.normal_(0, 0.5)
        m.voice_centre.fill_(-0.4)
    inputs = _inputs(m, 1)

    def predict(arrays):
        with torch.no_grad():
            score, unc = m(*(torch.from_numpy(np.asarray(a)) for a in arrays))
        return float(score[0]), float(unc[0])

    baselines = PersonBaselines(running=False)
    cal = CalibratedFusion(predict, m.spec, {"happy": 2.0}, "mosi", baselines,
                           bounded_graph=fusion == "bounded")
    with torch.no_grad():
        ev, _ = m.evidence(*inputs)
    arrays = tuple(x.numpy() for x in inputs)
    for i, modality in enumerate(("text", "audio")):
        assert cal.expert(arrays, modality)[0] == pytest.approx(float(ev[0, i]), abs=1e-4)
    # the summed graph's voice rests at the narration centre; the bounded graph centred it itself
    expected = 0.0 if fusion == "bounded" else LOGMEL_VOICE_CENTRE
    assert baselines.logmel_voice.offset() == pytest.approx(expected)


TINY_EXPERTS = """name: tiny
seed: 0
model: evidence_fusion-test
face_valence: {valence}
data:
  split_seed: 0
  rows_per_epoch: 1
  parts:
    - {{name: vader-amazon, dataset: vader-amazon, weight: 0.5, label_scale: 1.0}}
    - {{name: emodb, dataset: emodb, weight: 0.5, label_scale: 2.0}}
experts:
  text_alphas: [10.0]
  text_noise: {{copies: 0}}
  voice_cs: [0.01]
  voice_augment_copies: 0
  lexicon: false
"""


@pytest.mark.skipif(not (SHARED_DATA / "emodb").is_dir(), reason="needs ../shared/data")
def test_a_users_fit_says_where_its_voice_centre_came_from(tmp_path, capsys):
    """`edge-msa train --recipe` with `experts` (a tiny closed-form fit on real rows) measures the
    voice centre on the data folder's narration clips and says so; a data folder without them
    fits with centre 0 and a line telling the user what that means."""
    from pathlib import Path

    from edge_msa.cli import main
    from edge_msa.train.run import load_run

    valence = Path(__file__).resolve().parents[1] / "export" / "default" / "face_valence.yaml"
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(TINY_EXPERTS.format(valence=valence))
    assert main(["train", "--recipe", str(recipe), "--out", str(tmp_path / "run"),
                 "--data", str(SHARED_DATA)]) == 0
    said = capsys.readouterr().out
    assert "measured on speech/librivox (5 clips)" in said
    model, config = load_run(tmp_path / "run")
    assert model.fusion == "bounded" and config["overrides"]["fusion"] == "bounded"
    assert f"voice centre {float(model.voice_centre):+.3f}," in said
    bare = tmp_path / "data"  # the user's own corpora: no narration clips
    bare.mkdir()
    for corpus in ("vader_icwsm2014", "emodb"):
        (bare / corpus).symlink_to(SHARED_DATA / corpus)
    assert main(["train", "--recipe", str(recipe), "--out", str(tmp_path / "run2"), "--data", str(bare)]) == 0
    assert "voice centre +0.000, no narration clips under DATA/speech/librivox" in capsys.readouterr().out
    assert float(load_run(tmp_path / "run2")[0].voice_centre) == 0.0
