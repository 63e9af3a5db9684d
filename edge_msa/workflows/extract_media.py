"""One media file -> the live model inputs of each of its labelled segments, as the runtime makes them.

The runtime (`edge-msa run --fast` on a file) decodes the audio in chunks, computes voice frames
with `AudioFeaturizer` (frame i at first-sample time + i/50 s), thins the video to the 10 Hz grid
(`next_sample_time`) and runs `FaceFeaturizer` (the default config's settings) on every kept
frame from the start of the file (the face is tracked from frame to frame), and cuts a window
[start, end) of each with `fill_window`. This module does exactly that with the same functions,
for the given segments instead of the VAD's (an utterance's audio slots are all present, as in
the runtime):
`AudioFeaturizer.offline` returns the frames `push` returns over the same samples.
Text: the segment's given transcript, else the live runtime's recogniser on the segment's samples
(the runtime also hears 0.3 s before the VAD's onset; a given segment has no onset to precede), else
(ASR off) none: the text is then absent, as when the runtime recognises no words. The recogniser is
the one the runtime config's `asr` section picks (`engine_factory`: `auto` is Whisper tiny.en where
the whisper extra is installed and 2+ cores are free, else pocketsphinx; its model, threads and
decoder options), so a model trained on extracted rows reads the transcripts it will be served live.
`auto` is resolved once, when the job is made, so every worker process (or Ray node, whose core count
may differ) runs the same engine; each process builds its own engine once (`_asr`). The row's
`text_source` names the engine (`asr-whisper`, `asr-pocketsphinx`).

A file that cannot give a usable row is *bad*, with a reason: unreadable (missing, corrupt), no
audio track, audio below 16 kHz, a segment outside the file (also one ending more than
`media.END_SLACK_S` after it: times in milliseconds), a segment holding no voice frame, silence
(RMS below -80 dBFS), or a video in which no face is found in the segment. Results are cached by
content (`file_key`: the file, its segments, the extractor's code, and the recogniser with its model).
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, get_args

import av
import numpy as np

from edge_msa.errors import UserError
from edge_msa.features import media
from edge_msa.features.audio import SAMPLE_RATE, AudioFeaturizer
from edge_msa.features.spec import LIVE
from edge_msa.runtime.audio_worker import has_signal
from edge_msa.runtime.windows import fill_window, next_sample_time
from edge_msa.user_files import sha256_file

if TYPE_CHECKING:
    from edge_msa.runtime.perception.asr import ASREngine

GIVEN, NONE = "given", "none"  # where a row's transcript comes from (else "asr-" + the engine's name)


@dataclass
class SegmentResult:
    """The model inputs of one segment, or why there are none."""

    start_s: float
    end_s: float
    audio: np.ndarray | None = None  # [300, 42]
    audio_mask: np.ndarray | None = None
    vision: np.ndarray | None = None  # [60, 62]
    vision_mask: np.ndarray | None = None
    text: str = ""
    text_source: str = ""
    error: str = ""  # non-empty: a bad segment, skipped


@dataclass
class FileJob:
    """What to extract from one file: its segments (start, end or None) and their given transcripts."""

    path: str
    segments: list[tuple[float, float | None]]
    texts: list[str | None]
    cache_dir: str | None = None  # where per-file results are kept between runs
    # no given transcript: True recognise one with the runtime config's `asr.engine`, or with the engine
    # named (auto, whisper, pocketsphinx); False or "none": the row's text is absent. Resolved on
    # creation to the engine that runs: "whisper", "pocketsphinx" or "none" (`asr_engine`).
    asr: bool | str = True
    config: str | None = None  # the runtime config file whose face and asr sections apply (None: defaults)
    results: list[SegmentResult] = field(default_factory=list)
    error: str = ""  # the whole file is bad
    cached: bool = False
    media_s: float = 0.0  # seconds of media decoded

    def __post_init__(self) -> None:
        self.asr = asr_engine(self.asr, self.config)


@cache
def runtime_config(path: str | None = None):
    """The runtime config extraction follows (a file `edge-msa run --config` takes; None: defaults),
    read once per process."""
    from edge_msa.runtime.config import load_config

    return load_config(path)


@cache
def asr_engine(asr: bool | str = True, config_path: str | None = None) -> str:
    """The recogniser that extraction runs for `FileJob.asr` ("whisper", "pocketsphinx" or "none"): the
    runtime config's `asr.engine` (True), or the one named; `auto` as live (`choose_engine`). Raises
    UserError for an unknown name, and where `engine_factory` does (Whisper not installed, a bad folder)."""
    from edge_msa.runtime.config import AsrConfig
    from edge_msa.runtime.perception.asr import choose_engine, engine_factory

    if asr is False:
        return NONE
    config = runtime_config(config_path).asr
    name = config.engine if asr is True else asr
    names = get_args(AsrConfig.model_fields["engine"].annotation)
    if name not in names:
        raise UserError(f"unknown ASR engine {name!r}; expected one of {', '.join(names)}")
    engine = choose_engine(name, config.model)
    engine_factory(engine, config.model, config.threads)  # the runtime's checks (Whisper: install, folder)
    return engine


@cache
def _code_key() -> str:
    """The extractor's identity: its source files (and the runtime config's face and ASR settings),
    and the decoder's version."""
    import edge_msa.features.audio as audio_features
    import edge_msa.features.face as face
    import edge_msa.runtime.config as config
    import edge_msa.runtime.perception.asr as asr
    import edge_msa.runtime.windows as windows

    h = hashlib.sha256(f"{av.__version__}:{LIVE.to_json()}".encode())
    face_sources = sorted(Path(face.__file__).parent.glob("face*.py"))
    for source in (audio_features.__file__, media.__file__, windows.__file__, asr.__file__, config.__file__,
                   __file__, *face_sources):
        h.update(Path(source).read_bytes())
    return h.hexdigest()


@cache
def _asr_key(engine: str, config_path: str | None) -> str:
    """What recognised transcripts depend on beyond `_code_key` (which holds pocketsphinx's settings in
    config.py): the engine, and for Whisper its model file's sha256, its decoding code and CTranslate2's
    version."""
    if engine != "whisper":
        return engine
    from importlib.metadata import version

    import edge_msa.features.whisper as whisper_features
    import edge_msa.runtime.perception.whisper_asr as whisper_asr
    model = runtime_config(config_path).asr.model
    h = hashlib.sha256(f"{engine}:{whisper_features.model_digest(model)}:{version('ctranslate2')}".encode())
    for source in (whisper_features.__file__, whisper_asr.__file__):
        h.update(Path(source).read_bytes())
    return h.hexdigest()


def file_key(job: FileJob) -> str:
    """sha256 of the file's bytes, its segments and transcripts, the extractor's code, and the recogniser."""
    h = hashlib.sha256(_code_key().encode())
    config = runtime_config(job.config)
    settings = {"face": config.face.model_dump(mode="json"), "asr": config.asr.model_dump(mode="json")}
    h.update(json.dumps([job.segments, job.texts, _asr_key(job.asr, job.config), settings]).encode())
    h.update(sha256_file(Path(job.path)).encode())
    return h.hexdigest()[:32]


@cache
def _face(config_path: str | None = None):
    """The face model with the runtime config's settings (threads, reuse of a still face's features)."""
    from edge_msa.features.face import FaceFeaturizer

    face = runtime_config(config_path).face
    return FaceFeaturizer(num_threads=face.threads, still_diff=face.still_diff, max_reuse_s=face.max_reuse_s)


@cache
def _asr(engine: str, config_path: str | None = None) -> ASREngine:
    """This process's recogniser, built once (a worker process loads its own Whisper model), with the
    runtime config's model, threads and pocketsphinx options. A model that fails to load makes the
    file bad with the reason, instead of every row silently losing its text."""
    from edge_msa.runtime.perception.asr import ASRError, engine_factory

    a = runtime_config(config_path).asr
    try:
        return engine_factory(engine, a.model, a.threads, **a.options)()
    except ASRError as e:
        raise UserError(str(e)) from None


def extract_job(job: FileJob) -> FileJob:
    """Fill `job.results` (or `job.error`), from the cache when the file and code are unchanged."""
    path = Path(job.path)
    job.error = media.file_problem(path)
    if job.error:
        return job
    cache = Path(job.cache_dir) / f"{file_key(job)}.npz" if job.cache_dir else None
    if cache is not None and cache.is_file():
        _load(job, cache)
        job.cached = True
        return job
    try:
        _extract(job)
    except UserError as e:
        job.error = str(e).replace(str(path), path.name)
    if cache is not None:
        _save(job, cache)
    return job


def _extract(job: FileJob) -> None:
    info = media.probe(job.path)
    if not info.has_audio:
        job.error = "no audio track"
        return
    if info.sample_rate < SAMPLE_RATE:
        job.error = f"audio at {info.sample_rate} Hz: the voice features need at least {SAMPLE_RATE} Hz"
        return
    chunks = list(media.iter_audio_chunks(job.path, SAMPLE_RATE))
    if not chunks:
        job.error = "the audio track holds no samples"
        return
    t0, samples = chunks[0][0], np.concatenate([c for _, c in chunks])
    file_end = t0 + len(samples) / SAMPLE_RATE
    job.media_s = len(samples) / SAMPLE_RATE
    a = LIVE.audio
    frames = AudioFeaturizer().offline(samples)
    times = t0 + np.arange(len(frames)) / a.rate_hz
    spans = [(start, file_end if end is None else end) for start, end in job.segments]
    problems = [media.span_problem(start, end, t0, file_end) for start, end in spans]
    usable = [end for (_, end), problem in zip(spans, problems, strict=True) if not problem]
    vision = _face_track(job.path, max(usable), job.config) if info.has_video and usable else None
    for (start, end), given, problem in zip(spans, job.texts, problems, strict=True):
        result = SegmentResult(start, end, error=problem)
        job.results.append(result)
        if problem:
            continue
        pcm = samples[max(0, round((start - t0) * SAMPLE_RATE)): max(0, round((end - t0) * SAMPLE_RATE))]
        if not has_signal(pcm):
            result.error = "silent audio (RMS below -80 dBFS) in the segment"
            continue
        result.audio, result.audio_mask = fill_window(times, frames, np.ones(len(times), bool), start, end,
                                                      a.rate_hz, a.max_len)
        if not result.audio_mask.any():  # shorter than a voice frame: the row would hold nothing
            result.error = f"no voice frame in the segment ({end - start:.3f} s long)"
            continue
        v = LIVE.vision
        if vision is not None:
            result.vision, result.vision_mask = fill_window(*vision, start, end, v.rate_hz, v.max_len)
            if not result.vision_mask.any():
                result.error = "no face found in the segment's video"
                continue
        else:  # an audio-only recording: vision absent, as the runtime masks it
            result.vision, result.vision_mask = np.zeros((v.max_len, v.dim), np.float32), \
                np.zeros(v.max_len, np.float32)
        if given is not None:
            result.text, result.text_source = given, GIVEN
        else:
            result.text, result.text_source = ("", NONE) if job.asr == NONE else \
                (_transcribe(pcm, job.asr, job.config), f"asr-{job.asr}")


def _face_track(path: str, until_s: float,
                config_path: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(times, face features, present) of the frames on the vision grid up to `until_s`, the face
    tracked from the first frame, as the runtime's vision thread does."""
    face = _face(config_path)
    face.reset()
    rate, dim = LIVE.vision.rate_hz, LIVE.vision.dim
    times, rows, present = [], [], []
    next_t = -np.inf
    for t, image in media.iter_video_frames(path):
        if t >= until_s:
            break
        if t < next_t:
            continue
        feat = face.process(image, t)
        times.append(t)
        rows.append(feat if feat is not None else np.zeros(dim, np.float32))
        present.append(feat is not None)
        next_t = next_sample_time(t, rate)
    return np.array(times, np.float64), np.array(rows, np.float32).reshape(-1, dim), np.array(present, bool)


def _transcribe(pcm: np.ndarray, engine: str, config_path: str | None = None) -> str:
    from edge_msa.runtime.perception.asr import ASRError, transcribe

    asr = _asr(engine, config_path)
    try:
        return transcribe(pcm, SAMPLE_RATE, asr)
    except ASRError:
        return ""  # no words: the row's text is masked, as the runtime masks a failed decode


# ---- cache: one .npz per file, written to a temporary name and renamed ----
ARRAYS = ("audio", "audio_mask", "vision", "vision_mask")


def _save(job: FileJob, path: Path) -> None:
    meta = {"error": job.error, "media_s": job.media_s,
            "results": [{"start_s": r.start_s, "end_s": r.end_s, "text": r.text, "text_source": r.text_source,
                         "error": r.error} for r in job.results]}
    arrays = {f"{k}_{i}": getattr(r, k) for i, r in enumerate(job.results) if not r.error for k in ARRAYS}
    buffer = io.BytesIO()
    np.savez(buffer, meta=np.array(json.dumps(meta)), **arrays)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{id(job)}.tmp")
    tmp.write_bytes(buffer.getvalue())
    tmp.replace(path)


def _load(job: FileJob, path: Path) -> None:
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        job.error, job.media_s = meta["error"], meta["media_s"]
        job.results = []
        for i, r in enumerate(meta["results"]):
            result = SegmentResult(**r)
            if not result.error:
                for k in ARRAYS:
                    setattr(result, k, z[f"{k}_{i}"])
            job.results.append(result)
