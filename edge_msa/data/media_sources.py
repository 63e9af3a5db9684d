"""Labelled recordings -> `Clip`s: a CSV/JSONL manifest, or a public corpus's own folder layout.

Manifest: CSV with a header, or JSON lines, one utterance per row:
    path,start_s,end_s,label[,text,speaker,split]
`path` is relative to the manifest's folder (or absolute); `start_s`/`end_s` in seconds, empty
for the start/end of the file; `label` a number (valence/sentiment) or an emotion name mapped by
`valence.yaml`; `text` the transcript (empty or absent: speech recognition makes one); `split`
train/valid/test (absent: by speaker). A malformed manifest is one UserError naming the line.

Corpus layouts (`--corpus NAME`, the path is the corpus folder):
- emodb: `SSaTTEv.wav` (speaker, sentence, emotion letter, take); EmoDB's fixed speaker split.
- crema-d: `AudioWAV/*.wav` and/or `VideoFlash/*.flv` named `AAAA_SSS_EMO_LV` (actor, sentence,
  emotion, level); with CREMA-D's `summaryTable.csv` (anywhere in the folder) the label is the
  crowd's majority (voice-only votes for a wav, audio-visual votes for a video; tied votes are
  left out), else the intended emotion.
- ravdess: `Actor_NN/MM-VC-EE-II-SS-RR-AA.(wav|mp4)`; video-only files (modality 02) are left out.
- meld: `{train,dev,test}_sent_emo.csv` and the `dia{D}_utt{U}.mp4` clips under a folder whose
  name starts with train / dev / (contains) test; label = Sentiment, text = Utterance, MELD's split.
- mosi / mosei: MMSA's raw layout, `label.csv` (video_id,clip_id,text,label,...,mode) and the
  segments as `{video_id}/{clip_id}.mp4` or `{video_id}_{clip_id}.mp4`; labels -3..3, corpus split.
Splits never put one speaker in two splits: rows without a split go by a hash of their speaker.
"""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import yaml

from edge_msa.errors import UserError
from edge_msa.user_files import jsonl_objects

SPLITS = ("train", "valid", "test")
SPLIT_NAMES = {"train": "train", "valid": "valid", "val": "valid", "dev": "valid", "test": "test"}
CORPORA = ("emodb", "crema-d", "ravdess", "meld", "mosi", "mosei")
MEDIA_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".m4a", ".mp4", ".mkv", ".webm", ".flv", ".avi", ".mov")
VALID_SHARE = TEST_SHARE = 0.15  # of the speakers, when the split goes by speaker


@dataclass(frozen=True)
class Clip:
    """One labelled utterance: a segment of a media file."""

    path: str
    start_s: float = 0.0
    end_s: float | None = None  # None: to the end of the file
    label: str = ""  # as given: a number or an emotion name ("" when unlabelled)
    text: str | None = None  # None: speech recognition makes the transcript
    speaker: str = ""
    split: str = ""  # "" until assigned

    @property
    def segment(self) -> tuple[float, float | None]:
        return self.start_s, self.end_s


# ---- labels ----
@cache
def valence_table() -> dict:
    """{"valence": {emotion: value or None}, "aliases": {name: emotion}} from valence.yaml."""
    return yaml.safe_load(resources.files("edge_msa.data").joinpath("valence.yaml").read_text())


def emotion_of(label: str) -> str | None:
    """The canonical emotion a label names, or None when it is not an emotion name."""
    table = valence_table()
    key = label.strip()
    name = table["aliases"].get(key) or table["aliases"].get(key.lower()) or key.lower()
    return name if name in table["valence"] else None


def label_values(labels: list[str]) -> tuple[list[float | None], str, str]:
    """(value per label, None for an emotion without valence), the label scale, what the labels were.

    Numbers are taken as they are: all within -1..1 is the "sims" scale, within -3..3 "mosi".
    Emotion names go through valence.yaml onto -1..1. Mixing names with numbers beyond -1..1, or
    a label that is neither, is a UserError.
    """
    values: list[float | None] = []
    numeric = named = 0
    for label in labels:
        try:
            values.append(float(label))
            numeric += 1
            continue
        except ValueError:
            pass
        emotion = emotion_of(label)
        if emotion is None:
            known = ", ".join(sorted(valence_table()["valence"]))
            raise UserError(f"label {label!r} is neither a number nor an emotion of valence.yaml ({known})")
        values.append(valence_table()["valence"][emotion])
        named += 1
    present = [abs(v) for v in values if v is not None]
    top = max(present, default=0.0)
    if top > 3:
        raise UserError(f"numeric labels reach {top:g}: expected valence/sentiment within -3..3")
    if top > 1 and named:
        raise UserError("labels mix emotion names (valence -1..1) with numbers beyond -1..1")
    kind = "emotion names via valence.yaml" if named and not numeric else \
        "numbers" if not named else "numbers and emotion names via valence.yaml"
    return values, ("mosi" if top > 1 else "sims"), kind


# ---- splits ----
def assign_splits(clips: list[Clip]) -> list[Clip]:
    """Every clip with a split: its own, else its speaker's (a hash of the name picks the speaker's
    split, VALID_SHARE and TEST_SHARE of the speakers; one or two speakers: train, then valid)."""
    from dataclasses import replace

    speakers = sorted({c.speaker for c in clips if not c.split},
                      key=lambda s: hashlib.sha256(s.encode()).hexdigest())
    n = len(speakers)
    n_valid = 0 if n < 2 else max(1, round(VALID_SHARE * n))
    n_test = 0 if n < 3 else max(1, round(TEST_SHARE * n))
    of = {s: "valid" if i < n_valid else "test" if i < n_valid + n_test else "train"
          for i, s in enumerate(speakers)}
    return [c if c.split else replace(c, split=of[c.speaker]) for c in clips]


def _split_name(value: str, where: str) -> str:
    if not value:
        return ""
    if value.lower() not in SPLIT_NAMES:
        raise UserError(f"{where}: split {value!r} is not one of train, valid (val, dev), test")
    return SPLIT_NAMES[value.lower()]


# ---- manifests ----
def read_manifest(path: str | Path, need_labels: bool = True) -> list[Clip]:
    """Clips of a CSV (header row) or JSONL manifest; see the module docstring for the columns."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no such manifest file: {path}")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a UTF-8 text manifest") from None
    records = jsonl_objects(path, text) if path.suffix in (".jsonl", ".json") else _csv_records(path, text)
    if not records:
        raise UserError(f"{path}: the manifest has no rows")
    need = ("path", "start_s", "end_s", "label") if need_labels else ("path",)
    clips = []
    for line, rec in records:
        where = f"{path}, line {line}"
        missing = [k for k in need if k not in rec]
        if missing:
            raise UserError(f"{where}: missing column(s) {', '.join(missing)} (need {', '.join(need)})")
        media = str(rec["path"] or "").strip()
        if not media:
            raise UserError(f"{where}: empty path")
        start, end = _seconds(rec.get("start_s"), where, 0.0), _seconds(rec.get("end_s"), where, None)
        if end is not None and end <= start:
            raise UserError(f"{where}: end_s {end:g} is not after start_s {start:g}")
        label = str(rec.get("label") or "").strip()
        if need_labels and not label:
            raise UserError(f"{where}: empty label")
        text = rec.get("text")
        clips.append(Clip(
            path=str(media if Path(media).is_absolute() else path.parent / media), start_s=start, end_s=end,
            label=label, text=None if text is None or str(text).strip() == "" else str(text).strip(),
            speaker=str(rec.get("speaker") or "").strip(),
            split=_split_name(str(rec.get("split") or "").strip(), where)))
    if need_labels:
        label_values([c.label for c in clips])  # an unknown label fails here, before any work
    return clips


def _csv_records(path: Path, text: str) -> list[tuple[int, dict]]:
    try:
        reader = csv.DictReader(text.splitlines())
        fields = reader.fieldnames or []
        if "path" not in fields:
            raise UserError(f"{path}: the CSV header {','.join(fields) or '(none)'} has no 'path' column "
                            "(expected path,start_s,end_s,label[,text,speaker,split])")
        out = []
        for row in reader:
            if None in row or any(v is None for v in row.values()):
                raise UserError(f"{path}, line {reader.line_num}: {len(fields)} columns expected")
            out.append((reader.line_num, row))
        return out
    except csv.Error as e:
        raise UserError(f"{path}: not a readable CSV manifest ({e})") from None


def _seconds(value, where: str, default: float | None) -> float | None:
    if value is None or str(value).strip() == "":
        return default
    try:
        seconds = float(value)
    except ValueError:
        raise UserError(f"{where}: {value!r} is not a time in seconds") from None
    if not seconds >= 0 or seconds == float("inf"):
        raise UserError(f"{where}: times must be finite and >= 0, got {value!r}")
    return seconds


def media_in_folder(folder: str | Path) -> list[Clip]:
    """Every media file under a folder, whole, unlabelled (for scoring an archive)."""
    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in MEDIA_SUFFIXES)
    if not files:
        raise UserError(f"no media files ({', '.join(MEDIA_SUFFIXES)}) under {folder}")
    return [Clip(str(p)) for p in files]


# ---- corpus layouts ----
def read_corpus(name: str, folder: str | Path) -> list[Clip]:
    """Clips of a public corpus in its own layout (see the module docstring)."""
    folder = Path(folder)
    if name not in CORPORA:
        raise UserError(f"unknown corpus {name!r}; expected one of {', '.join(CORPORA)}")
    if not folder.is_dir():
        raise UserError(f"--corpus {name} needs the corpus folder; {folder} is not a folder")
    readers = {"emodb": _emodb, "crema-d": _crema_d, "ravdess": _ravdess, "meld": _meld,
               "mosi": _mmsa_raw, "mosei": _mmsa_raw}
    clips = readers[name](folder)
    if not clips:
        raise UserError(f"no {name} recordings found in {folder}")
    return clips


def _emodb(folder: Path) -> list[Clip]:
    from edge_msa.data.emodb import FILE_NAME, split_files

    return [Clip(str(f), label=FILE_NAME.match(f.name)[3], speaker=FILE_NAME.match(f.name)[1], split=split)
            for split, files in split_files(folder).items() for f in files]


CREMA_NAME = re.compile(r"^(\d{4})_([A-Z]{3})_(ANG|DIS|FEA|HAP|NEU|SAD)_([A-Z]{2})$")
CREMA_VOTES = {"A": "anger", "D": "disgust", "F": "fear", "H": "happiness", "N": "neutral", "S": "sadness"}


def _crema_d(folder: Path) -> list[Clip]:
    votes = _crema_votes(folder)
    clips = []
    for f in sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".wav", ".flv", ".mp4")):
        m = CREMA_NAME.match(f.stem)
        if not m:
            continue
        label = m[3]
        if f.stem in votes:  # the crowd's majority: from voice alone for a wav, audio-visual else
            vote = votes[f.stem]["voice" if f.suffix.lower() == ".wav" else "av"]
            if vote not in CREMA_VOTES:  # a tie ("A:D") or an empty cell: no agreed label
                continue
            label = CREMA_VOTES[vote]
        clips.append(Clip(str(f), label=label, speaker=m[1]))
    return clips


def _crema_votes(folder: Path) -> dict[str, dict[str, str]]:
    """{clip name: {"voice", "av"}: majority letter} from CREMA-D's summaryTable.csv, if present."""
    table = next(iter(sorted(folder.rglob("summaryTable.csv"))), None)
    if table is None:
        return {}
    with table.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    if rows and not {"FileName", "VoiceVote", "MultiModalVote"} <= set(rows[0]):
        raise UserError(f"{table}: expected CREMA-D's columns FileName, VoiceVote, MultiModalVote")
    return {r["FileName"]: {"voice": r["VoiceVote"].strip(), "av": r["MultiModalVote"].strip()} for r in rows}


RAVDESS_NAME = re.compile(r"^(0[1-3])-(0[12])-(0[1-8])-(0[12])-(0[12])-(0[12])-(\d\d)$")
RAVDESS_EMOTIONS = ("neutral", "calm", "happiness", "sadness", "anger", "fear", "disgust", "surprise")


def _ravdess(folder: Path) -> list[Clip]:
    clips = []
    for f in sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".wav", ".mp4")):
        m = RAVDESS_NAME.match(f.stem)
        if m and m[1] != "02":  # 02: video-only copies of the audio-visual takes
            clips.append(Clip(str(f), label=RAVDESS_EMOTIONS[int(m[3]) - 1], speaker=m[7]))
    return clips


MELD_CLIP = re.compile(r"^dia(\d+)_utt(\d+)$")


def _meld_split_of(folder_name: str) -> str | None:
    name = folder_name.lower()
    return "train" if name.startswith("train") else "valid" if name.startswith("dev") else \
        "test" if "test" in name else None


def _meld(folder: Path) -> list[Clip]:
    videos: dict[tuple[str, str], Path] = {}
    for f in folder.rglob("dia*_utt*.mp4"):
        split = next((s for part in f.relative_to(folder).parts[:-1] if (s := _meld_split_of(part))), None)
        if split and MELD_CLIP.match(f.stem):
            videos[(split, f.stem)] = f
    clips = []
    for table in sorted(folder.rglob("*_sent_emo.csv")):
        split = _meld_split_of(table.name)
        with table.open(encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                video = videos.get((split, f"dia{row['Dialogue_ID']}_utt{row['Utterance_ID']}"))
                if video is not None:
                    clips.append(Clip(str(video), label=row["Sentiment"], text=row["Utterance"],
                                      speaker=row["Speaker"], split=split))
    return clips


def _mmsa_raw(folder: Path) -> list[Clip]:
    table = next(iter(sorted(folder.rglob("label.csv"))), None)
    if table is None:
        raise UserError(f"no label.csv (video_id,clip_id,text,label,...,mode) under {folder}")
    videos = {}
    for f in folder.rglob("*.mp4"):
        videos[f"{f.parent.name}/{f.stem}"] = videos[f.stem] = f
    clips = []
    with table.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            vid, cid = row["video_id"], row["clip_id"]
            video = videos.get(f"{vid}/{cid}") or videos.get(f"{vid}_{cid}")
            if video is not None:
                clips.append(Clip(str(video), label=row["label"], text=row["text"], speaker=vid,
                                  split=_split_name(row.get("mode", ""), str(table))))
    return clips
