"""Labelled recordings -> `Clip`s: a CSV/JSONL manifest, or a public corpus's own folder layout.

Manifest: CSV with a header, or JSON lines, one utterance per row:
    path,start_s,end_s,label[,text,speaker,split,scale]
`path` is relative to the manifest's folder (or absolute); `start_s`/`end_s` in seconds, empty
for the start/end of the file; `label` a finite number (valence/sentiment) or an emotion name
mapped by `valence.yaml`; `text` the transcript, kept as written (empty or absent: speech
recognition makes one); `split` train/valid/test (absent: by speaker); `scale` sims (-1..1) or
mosi (-3..3), else inferred from the labels. In JSONL a value is a string (or a number for times,
labels and speakers), never a list or an object. A malformed manifest is one UserError naming the
line. The same file and times twice: `duplicate_rows` keeps the first and says why for the rest.

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
Splits never put one speaker in two splits: rows without a split go by a hash of their speaker (by
file when fewer than two speakers are named; see `assign_splits`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
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
LABEL_SCALES = {"sims": 1.0, "mosi": 3.0}  # the largest |label| of each scale
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
    scale: str = ""  # the label scale a manifest names ("" : inferred from the labels)
    line: int = 0  # where the row starts in its manifest (0: from a corpus layout)

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


def label_values(labels: list[str], scale: str | None = None) -> tuple[list[float | None], str, str]:
    """(value per label, None for an emotion without valence), the label scale, what the labels were.

    Numbers are taken as they are and must be finite: without a named `scale`, all within -1..1 is
    the "sims" scale, within -3..3 "mosi". Emotion names go through valence.yaml onto -1..1. Mixing
    names with numbers beyond -1..1, a label beyond its named scale, or a label that is neither a
    number nor an emotion is a UserError.
    """
    values: list[float | None] = []
    numeric = named = 0
    for label in labels:
        try:
            value = float(label)
        except ValueError:
            value = None
        if value is None:
            emotion = emotion_of(label)
            if emotion is None:
                known = ", ".join(sorted(valence_table()["valence"]))
                raise UserError(f"label {label!r} is neither a number nor an emotion of valence.yaml "
                                f"({known})")
            values.append(valence_table()["valence"][emotion])
            named += 1
            continue
        if not math.isfinite(value):
            raise UserError(f"label {label!r} is not a finite number")
        values.append(value)
        numeric += 1
    present = [abs(v) for v in values if v is not None]
    top = max(present, default=0.0)
    if top > LABEL_SCALES["mosi"]:
        raise UserError(f"numeric labels reach {top:g}: expected valence/sentiment within -3..3")
    if top > 1 and named:
        raise UserError("labels mix emotion names (valence -1..1) with numbers beyond -1..1")
    if scale is not None and top > LABEL_SCALES[scale]:
        raise UserError(f"labels reach {top:g}, beyond the {scale} scale the manifest names "
                        f"(-{LABEL_SCALES[scale]:g}..{LABEL_SCALES[scale]:g})")
    if scale == "mosi" and named:
        raise UserError("emotion names map onto valence -1..1 (scale sims); scale mosi needs numeric labels")
    kind = "emotion names via valence.yaml" if named and not numeric else \
        "numbers" if not named else "numbers and emotion names via valence.yaml"
    return values, scale or ("mosi" if top > 1 else "sims"), kind


# ---- splits ----
def assign_splits(clips: list[Clip]) -> tuple[list[Clip], str]:
    """Every clip with a split, and what the missing splits went by ("manifest" when none was missing).

    A clip keeps its own split. The others go by speaker when they name two or more: a hash of the
    name picks the speaker's split (VALID_SHARE and TEST_SHARE of the speakers; two speakers: train
    and valid), so no speaker is in two splits. With fewer speakers (no speaker column, or one
    person's own recordings) they go by file, the same way, so the rows of one file stay together
    and a validation split exists as soon as there are two files."""
    from dataclasses import replace

    unsplit = [c for c in clips if not c.split]
    if not unsplit:
        return clips, "manifest"
    by = "speaker" if len({c.speaker for c in unsplit} - {""}) >= 2 else "file"
    group = (lambda c: c.speaker) if by == "speaker" else (lambda c: c.path)
    groups = sorted({group(c) for c in unsplit}, key=lambda g: hashlib.sha256(g.encode()).hexdigest())
    n = len(groups)
    n_valid = 0 if n < 2 else max(1, round(VALID_SHARE * n))
    n_test = 0 if n < 3 else max(1, round(TEST_SHARE * n))
    of = {g: "valid" if i < n_valid else "test" if i < n_valid + n_test else "train"
          for i, g in enumerate(groups)}
    return [c if c.split else replace(c, split=of[group(c)]) for c in clips], by


def _split_name(value: str, where: str) -> str:
    if not value:
        return ""
    if value.lower() not in SPLIT_NAMES:
        raise UserError(f"{where}: split {value!r} is not one of train, valid (val, dev), test")
    return SPLIT_NAMES[value.lower()]


# ---- manifests ----


def read_manifest(path: str | Path, need_labels: bool = True) -> list[Clip]:
    """Clips of a CSV (header row) or JSONL manifest; see the module docstring for the columns.

    CSV is parsed by the csv module's own rules (a quoted cell keeps its line breaks), JSONL one
    object per '\\n'-terminated line (U+2028 inside a string is text, not a line break)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no such manifest file: {path}")
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            text = f.read()
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a UTF-8 text manifest") from None
    jsonl = path.suffix.lower() in (".jsonl", ".json")
    records = jsonl_objects(path, text) if jsonl else _csv_records(path, text)
    if not records:
        raise UserError(f"{path}: the manifest has no rows")
    need = ("path", "start_s", "end_s", "label") if need_labels else ("path",)
    clips = [_clip(rec, f"{path}, line {line}", path.parent, line, need) for line, rec in records]
    scales = sorted({c.scale for c in clips} - {""})
    if len(scales) > 1:
        raise UserError(f"{path}: the scale column names {' and '.join(scales)}; a manifest has one scale")
    if need_labels:  # an unknown label fails here, before any work
        label_values([c.label for c in clips], scales[0] if scales else None)
    return clips


def _clip(rec: dict, where: str, folder: Path, line: int, need: tuple[str, ...]) -> Clip:
    missing = [k for k in need if k not in rec]
    if missing:
        raise UserError(f"{where}: missing column(s) {', '.join(missing)} (need {', '.join(need)})")
    # a path is used as written: only the spaces typed after a comma go (never a line break)
    media = _cell(rec, "path", where, numbers=False).strip(" \t")
    if not media:
        raise UserError(f"{where}: empty path")
    if "\0" in media:
        raise UserError(f"{where}: the path holds a NUL character")
    start, end = _seconds(rec, "start_s", where, 0.0), _seconds(rec, "end_s", where, None)
    if end is not None and end <= start:
        raise UserError(f"{where}: end_s {end:g} is not after start_s {start:g}")
    label = _cell(rec, "label", where).strip()
    if "label" in need and not label:
        raise UserError(f"{where}: empty label")
    text = _cell(rec, "text", where, numbers=False)  # kept as written: line breaks are part of it
    scale = _cell(rec, "scale", where, numbers=False).strip().lower()
    if scale and scale not in LABEL_SCALES:
        raise UserError(f"{where}: scale {scale!r} is not one of {', '.join(LABEL_SCALES)}")
    return Clip(path=str(media if Path(media).is_absolute() else folder / media), start_s=start, end_s=end,
                label=label, text=text if text.strip() else None,
                speaker=_cell(rec, "speaker", where).strip(),
                split=_split_name(_cell(rec, "split", where, numbers=False).strip(), where), scale=scale,
                line=line)


JSON_KINDS = {list: "a list", dict: "an object", bool: "true/false"}


def _cell(rec: dict, key: str, where: str, numbers: bool = True) -> str:
    """A column's text. CSV cells are text; a JSON value must be a string (or, where `numbers`, a
    number), never a list, an object or true/false."""
    value = rec.get(key)
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if numbers and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    kind = JSON_KINDS.get(type(value), type(value).__name__)
    raise UserError(f"{where}: {key} must be {'a string or a number' if numbers else 'a string'}, "
                    f"got {kind} ({_short(value)})")


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _csv_records(path: Path, text: str) -> list[tuple[int, dict]]:
    """(line where the row starts, {column: cell}) per row; a row may span lines (quoted line breaks)."""
    rows = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip() for name in next(rows, [])]
        if "path" not in header:
            shown = _short(",".join(header)) if header else "(none)"
            raise UserError(f"{path}: the CSV header {shown} has no 'path' column "
                            "(expected path,start_s,end_s,label[,text,speaker,split,scale])")
        twice = sorted({name for name in header if header.count(name) > 1})
        if twice:
            raise UserError(f"{path}: column(s) {_short(twice)} appear twice in the CSV header")
        out, end = [], rows.line_num
        for cells in rows:
            start, end = end + 1, rows.line_num
            if not cells:
                continue  # a blank line
            if len(cells) != len(header):
                raise UserError(f"{path}, line {start}: {len(header)} columns expected, got {len(cells)}")
            out.append((start, dict(zip(header, cells, strict=True))))
        return out
    except csv.Error as e:
        raise UserError(f"{path}, line {rows.line_num}: not a readable CSV manifest ({e})") from None


def _seconds(rec: dict, key: str, where: str, default: float | None) -> float | None:
    value = _cell(rec, key, where).strip()
    if value == "":
        return default
    try:
        seconds = float(value)
    except ValueError:
        raise UserError(f"{where}: {key} {_short(value)} is not a time in seconds") from None
    if not 0 <= seconds < float("inf"):
        raise UserError(f"{where}: {key} must be a finite time >= 0 in seconds, got {_short(value)}")
    return seconds


def duplicate_rows(clips: list[Clip]) -> tuple[list[Clip], list[tuple[Clip, str]]]:
    """(the clips with each (file, start, end) once, [(a later copy, why it is left out)])."""
    first: dict[tuple, Clip] = {}
    unique, repeats = [], []
    for c in clips:
        key = (Path(c.path).resolve(), c.start_s, c.end_s)
        if key in first:
            seen = first[key]
            where = f"line {seen.line}" if seen.line else "an earlier row"
            repeats.append((c, f"duplicate of {where} (same file and times; label {seen.label!r} kept)"))
        else:
            first[key] = c
            unique.append(c)
    return unique, repeats


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
