"""EmoDB (Berlin emotional speech, CC0 via audeering) as audio-only MSAData with valence labels.

Ten actors speak ten emotionally neutral German sentences in seven emotions, so any sentiment a
model finds here comes from the voice. Files are `SSaTTEv.wav` (speaker, sentence, emotion letter,
take), read from `<path>/emodb/wav/` (or `<path>/wav/`, or `<path>` itself); this copy is
22,050 Hz, 2.00 s per file.

Labels: valence on the -1..1 scale (MSAData scale "sims"):
    happiness F -> +1;  neutral N -> 0;  anger W, disgust E, fear A, sadness T -> -1;
    boredom L -> -0.5.
Boredom is kept, at -0.5: circumplex models of affect (Russell 1980) put "bored" in the
unpleasant, low-arousal quadrant, milder than sad; keeping its 81 files (15 % of EmoDB) shows the
model a flat, low-energy voice that is neither neutral nor as negative as sadness, which live
users produce and which it must not call positive. The classes are unbalanced: 304 files at -1,
81 at -0.5, 79 at 0, 71 at +1.

Split by speaker, never by file (a model must not meet a test voice in training), fixed and
balanced by gender (m = 03 10 11 12 15, f = 08 09 13 14 16):
    train 03 10 11 (m) 08 09 13 (f);  valid 12 (m) 14 (f);  test 15 (m) 16 (f).
Files (at -1 / -0.5 / 0 / +1): train 304 (163/45/52/44), valid 104 (70/13/11/10), test 127
(71/23/16/17).
`seed` is accepted for the common loader signature; the split does not depend on it.

Audio: `audio:logmel-40-pitch-energy` frames from `edge_msa.features.audio` (the runtime's own
extractor, after FFmpeg resampling to 16 kHz like the runtime's file source), zero-padded or cut
to spec.audio.max_len with a mask. Text and vision are absent: one zero step with mask 0.
Extraction of all 535 files takes 10-40 s on a shared 2-core machine, so the unpadded frames are
cached in `$XDG_CACHE_HOME/edge-msa` (default ~/.cache/edge-msa) as a plain .npz, keyed by the
sha256 of the wav files, of the extractor's and decoder's source, and the PyAV version: any
change to the audio or to the feature code recomputes them.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import av
import numpy as np

from edge_msa.cache import cache_dir
from edge_msa.data import augment as augment_module
from edge_msa.data.batch import MSAData, padded_frames
from edge_msa.errors import UserError
from edge_msa.features import audio as audio_features
from edge_msa.features import media
from edge_msa.features.audio import KIND, SAMPLE_RATE, AudioFeaturizer
from edge_msa.features.media import read_audio
from edge_msa.features.spec import FeatureSpec

VALENCE = {"F": 1.0, "N": 0.0, "W": -1.0, "E": -1.0, "A": -1.0, "T": -1.0, "L": -0.5}
SPLITS = {"train": ("03", "10", "11", "08", "09", "13"), "valid": ("12", "14"), "test": ("15", "16")}
FILE_NAME = re.compile(r"^(\d\d)([ab]\d\d)([WLEAFTN])([a-z])\.wav$")


def find_wav_folder(path: str | Path) -> Path:
    """The folder holding the EmoDB wavs: `path/emodb/wav`, `path/wav` or `path`."""
    path = Path(path)
    for folder in (path / "emodb" / "wav", path / "wav", path):
        if folder.is_dir() and any(FILE_NAME.match(p.name) for p in folder.glob("*.wav")):
            return folder
    raise UserError(f"no EmoDB wav files (like 03a01Fa.wav) in {path}, {path}/wav or {path}/emodb/wav")


def split_files(path: str | Path) -> dict[str, list[Path]]:
    """The EmoDB wav files of each split (by speaker), sorted by name."""
    files = sorted(p for p in find_wav_folder(path).glob("*.wav") if FILE_NAME.match(p.name))
    return {split: [f for f in files if FILE_NAME.match(f.name)[1] in speakers]
            for split, speakers in SPLITS.items()}


def load_emodb(path: str | Path, spec: FeatureSpec, seed: int = 0) -> dict[str, MSAData]:
    """{"train", "valid", "test"} audio-only MSAData (see the module docstring for labels/split)."""
    del seed  # the split is fixed by speaker
    if spec.audio.kind != KIND:
        raise UserError(f"EmoDB audio is extracted as {KIND!r}; spec {spec.name!r} wants {spec.audio.kind!r}")
    splits = split_files(path)
    files = sorted(f for fs in splits.values() for f in fs)
    frames = dict(zip([f.name for f in files], _features(files), strict=True))
    return {split: _build(fs, frames, spec) for split, fs in splits.items()}


def load_emodb_augmented(path: str | Path, spec: FeatureSpec, copies: int, seed: int = 0) -> MSAData:
    """`copies` augmented versions (`edge_msa.data.augment`) of every training-speaker file, labelled
    like the originals; the validation and test speakers are never augmented."""
    if spec.audio.kind != KIND:
        raise UserError(f"EmoDB audio is extracted as {KIND!r}; spec {spec.name!r} wants {spec.audio.kind!r}")
    files = split_files(path)["train"]
    frames = _features(files, copies=copies, seed=seed)
    names = [f"{f.name}#{k}" for f in files for k in range(copies)]
    return _build([f for f in files for _ in range(copies)], dict(zip(names, frames, strict=True)), spec,
                  names)


def _features(files: list[Path], copies: int = 0, seed: int = 0) -> list[np.ndarray]:
    """[T_i, 42] frames per file (or per augmented copy: file 0 copy 0.., file 1 copy 0..), from the
    cache when the audio, the extractor and the augmentation are unchanged."""
    key = hashlib.sha256(f"{av.__version__}:{copies}:{seed}".encode())
    sources = (audio_features.__file__, media.__file__, *((augment_module.__file__,) if copies else ()))
    for source in (*sources, *files):
        key.update(Path(source).name.encode() + Path(source).read_bytes())
    tag = f"emodb-aug{copies}" if copies else "emodb"
    cache = cache_dir() / f"{tag}-{key.hexdigest()[:24]}.npz"
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as z:
            return np.split(z["frames"], np.cumsum(z["lengths"])[:-1])
    featurizer = AudioFeaturizer()
    if copies:
        rng = np.random.default_rng(seed)
        waves = [read_audio(f, SAMPLE_RATE) for f in files]
        out = [featurizer.offline(augment_module.augment(w, rng)) for w in waves for _ in range(copies)]
    else:
        out = [featurizer.offline(read_audio(f, SAMPLE_RATE)) for f in files]
    tmp = cache.with_suffix(".tmp.npz")  # write then rename: a crash never leaves a half file
    np.savez(tmp, frames=np.concatenate(out), lengths=np.array([len(x) for x in out]))
    tmp.replace(cache)
    return out


def _build(files: list[Path], frames: dict[str, np.ndarray], spec: FeatureSpec,
           keys: list[str] | None = None) -> MSAData:
    keys = keys or [f.name for f in files]
    n = len(files)
    audio, audio_mask = padded_frames([frames[k] for k in keys], spec.audio.max_len, spec.audio.dim)
    text_shape = (n, 1) if spec.text.is_tokens else (n, 1, spec.text.dim)
    return MSAData(
        text=np.zeros(text_shape, np.int64 if spec.text.is_tokens else np.float32),
        text_mask=np.zeros((n, 1), np.float32),
        audio=audio,
        audio_mask=audio_mask,
        vision=np.zeros((n, 1, spec.vision.dim), np.float32),
        vision_mask=np.zeros((n, 1), np.float32),
        labels=np.array([VALENCE[FILE_NAME.match(f.name)[3]] for f in files], np.float32),
        ids=[k.replace(".wav", "") for k in keys],
        scale="sims",
    )
