"""`edge-msa data extract`: live features of labelled recordings, equal to what the runtime computes.

Real data: EmoDB wavs and the CREMA-D sample clips (../shared/data); bad files are made from them
(a corrupt copy, digital silence, the speech under black frames).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from shared_data import SHARED_DATA

from edge_msa.cli import main
from edge_msa.data.media_dataset import load_media, read_meta
from edge_msa.features import media
from edge_msa.features.spec import LIVE
from edge_msa.workflows.extract_media import FileJob, extract_job

SHARED = SHARED_DATA
EMODB = SHARED / "emodb" / "wav"
CREMA = SHARED / "crema-d-sample"
pytestmark = pytest.mark.skipif(not CREMA.is_dir() or not EMODB.is_dir(), reason="needs ../shared/data")
# two speakers per split, so every split exists (EmoDB's own split: valid 12 14, test 15 16)
EMODB_ROWS = [("03a01Fa.wav", "train"), ("03a01Nc.wav", "train"), ("08a01Ab.wav", "train"),
              ("10a01Wa.wav", "train"), ("12a01Fb.wav", "valid"), ("14a01Ea.wav", "valid"),
              ("15a01Ea.wav", "test"), ("16a01Wb.wav", "test")]


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


def write_manifest(path: Path, rows: list[list]) -> Path:
    lines = ["path,start_s,end_s,label,text,speaker,split"] + [",".join(map(str, r)) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def extract(capsys, *args) -> tuple[int, str, str]:
    code = main(["data", "extract", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_a_clips_features_equal_the_runtimes_for_the_same_window():
    """The real pipeline (`run --fast` path: VAD, pocketsphinx, face model) on a CREMA-D clip; every
    window it fuses, extracted by `data extract`'s function, gives the same audio and vision inputs
    (tolerance: 1e-6 absolute; both run the same float32 code on the same samples)."""
    from edge_msa.runtime.config import RuntimeConfig
    from edge_msa.runtime.launch import build_pipeline, build_sensors, open_bundle
    from edge_msa.runtime.scheduler import FusionScheduler

    clip = CREMA / "1001_DFA_HAP_XX.flv"
    seen = []
    assemble = FusionScheduler.assemble

    def spy(self, req):
        inputs = assemble(self, req)
        seen.append((req, inputs[0]))
        return inputs

    FusionScheduler.assemble = spy
    try:
        config = RuntimeConfig().with_overrides(**{"sinks.console": "off"})
        backend, spec, scale = open_bundle("default/onnx-int8", "onnxruntime")  # features do not need it
        build_pipeline(config, build_sensors(config, video=clip, fast=True), backend, spec, scale,
                       fast=True).run(duration_s=120)
    finally:
        FusionScheduler.assemble = assemble
    utterances = [(req, inputs) for req, inputs in seen if req.kind == "utterance"]
    assert utterances, "the VAD found no utterance in the clip"
    job = extract_job(FileJob(str(clip), [(req.start, req.end) for req, _ in utterances],
                              [req.transcript for req, _ in utterances]))
    assert not job.error
    for (req, inputs), got in zip(utterances, job.results, strict=True):
        assert not got.error
        assert got.audio_mask.sum() > 50 and got.vision_mask.sum() > 5  # real voice and face frames
        np.testing.assert_array_equal(got.audio_mask, inputs[3][0])
        np.testing.assert_allclose(got.audio, inputs[2][0], rtol=0, atol=1e-6)
        np.testing.assert_array_equal(got.vision_mask, inputs[5][0])
        np.testing.assert_allclose(got.vision, inputs[4][0], rtol=0, atol=1e-6)
        assert got.text == req.transcript and got.text_source == "given"


@pytest.fixture(scope="module")
def bad_media(tmp_path_factory) -> dict[str, Path]:
    """A corrupt video, a silent wav, a faceless video (EmoDB speech under black frames), telephone-rate
    speech (8 kHz), and a path that does not exist."""
    from runtime_helpers import write_media

    root = tmp_path_factory.mktemp("bad")
    corrupt = root / "corrupt.mp4"
    corrupt.write_bytes((CREMA / "1001_DFA_ANG_XX.flv").read_bytes()[:300] + b"\0" * 2000)
    silent = write_media(root / "silent.wav", None, 0, np.zeros(32000, np.float32))
    speech = media.read_audio(EMODB / "03a01Fa.wav", 16000)
    black = [np.zeros((240, 320, 3), np.uint8)] * 20
    faceless = write_media(root / "faceless.mp4", black, 10.0, speech)
    phone = write_media(root / "phone.wav", None, 0, media.read_audio(EMODB / "03a01Fa.wav", 8000), sr=8000)
    return {"corrupt": corrupt, "silent": silent, "faceless": faceless, "phone": phone,
            "missing": root / "nowhere.wav"}


def test_bad_files_are_reported_and_skipped_the_rest_extracted_and_cached(tmp_path, capsys, bad_media):
    good = [[EMODB / name, 0, 2.0, name[5], "", name[:2], split] for name, split in EMODB_ROWS[:3]]
    good.append([CREMA / "1001_DFA_HAP_XX.flv", 0, "", "HAP", "don't forget a jacket", "1001", "valid"])
    bad = [[bad_media[k], 0, "", "neutral", "", f"x{k}", "train"] for k in bad_media]
    manifest = write_manifest(tmp_path / "m.csv", good + bad)
    out = tmp_path / "ds"
    code, printed, err = extract(capsys, manifest, "--out", out, "--no-asr")
    assert code == 0, err
    assert "4 rows" in printed and "5 left out" in printed
    report = (out / "report.csv").read_text().splitlines()
    reasons = {Path(line.split(",")[0]).stem: line.split(",", 3)[3] for line in report[1:]}
    assert reasons["nowhere"] == "missing file"
    assert reasons["corrupt"].startswith("cannot ") or "no audio or video stream" in reasons["corrupt"]
    assert reasons["silent"].startswith("silent audio")
    assert reasons["faceless"] == "no face found in the segment's video"
    assert reasons["phone"] == "audio at 8000 Hz: the voice features need at least 16000 Hz"
    meta = read_meta(out)
    assert meta["rows"] == 4 and meta["splits"] == {"train": 3, "valid": 1}
    assert meta["text_sources"] == {"none": 3, "given": 1} and meta["labels"].startswith("emotion names")
    splits = load_media(out, LIVE)
    happy = splits["valid"]
    assert happy.labels.tolist() == [1.0] and happy.vision_mask.sum() > 5 and happy.text_mask.sum() > 3
    assert splits["train"].vision_mask.sum() == 0 and splits["train"].text_mask.sum() == 0  # wav, no text
    assert sorted(splits["train"].labels.tolist()) == [-1.0, 0.0, 1.0]  # A fear, N neutral, F happiness
    # a re-run recomputes nothing that was done: every file that exists comes from the cache
    code, printed, _ = extract(capsys, manifest, "--out", out, "--no-asr", "--force")
    assert code == 0 and "8 of 9 files from the cache" in printed


def test_an_interrupted_extract_resumes_from_the_files_it_finished(tmp_path, capsys, monkeypatch):
    import edge_msa.workflows.extract_dataset as extract_dataset

    rows = [[EMODB / name, 0, 2.0, name[5], "", name[:2], split] for name, split in EMODB_ROWS[:4]]
    manifest = write_manifest(tmp_path / "m.csv", rows)
    calls = []

    def interrupted(job):
        calls.append(job.path)
        if len(calls) == 3:
            raise KeyboardInterrupt  # Ctrl-C while the third file is extracted
        return extract_job(job)

    monkeypatch.setattr(extract_dataset, "extract_job", interrupted)
    assert main(["data", "extract", str(manifest), "--out", str(tmp_path / "ds"), "--no-asr"]) == 130
    assert not (tmp_path / "ds").exists()  # nothing half-written
    monkeypatch.undo()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    code, printed, _ = extract(capsys, manifest, "--out", tmp_path / "ds", "--no-asr")
    assert code == 0 and "2 of 4 files from the cache" in printed and read_meta(tmp_path / "ds")["rows"] == 4


def test_an_existing_dataset_is_replaced_only_with_force(tmp_path, capsys):
    manifest = write_manifest(tmp_path / "m.csv", [[EMODB / "03a01Fa.wav", 0, 1.0, "F", "", "03", "train"]])
    out = tmp_path / "ds"
    assert extract(capsys, manifest, "--out", out, "--no-asr")[0] == 0
    code, _, err = extract(capsys, manifest, "--out", out, "--no-asr")
    assert code == 2 and "--force" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("body, message", [
    ("path,start,end,label\nx.wav,0,1,F\n", "missing column(s) start_s, end_s"),
    ("path,start_s,end_s,label\nx.wav,zero,1,F\n", "'zero' is not a time in seconds"),
    ("path,start_s,end_s,label\nx.wav,2,1,F\n", "end_s 1 is not after start_s 2"),
    ("path,start_s,end_s,label\nx.wav,0,1,elated\n", "label 'elated' is neither a number nor an emotion"),
    ("path,start_s,end_s,label\nx.wav,0,1,F,extra\n", "line 2: 4 columns expected"),
    ("path,start_s,end_s,label\nx.wav,0,1,F,,,bogus\n", "line 2: 4 columns expected"),
    ("name;label\nx.wav;F\n", "has no 'path' column"),
    ("path,start_s,end_s,label\n", "the manifest has no rows"),
    ("path,start_s,end_s,label\nx.wav,0,1,7\n", "numeric labels reach 7"),
])
def test_a_malformed_manifest_is_one_clear_error(tmp_path, capsys, body, message):
    manifest = tmp_path / "m.csv"
    manifest.write_text(body)
    code, _, err = extract(capsys, manifest, "--out", tmp_path / "ds")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("edge-msa: error: ") and message in lines[0]
    assert not (tmp_path / "ds").exists()


def test_a_jsonl_manifest_and_bad_options(tmp_path, capsys):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"path": "a.wav", "start_s": 0, "end_s": 1, "label": 0.5}) + "\n{oops\n")
    code, _, err = extract(capsys, manifest, "--out", tmp_path / "ds")
    assert code == 2 and "line 2: not JSON" in err
    for option, message in ((["--workers", "0"], "--workers must be at least 1"),
                            (["--engine", "spark"], "unknown --engine 'spark'"),
                            (["--corpus", "emodb"], "needs the corpus folder")):
        code, _, err = extract(capsys, manifest, "--out", tmp_path / "ds", *option)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def emodb_extract(tmp_path_factory) -> tuple[Path, Path]:
    """(manifest, dataset) of eight EmoDB wavs, two speakers per split, extracted in this process."""
    root = tmp_path_factory.mktemp("emodb")
    rows = [[EMODB / name, 0, 2.0, name[5], "", name[:2], split] for name, split in EMODB_ROWS]
    manifest = write_manifest(root / "m.csv", rows)
    assert main(["data", "extract", str(manifest), "--out", str(root / "ds"), "--no-asr", "--cache",
                 str(root / "cache")]) == 0
    return manifest, root / "ds"


def test_worker_processes_and_the_ray_engine_give_the_same_dataset(tmp_path, capsys, emodb_extract):
    manifest, serial = emodb_extract
    engines = {"processes": ["--workers", "2"]}
    try:
        import ray  # noqa: F401

        engines["ray"] = ["--engine", "ray", "--workers", "1"]  # a local Ray instance, one CPU
    except ImportError:
        pass  # the `distributed` extra is not installed here: the process engine is still compared
    with np.load(serial / "features.npz", allow_pickle=False) as z:
        want = {k: z[k] for k in z.files}
    for name, options in engines.items():
        out = tmp_path / name
        code, _, err = extract(capsys, manifest, "--out", out, "--no-asr", "--cache", tmp_path / f"c-{name}",
                               *options)
        assert code == 0, err
        with np.load(out / "features.npz", allow_pickle=False) as z:
            assert sorted(z.files) == sorted(want)
            for key, value in want.items():
                np.testing.assert_array_equal(z[key], value, err_msg=f"{name}: {key}")


def test_train_and_eval_on_an_extracted_dataset(tmp_path, capsys, emodb_extract):
    """`train --dataset media` then `eval --missing subsets` on the extract's own splits; the run
    records how the labels were made."""
    _, dataset = emodb_extract
    run = tmp_path / "run"
    code = main(["train", "--model", "mean_pool_mlp-tiny", "--dataset", "media", "--data", str(dataset),
                 "--out", str(run), "--epochs", "1", "--batch-size", "4"])
    assert code == 0, capsys.readouterr().err
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["labels"]["valence"]["valence"]["happiness"] == 1.0
    assert config["data"]["labels"]["text_sources"] == {"none": 8}
    code = main(["eval", str(run), "--split", "test", "--missing", "subsets",
                 "--json", str(tmp_path / "e.json")])
    assert code == 0, capsys.readouterr().err
    result = json.loads((tmp_path / "e.json").read_text())
    assert result["dataset"] == "media" and len(result["rows"]) == 7  # the 7 subsets of L, A, V


def test_corpus_layouts(tmp_path):
    from edge_msa.data.media_sources import read_corpus

    emodb = read_corpus("emodb", SHARED)
    assert len(emodb) == 535 and {c.split for c in emodb if c.speaker == "12"} == {"valid"}
    crema = read_corpus("crema-d", CREMA)
    assert sorted(c.label for c in crema) == ["ANG", "DIS", "FEA", "HAP", "NEU", "SAD"]
    # CREMA-D's crowd table: the audio-visual majority for a video; a tie leaves the clip out
    (tmp_path / "crema").mkdir()
    for name in ("1001_DFA_HAP_XX", "1001_DFA_SAD_XX"):
        shutil.copy(CREMA / f"{name}.flv", tmp_path / "crema" / f"{name}.flv")
    (tmp_path / "crema" / "summaryTable.csv").write_text(
        "FileName,VoiceVote,FaceVote,MultiModalVote\n1001_DFA_HAP_XX,N,H,H\n1001_DFA_SAD_XX,N,N,N:S\n")
    assert [(Path(c.path).stem, c.label) for c in read_corpus("crema-d", tmp_path / "crema")] == \
        [("1001_DFA_HAP_XX", "happiness")]
    # RAVDESS names (video-only takes left out), MELD's CSV + clips, MMSA raw MOSI
    rav = tmp_path / "rav" / "Actor_07"
    rav.mkdir(parents=True)
    for stem in ("03-01-03-01-01-01-07", "01-01-05-02-01-02-07", "02-01-05-02-01-02-07"):
        (rav / f"{stem}.{'wav' if stem[:2] == '03' else 'mp4'}").touch()
    assert sorted((c.label, c.speaker) for c in read_corpus("ravdess", tmp_path / "rav")) == \
        [("anger", "07"), ("happiness", "07")]
    meld = tmp_path / "meld"
    (meld / "dev_splits_complete").mkdir(parents=True)
    (meld / "dev_splits_complete" / "dia0_utt1.mp4").touch()
    shutil.copy(SHARED / "meld" / "dev_sent_emo.csv", meld / "dev_sent_emo.csv")
    [clip] = read_corpus("meld", meld)
    assert clip.split == "valid" and clip.label in ("positive", "neutral", "negative") and clip.text
    mosi = tmp_path / "mosi"
    (mosi / "Raw" / "vid1").mkdir(parents=True)
    (mosi / "Raw" / "vid1" / "3.mp4").touch()
    (mosi / "label.csv").write_text("video_id,clip_id,text,label,annotation,mode\n"
                                    "vid1,3,it was great,2.4,Positive,test\nvid1,4,gone,0,Neutral,train\n")
    [clip] = read_corpus("mosi", mosi)
    assert (clip.label, clip.split, clip.speaker, clip.text) == ("2.4", "test", "vid1", "it was great")
